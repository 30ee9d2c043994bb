"""The dashboard's counts per district: applications per state, certificates paperless or not, and counts by day.

By day (the district's local date): the certificates issued, and the decisions with their working days and lateness.

A change appends +1/−1 deltas in its own transaction and never updates a shared row, so a district's writers do not
queue behind one counter; a sweep folds the deltas into `district_counts`, and a read adds the few deltas not folded
yet to the folded totals in one statement (one snapshot), so it costs the same at ten thousand files as at a million.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, String, and_, delete, func, insert, literal, or_, select, text, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from workflow.domain.calendar import WorkingCalendar
from workflow.domain.clock import StatutoryClock
from workflow.domain.errors import DomainError
from workflow.domain.model import TransitionRecord
from workflow.store.codec import clock_from_json
from workflow.store.tables import (
    DECISION_EVENTS,
    ApplicationRow,
    AuditEventRow,
    DistrictCountDeltaRow,
    DistrictCountRow,
)

STATE_PREFIX = "application."  # "application.<state>": how many of the district's applications are in that state
PAPERLESS, PAPER = "certificate.paperless", "certificate.paper"
# Counts by day: "<family><YYYY-MM-DD>.<what>", so a period's counts are one index range of (district, counter).
DECIDED, ISSUED = "decided.", "issued."  # decided.<day>.<working days, 2 digits> and .late; issued.<day>.paper[less]
# Each count by day is kept by month too ("decidedm.<YYYY-MM>.<what>"), so a year reads twelve months and a few days.
# "m" sorts after ".", so no range of days ever takes in a month's count.
MONTHLY = {DECIDED: "decidedm.", ISSUED: "issuedm."}
LATE, DAYS_CAP = "late", 99  # a decision after its statutory due date; longer waits are counted as 99 working days
PENDING_DELTAS = "specgoods_count_deltas"  # in the session's info until the unit of work commits
FOLD_BATCH = 10_000  # deltas folded per statement: a fold's transaction stays short however far behind it is
FOLD_LOCK = 0x5C0_0C75  # PostgreSQL advisory lock: one fold at a time (another one returns at once)

# The counts recomputed from the rows themselves: the backfill (migrations 0015 and 0019, bench/pages.py) and the
# tests' check. A certificate is issued on its `valid_from`, the district's date of the grant (R37). The decisions'
# counts need the holiday calendar, so they are recomputed in Python (`recount_decisions`).
ISSUED_RECOUNT = (
    "SELECT district, 'issued.' || valid_from || CASE WHEN paperless THEN '.paperless' ELSE '.paper' END AS counter, "
    "COUNT(*) AS value FROM certificates GROUP BY district, valid_from, paperless UNION ALL "
    "SELECT district, 'issuedm.' || substr(CAST(valid_from AS TEXT), 1, 7) || "
    "CASE WHEN paperless THEN '.paperless' ELSE '.paper' END, COUNT(*) FROM certificates "
    "GROUP BY district, substr(CAST(valid_from AS TEXT), 1, 7), paperless"
)
RECOUNT = (
    "SELECT district, 'application.' || state AS counter, COUNT(*) AS value FROM applications GROUP BY district, state "
    "UNION ALL SELECT district, CASE WHEN paperless THEN 'certificate.paperless' ELSE 'certificate.paper' END, "
    f"COUNT(*) FROM certificates GROUP BY district, paperless UNION ALL {ISSUED_RECOUNT}"
)


def state_counter(state: str) -> str:
    return STATE_PREFIX + state


def count_new_application(session: Session, district: str, state: str) -> None:
    _append(session, district, {state_counter(state): 1})


def count_moves(session: Session, district: str, records: Sequence[TransitionRecord]) -> None:
    """Each state change of a saved application moves one count from the state it left to the one it entered."""
    moves: Counter[str] = Counter()
    for record in records:
        if record.from_state != record.to_state:
            moves[state_counter(record.from_state)] -= 1
            moves[state_counter(record.to_state)] += 1
    _append(session, district, moves)


def count_new_certificate(session: Session, district: str, paperless: bool, issued_on: date) -> None:
    kind = "paperless" if paperless else "paper"
    _append(session, district, {PAPERLESS if paperless else PAPER: 1, **_by_day(ISSUED, issued_on, {kind: 1})})


def _by_day(family: str, day: date, kinds: dict[str, int]) -> dict[str, int]:
    """The counters of one day's kinds, each kept under its day and under its month."""
    return {
        counter: n
        for kind, n in kinds.items()
        for counter in (f"{family}{day.isoformat()}.{kind}", f"{MONTHLY[family]}{day:%Y-%m}.{kind}")
    }


def count_decision(session: Session, district: str, figures: tuple[date, int, bool] | None) -> None:
    """A grant or denial on its day, with its working days from receipt and whether it came by the due date."""
    if figures is not None:
        _append(session, district, _decision_deltas(*figures))


def _decision_deltas(day: date, working_days: int, on_time: bool) -> dict[str, int]:
    return _by_day(DECIDED, day, {f"{min(working_days, DAYS_CAP):02d}": 1, LATE: 0 if on_time else 1})


def decision_figures(
    calendar: WorkingCalendar, received_on: date | None, clock: StatutoryClock | None, decided_on: date
) -> tuple[date, int, bool] | None:
    """(day, working days from receipt to decision (R22), decided by the statutory due date (R19–R21)).

    None when it cannot be measured: never received, or a date beyond the holiday table.
    """
    if received_on is None:
        return None
    try:
        days = calendar.working_days_between(received_on, decided_on)
        due = clock.due_date(calendar) if clock is not None else None
    except DomainError:
        return None
    return decided_on, days, due is None or decided_on <= due


def _append(session: Session, district: str, deltas: dict[str, int]) -> None:
    """Kept on the session until the unit of work commits: one INSERT for all of a transaction's deltas."""
    pending = session.info.setdefault(PENDING_DELTAS, [])
    pending.extend({"district": district, "counter": c, "delta": delta} for c, delta in deltas.items() if delta)


def take_pending(session: Session) -> list[dict[str, Any]]:
    """The transaction's deltas, for the commit's last statement to insert (the unit of work's `commit`)."""
    return list(session.info.pop(PENDING_DELTAS, []))


def discard_pending(session: Session) -> None:
    session.info.pop(PENDING_DELTAS, None)


def current(session: Session, district: str | None) -> dict[str, int]:
    """Counter -> count for one district (None: all of them), the folded totals plus the deltas still pending.

    The counts of now only (applications per state, certificates): two index ranges, not the counts by day.
    """
    folded = select(DistrictCountRow.counter, DistrictCountRow.value.label("n")).where(_now(DistrictCountRow.counter))
    pending = select(DistrictCountDeltaRow.counter, DistrictCountDeltaRow.delta.label("n")).where(
        _now(DistrictCountDeltaRow.counter)
    )
    if district is not None:
        folded = folded.where(DistrictCountRow.district == district)
        pending = pending.where(DistrictCountDeltaRow.district == district)
    both = union_all(folded, pending).subquery()
    rows = session.execute(select(both.c.counter, func.sum(both.c.n)).group_by(both.c.counter))
    return {counter: int(n) for counter, n in rows if n}


def _now(counter: Any) -> Any:
    """The counters of now: "application.…" and "certificate.…" ("/" is the character after ".")."""
    return or_(*(and_(counter >= prefix, counter < prefix[:-1] + "/") for prefix in (STATE_PREFIX, "certificate.")))


def in_period(session: Session, district: str | None, since: date, until: date) -> dict[str, int]:
    """The counts by day summed over since..until (the district's dates, both included), by family and kind.

    Keys are "decided.07", "decided.late", "issued.paper", …; one statement over a few index ranges of the folded
    totals plus the pending deltas: the whole months of the period by month, the days before and after them by day,
    so any period costs at most a few hundred index entries however long it is and however many files there are.
    """
    parts = []
    for family in (DECIDED, ISSUED):
        for prefix, low, high, width in _ranges(family, since, until):
            for table, value in (
                (DistrictCountRow, DistrictCountRow.value),
                (DistrictCountDeltaRow, DistrictCountDeltaRow.delta),
            ):
                kind = literal(family, String) + func.substr(table.counter, len(prefix) + width + 2)  # past the date
                query = select(kind.label("kind"), value.label("n")).where(table.counter >= low, table.counter < high)
                parts.append(query if district is None else query.where(table.district == district))
    both = union_all(*parts).subquery()
    rows = session.execute(select(both.c.kind, func.sum(both.c.n)).group_by(both.c.kind))
    return {kind: int(n) for kind, n in rows if n}


def _ranges(family: str, since: date, until: date) -> list[tuple[str, str, str, int]]:
    """(prefix, low, high, date width) of each counter range: leading days, whole months, trailing days."""
    first = since if since.day == 1 else _next_month(since)
    after = _next_month(until) if _next_month(until) - timedelta(days=1) == until else until.replace(day=1)
    if first >= after:  # no whole month inside the period
        return [_days(family, since, until)]
    ranges = [(MONTHLY[family], f"{MONTHLY[family]}{first:%Y-%m}", f"{MONTHLY[family]}{after:%Y-%m}", 7)]
    if since < first:
        ranges.append(_days(family, since, first - timedelta(days=1)))
    if after <= until:
        ranges.append(_days(family, after, until))
    return ranges


def _days(family: str, since: date, until: date) -> tuple[str, str, str, int]:
    return family, f"{family}{since.isoformat()}", f"{family}{(until + timedelta(days=1)).isoformat()}", 10


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def fold(session: Session) -> int:
    """Fold every committed delta into the totals, a batch per statement; returns how many. The caller commits.

    DELETE … RETURNING adds exactly the rows this transaction removed: a delta still uncommitted is not seen, and
    one a concurrent fold took is not seen twice.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql" and not connection.scalar(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": FOLD_LOCK}
    ):
        return 0
    folded = 0
    while taken := _take_batch(connection):
        _add_to_totals(connection, taken)
        folded += len(taken)
    return folded


def _take_batch(connection: Connection) -> list[tuple[str, str, int]]:
    oldest = select(DistrictCountDeltaRow.id).order_by(DistrictCountDeltaRow.id).limit(FOLD_BATCH)
    statement = (
        delete(DistrictCountDeltaRow)
        .where(DistrictCountDeltaRow.id.in_(oldest.scalar_subquery()))
        .returning(DistrictCountDeltaRow.district, DistrictCountDeltaRow.counter, DistrictCountDeltaRow.delta)
    )
    return [(district, counter, delta) for district, counter, delta in connection.execute(statement)]


def _add_to_totals(connection: Connection, deltas: Iterable[tuple[str, str, int]]) -> None:
    sums: Counter[tuple[str, str]] = Counter()
    for district, counter, delta in deltas:
        sums[(district, counter)] += delta
    rows = [{"district": d, "counter": c, "value": n} for (d, c), n in sorted(sums.items())]
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(DistrictCountRow)
    connection.execute(
        upsert.on_conflict_do_update(
            index_elements=["district", "counter"], set_={"value": DistrictCountRow.value + upsert.excluded["value"]}
        ),
        rows,
    )


def recount(connection: Connection) -> dict[tuple[str, str], int]:
    """(district, counter) -> count, from the applications and certificates themselves (a full scan: checks only)."""
    return {(district, counter): int(value) for district, counter, value in connection.execute(text(RECOUNT))}


def counts(connection: Connection, decisions: bool = False) -> dict[tuple[str, str], int]:
    """(district, counter) -> count as the dashboard sees it, zeros left out (compared with `recount`).

    The decisions' counts are left out unless asked for: `recount_decisions` is their check.
    """
    both = union_all(
        select(DistrictCountRow.district, DistrictCountRow.counter, DistrictCountRow.value.label("n")),
        select(DistrictCountDeltaRow.district, DistrictCountDeltaRow.counter, DistrictCountDeltaRow.delta.label("n")),
    ).subquery()
    rows = connection.execute(
        select(both.c.district, both.c.counter, func.sum(both.c.n)).group_by(both.c.district, both.c.counter)
    )
    kept = {(d, counter): int(n) for d, counter, n in rows if n}
    return {key: n for key, n in kept.items() if decisions or not key[1].startswith((DECIDED, MONTHLY[DECIDED]))}


def recount_decisions(
    connection: Connection, calendar: WorkingCalendar, local_date: Callable[[datetime, str], date]
) -> dict[tuple[str, str], int]:
    """(district, counter) -> count of the decisions' counts, from the trail's grant and deny events (a full scan).

    `local_date(at, district)`: the district's date of a decision's instant.
    """
    query = (
        select(AuditEventRow.district, AuditEventRow.at, ApplicationRow.received_on, ApplicationRow.clock)
        .join(ApplicationRow, ApplicationRow.id == AuditEventRow.object_id)
        .where(DECISION_EVENTS)
    )
    found: Counter[tuple[str, str]] = Counter()
    for district, at, received_on, clock in connection.execute(query):
        figures = decision_figures(calendar, received_on, clock_from_json(clock), local_date(at, district))
        for counter, n in (_decision_deltas(*figures) if figures else {}).items():
            found[(district, counter)] += n
    return {key: n for key, n in found.items() if n}


def backfill_decisions(connection: Connection, counted: dict[tuple[str, str], Any]) -> int:
    """Replace the decisions' kept counts with `counted` (from `recount_decisions`); the caller commits."""
    for family in (DECIDED, MONTHLY[DECIDED]):
        connection.execute(delete(DistrictCountDeltaRow).where(DistrictCountDeltaRow.counter.startswith(family)))
        connection.execute(delete(DistrictCountRow).where(DistrictCountRow.counter.startswith(family)))
    rows = [{"district": d, "counter": c, "value": n} for (d, c), n in sorted(counted.items())]
    if rows:
        connection.execute(insert(DistrictCountRow), rows)
    return len(rows)
