"""The simulator's report side by side: rows for a table, CSV, JSON, and a self-contained HTML page with SVG charts.

The HTML has no script, no style sheet and no external reference (SVG presentation attributes only), so it is safe
under the web's Content-Security-Policy and opens from a file. Labels are bilingual, zh first, as the CLI's are.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from html import escape

from workflow.simulation.report import ProfileReport

# One label per headline figure (ProfileReport.summary's keys), zh first.
LABELS: dict[str, str] = {
    "shipments": "货物批次 shipments",
    "applications": "审批申请 applications filed",
    "paper": "纸质审批 paper",
    "paperless": "无纸化审批 paperless",
    "first_time": "首次申请 first-time",
    "assessments_local": "直属海关风险评估 local risk assessments",
    "assessments_hq": "总署风险评估 headquarters risk assessments",
    "assessments_reused": "沿用评估 assessments reused (R63)",
    "assessment_days_p50": "评估用时中位数（工作日） assessment working days p50",
    "port_inspections": "口岸查验 port inspections",
    "clearance_days_p50": "申请至首次放行 p50（工作日） application to first clearance p50",
    "clearance_days_p95": "申请至首次放行 p95（工作日） application to first clearance p95",
    "release_days_p50": "到货至放行 p50（工作日） shipment arrival to release p50",
    "release_days_p95": "到货至放行 p95（工作日） shipment arrival to release p95",
    "certificates": "审批单 certificates",
    "write_offs": "核销 write-offs",
    "write_offs_per_certificate": "每单核销次数 write-offs per certificate",
    "pathogen_applications": "指明实验室的申请 applications naming a user lab (R14)",
    "lab_corrections": "实验室等级不符补正 lab below level, corrected (R62)",
    "credit_downgrades": "信用降级/失信认定 credit downgrades and discredits (R72)",
    "credit_restorations": "信用修复 credit restorations (R69, R71)",
    "officer_actions": "关员操作 officer actions",
    "failures": "失败步骤 failed steps",
    "seconds": "运行秒数 seconds to simulate",
}
# Credit tiers by name, never by code (R69–R71; the catalog's wording in web/ui).
TIERS: dict[str, str] = {
    "advanced_certified": "高级认证 advanced certified",
    "general_certified": "一般认证 general certified",
    "certified": "认证 certified",
    "general": "一般信用 general",
    "regular": "常规 regular",
    "discredited": "失信 discredited",
    "seriously_discredited": "严重失信 seriously discredited",
}
# Kinds of credit change by name (R72, R73).
CHANGE_KINDS: dict[str, str] = {
    "downgrade": "降级 downgrade",
    "discredit": "失信认定 discredit",
    "restoration": "信用修复 restoration",
    "certification": "认证 certification",
}
CHARTS = ("applications", "port_inspections", "officer_actions", "release_days_p95")
_BAR_COLOURS = ("#8c564b", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e")


def rows(reports: Sequence[ProfileReport]) -> list[tuple[str, list[str]]]:
    """(label, one value per profile) for every headline figure, then the officer actions of each role."""
    summaries = [report.summary() for report in reports]
    table = [(LABELS[key], [_text(summary[key]) for summary in summaries]) for key in LABELS]
    roles = sorted({role for report in reports for role in report.actions_by_role})
    table += [
        (f"操作 actions: {role}", [str(report.actions_by_role.get(role, 0)) for report in reports]) for role in roles
    ]
    return table


def to_csv(reports: Sequence[ProfileReport]) -> str:
    """One row per profile, one column per headline figure and per role's actions."""
    roles = sorted({role for report in reports for role in report.actions_by_role})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["profile", *LABELS, *(f"actions_{role}" for role in roles)])
    for report in reports:
        summary = report.summary()
        writer.writerow(
            [report.profile, *(_text(summary[key]) for key in LABELS)]
            + [report.actions_by_role.get(role, 0) for role in roles]
        )
    return out.getvalue()


def to_json(reports: Sequence[ProfileReport], meta: dict[str, object]) -> str:
    """Everything the report holds, by profile: headline figures, assessments, inspections, actions, failures."""
    document = {
        "meta": meta,
        "profiles": [
            {
                "profile": report.profile,
                "summary": report.summary(),
                "assessments": [vars(figures) for figures in report.assessments],
                "inspections": [vars(figures) for figures in report.inspections],
                "credit_changes": [vars(figures) for figures in report.credit_changes],
                "actions_by_role": report.actions_by_role,
                "failures": list(report.failures),
            }
            for report in reports
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2, default=str)


def to_html(reports: Sequence[ProfileReport], title: str) -> str:
    """A whole page: the side-by-side table, the inspections by grade and tier, and one bar chart per key figure."""
    profiles = [report.profile for report in reports]
    head = "".join(f"<th>{escape(profile)}</th>" for profile in profiles)
    body = "".join(
        f"<tr><th>{escape(label)}</th>{''.join(f'<td>{escape(value)}</td>' for value in values)}</tr>"
        for label, values in rows(reports)
    )
    charts = "".join(bar_chart(LABELS[key], profiles, [_number(r.summary()[key]) for r in reports]) for key in CHARTS)
    return (
        '<!DOCTYPE html>\n<html lang="zh-Hans"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<table border="1"><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>'
        f"<h2>口岸查验（按等级与信用） port inspections by grade and credit tier</h2>{_inspections(reports)}"
        f"<h2>信用变更前后的查验 port inspections before and from a credit change</h2>{_credit_changes(reports)}"
        f"<h2>图表 charts</h2>{charts}</body></html>\n"
    )


def bar_chart(label: str, names: Sequence[str], values: Sequence[float]) -> str:
    """A horizontal bar per profile, scaled to the largest value; text is the value itself, so no axis is needed."""
    width, bar_height, left = 560, 26, 140
    top = max(values, default=0) or 1
    height = bar_height * len(values) + 34
    bars = []
    for index, (name, value) in enumerate(zip(names, values, strict=True)):
        y = 28 + index * bar_height
        length = (width - left - 60) * value / top
        colour = _BAR_COLOURS[index % len(_BAR_COLOURS)]
        bars.append(
            f'<text x="0" y="{y + 15}" font-size="12">{escape(name)}</text>'
            f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{bar_height - 6}" fill="{colour}"/>'
            f'<text x="{left + length + 4:.1f}" y="{y + 15}" font-size="12">{_text(value)}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img"'
        f' aria-label="{escape(label)}"><text x="0" y="16" font-size="14" font-weight="bold">{escape(label)}</text>'
        f"{''.join(bars)}</svg>"
    )


def _inspections(reports: Sequence[ProfileReport]) -> str:
    names = ("profile", "等级 grade", "信用 tier", "报关 declarations", "查验 inspected")
    head = f"<tr>{''.join(f'<th>{name}</th>' for name in names)}</tr>"
    cells = [
        (report.profile, figures.grade, TIERS.get(figures.tier, figures.tier), figures.declarations, figures.inspected)
        for report in reports
        for figures in report.inspections
    ]
    body = "".join(f"<tr>{''.join(f'<td>{escape(str(cell))}</td>' for cell in row)}</tr>" for row in cells)
    return f'<table border="1"><thead>{head}</thead><tbody>{body}</tbody></table>'


CHANGE_COLUMNS = (
    "profile",
    "变更 change",
    "原信用 from",
    "新信用 to",
    "次数 changes",
    "变更前报关 declarations before",
    "变更前查验 inspected before",
    "变更后报关 declarations from",
    "变更后查验 inspected from",
)


def credit_change_rows(reports: Sequence[ProfileReport]) -> list[list[str]]:
    """Per profile and kind of change: the changed enterprises' declarations and inspections either side of it."""
    return [
        [
            str(cell)
            for cell in (
                report.profile,
                CHANGE_KINDS.get(f.kind, f.kind),
                TIERS.get(f.from_tier, f.from_tier),
                TIERS.get(f.to_tier, f.to_tier),
                f.changes,
                f.declarations_before,
                f.inspected_before,
                f.declarations_after,
                f.inspected_after,
            )
        ]
        for report in reports
        for f in report.credit_changes
    ]


def _credit_changes(reports: Sequence[ProfileReport]) -> str:
    head = f"<tr>{''.join(f'<th>{escape(name)}</th>' for name in CHANGE_COLUMNS)}</tr>"
    body = "".join(
        f"<tr>{''.join(f'<td>{escape(cell)}</td>' for cell in row)}</tr>" for row in credit_change_rows(reports)
    )
    return f'<table border="1"><thead>{head}</thead><tbody>{body}</tbody></table>'


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0
