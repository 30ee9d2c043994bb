"""The auditor's page shows the latest report `specgoods simulate` wrote, in the reader's language."""

from __future__ import annotations

from tests.ui.conftest import Pages
from workflow.simulation.render import to_json
from workflow.simulation.report import AssessmentFigures, CreditChangeFigures, InspectionFigures, ProfileReport

PAGE = "/ui/audit/simulation/"


def report(profile: str, applications: int) -> ProfileReport:
    return ProfileReport(
        profile=profile,
        shipments=600,
        applications=applications,
        paperless=applications // 3,
        first_time=13,
        certificates=applications,
        write_offs=600,
        clearance_days=(4, 9, 10, 26),
        release_days=(0, 0, 3, 12),
        assessments=(AssessmentFigures("direct_customs", 20, 5, 4, 5),),
        inspections=(InspectionFigures("A", "general", 56, 56),),
        actions_by_role={"acceptor": applications, "reviewer": applications},
        lab_corrections=7,
        credit_changes=(CreditChangeFigures("downgrade", "advanced_certified", "regular", 1, 35, 4, 39, 8),),
    )


def test_the_page_says_how_to_make_a_report_before_any_was_written(pages: Pages) -> None:
    pages.sign_in("xiamen.auditor")
    page = pages.text(PAGE)
    assert 'id="no-simulation"' in page and "specgoods simulate" in page and 'id="simulation"' not in page


def test_the_page_shows_the_latest_report_side_by_side_with_charts(pages: Pages) -> None:
    folder = pages.container.settings.simulation_report_dir
    folder.mkdir(parents=True)
    meta = {"district": "xiamen", "year": 2026, "seed": 7, "enterprises": 21, "written_at": "2026-12-06T09:00:00+00:00"}
    (folder / "report.json").write_text(to_json([report("legacy-2015", 600), report("xiamen-2016", 134)], meta))
    pages.sign_in("xiamen.head")
    page = pages.text(PAGE)
    assert 'id="simulation"' in page and "legacy-2015" in page and "xiamen-2016" in page
    assert "审批申请数" in page and "厦门海关" in page and "<svg" in page
    assert ">600<" in page and ">134<" in page


def test_an_applicant_may_not_see_the_simulation(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    assert pages.client.get(PAGE).status_code == 403


def test_the_page_shows_r62_corrections_and_inspections_either_side_of_a_credit_change_in_words(pages: Pages) -> None:
    folder = pages.container.settings.simulation_report_dir
    folder.mkdir(parents=True)
    meta = {"district": "xiamen", "year": 2026, "seed": 7, "enterprises": 21, "written_at": "2026-12-06T09:00:00+00:00"}
    (folder / "report.json").write_text(to_json([report("gacc-2026", 134)], meta))
    pages.sign_in("xiamen.auditor")
    page = pages.text(PAGE)
    assert "因实验室等级低于物品要求而补正（R62）" in page and ">7<" in page
    changes = page.split('id="simulation-credit-changes"', 1)[1].split("</table>", 1)[0]
    assert "信用变更前后的口岸查验" in page and ">39<" in changes and ">8<" in changes
    assert "advanced_certified" not in changes and "downgrade" not in changes  # tiers and kinds in words, never codes
