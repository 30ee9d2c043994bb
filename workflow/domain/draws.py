"""E2/E4: the inspection draw — a district's secret period key, committed to before use and revealed after.

Pure: what a draw is, when a period's key may be shown, how a withdrawn declaration's pending inspection passes
to the next declaration of its certificate line, and how an auditor recomputes every draw of a closed period.
docs/inspection-draw.md explains why no filer can steer it.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from workflow.domain.errors import InvalidInput

DRAW_SCHEME = "hmac-sha256/v1"
KEY_BYTES = 32
DRAW_DENOMINATOR = 2**64
DRAW_PLACES = Decimal("0.000001")
_PERIOD = re.compile(r"^(2\d{3})-(0[1-9]|1[0-2])$")  # years 2000–2999: every date of them is a Python date


# -- periods --------------------------------------------------------------------------------------------------------


def period_of(day: date) -> str:
    """The key period a day falls in: its calendar month, in the district's local date."""
    return f"{day.year:04d}-{day.month:02d}"


def parse_period(text: str) -> str:
    """A period as `YYYY-MM`, or InvalidInput naming the field."""
    if not _PERIOD.match(text):
        raise InvalidInput(f"a period is written YYYY-MM, not {text!r}", field="period")
    return text


def last_day(period: str) -> date:
    year, month = (int(part) for part in parse_period(period).split("-"))
    return date(year, month, calendar.monthrange(year, month)[1])


def next_period(period: str) -> str:
    return period_of(last_day(period) + timedelta(days=1))


def is_closed(period: str, today: date) -> bool:
    """A period's key is revealed only once no declaration can be drawn under it any more."""
    return today > last_day(period)


# -- the draw -------------------------------------------------------------------------------------------------------


def commitment(key: bytes) -> str:
    """The SHA-256 of a period key: published before the key is used, checked against it once revealed."""
    return hashlib.sha256(key).hexdigest()


def draw_message(district: str, period: str, certificate_no: str, declaration_no: str) -> bytes:
    """What is drawn on: the certificate and the declaration number, bound to the district and period of the key.

    A declaration number is unique per enterprise and a certificate belongs to one enterprise, so the pair is drawn
    once in the whole system (replays return the first route): one enterprise's outcome under a number says nothing
    about another's declaration under the same number.
    """
    return "\n".join((DRAW_SCHEME, district, period, certificate_no, declaration_no)).encode("utf-8")


def inspection_draw(key: bytes, district: str, period: str, certificate_no: str, declaration_no: str) -> Decimal:
    """E2: a draw in [0, 1) nobody can compute before the period's key is revealed, and anyone can after."""
    digest = hmac.new(key, draw_message(district, period, certificate_no, declaration_no), hashlib.sha256).digest()
    value = Decimal(int.from_bytes(digest[:8], "big")) / DRAW_DENOMINATOR
    return value.quantize(DRAW_PLACES, rounding="ROUND_DOWN")


def is_inspected(rate: Decimal, draw: Decimal) -> bool:
    """E1/E2: inspect when the draw falls below the rate, so a rate of 1 always inspects and 0 never does."""
    return draw < rate


@dataclass(frozen=True)
class PeriodKey:
    """One district's key for one period: its commitment always, the key itself only when the reader may see it."""

    district: str
    period: str
    commitment: str
    key: bytes | None = None

    def secret(self) -> bytes:
        """The key itself, for drawing; a reader that only loaded the commitment has none to give."""
        if self.key is None:
            raise ValueError(f"the draw key of {self.district} for {self.period} is not loaded")
        return self.key

    def published(self, today: date) -> dict[str, Any]:
        """What anyone may read: the commitment, and the key once the period has closed."""
        shown = self.key is not None and is_closed(self.period, today)
        return {
            "district": self.district,
            "period": self.period,
            "commitment": self.commitment,
            "closed": is_closed(self.period, today),
            "key": self.key.hex() if shown and self.key is not None else None,
        }


# -- E4: a withdrawn inspection is inherited ------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingInspection:
    """A declaration drawn for inspection and withdrawn before it: what it held on one certificate line."""

    id: int
    declaration_no: str
    line_id: int
    qty: Decimal
    carried: Decimal
    withdrawn_on: date


def inherited(
    pending: Iterable[PendingInspection], drawn: Mapping[int, Decimal], today: date, window_days: int
) -> list[tuple[PendingInspection, Decimal]]:
    """E4: the pending inspections a declaration drawing `drawn` (line id → qty) takes on, with the qty it carries.

    Oldest first; a pending inspection stays open until the declarations that inherit it have carried the whole
    withdrawn quantity, so splitting the goods into a small inspected part and a large released one does not work.
    """
    left = dict(drawn)
    taken = []
    for item in sorted(pending, key=lambda p: (p.withdrawn_on, p.id)):
        if item.line_id not in left or item.carried >= item.qty or today - item.withdrawn_on > timedelta(window_days):
            continue
        carry = min(left[item.line_id], item.qty - item.carried)
        if carry > 0:
            left[item.line_id] -= carry
            taken.append((item, carry))
    return taken


# -- the auditor's recomputation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedDraw:
    """A route as the audit chain recorded it, and the route the declaration row holds now."""

    declaration_no: str
    event_id: int
    route: Mapping[str, Any]
    stored_route: Mapping[str, Any] | None


@dataclass(frozen=True)
class DrawFinding:
    declaration_no: str
    kind: str  # key | commitment | draw | outcome | stored_route
    detail: str


@dataclass(frozen=True)
class DrawAudit:
    district: str
    period: str
    commitment: str
    key: str
    draws: int
    inspected: int
    findings: tuple[DrawFinding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "district": self.district,
            "period": self.period,
            "commitment": self.commitment,
            "key": self.key,
            "draws": self.draws,
            "inspected": self.inspected,
            "findings": [finding.__dict__ for finding in self.findings],
        }


def audit_period(period_key: PeriodKey, recorded: Sequence[RecordedDraw]) -> DrawAudit:
    """Check the revealed key against its commitment, then recompute every recorded draw of the period from it."""
    key = period_key.key or b""
    findings: list[DrawFinding] = []
    if commitment(key) != period_key.commitment:
        findings.append(DrawFinding("", "key", "the revealed key does not hash to the published commitment"))
    for draw in recorded:
        findings += _draw_findings(period_key, key, draw)
    return DrawAudit(
        period_key.district,
        period_key.period,
        period_key.commitment,
        key.hex(),
        len(recorded),
        sum(1 for draw in recorded if draw.route.get("inspected") is True),
        tuple(findings),
    )


def _draw_findings(period_key: PeriodKey, key: bytes, recorded: RecordedDraw) -> list[DrawFinding]:
    route, number = recorded.route, recorded.declaration_no
    found = []
    if route.get("draw_commitment") != period_key.commitment:
        found.append(DrawFinding(number, "commitment", "the route names another commitment than the period's"))
    certificate_no = str(route.get("certificate_no", ""))
    recomputed = inspection_draw(key, period_key.district, period_key.period, certificate_no, number)
    if str(recomputed) != route.get("draw"):
        found.append(DrawFinding(number, "draw", f"recorded {route.get('draw')}, recomputed {recomputed}"))
    expected = bool(route.get("inherited_from")) or is_inspected(Decimal(str(route.get("rate"))), recomputed)
    if route.get("inspected") is not expected:
        found.append(DrawFinding(number, "outcome", f"recorded inspected={route.get('inspected')}, due {expected}"))
    if recorded.stored_route is not None and _drawn_facts(recorded.stored_route) != _drawn_facts(route):
        found.append(DrawFinding(number, "stored_route", "the declaration's route differs from the audited one"))
    return found


def _drawn_facts(route: Mapping[str, Any]) -> tuple[Any, ...]:
    keys = ("rate", "draw", "inspected", "draw_period", "draw_commitment", "inherited_from")
    return tuple(route.get(name) for name in keys)
