"""The dashboard's counts per district: applications per state, certificates paperless or on paper.

A change appends +1/−1 deltas in its own transaction and never updates a shared row, so a district's writers do not
queue behind one counter; a sweep folds the deltas into `district_counts`, and a read adds the few deltas not folded
yet to the folded totals in one statement (one snapshot), so it costs the same at ten thousand files as at a million.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, delete, func, select, text, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from workflow.domain.model import TransitionRecord
from workflow.store.tables import DistrictCountDeltaRow, DistrictCountRow

STATE_PREFIX = "application."  # "application.<state>": how many of the district's applications are in that state
PAPERLESS, PAPER = "certificate.paperless", "certificate.paper"
FOLD_BATCH = 10_000  # deltas folded per statement: a fold's transaction stays short however far behind it is
FOLD_LOCK = 0x5C0_0C75  # PostgreSQL advisory lock: one fold at a time (another one returns at once)

# The counts recomputed from the rows themselves: the backfill (migration 0015, bench/pages.py) and the tests' check.
RECOUNT = (
    "SELECT district, 'application.' || state AS counter, COUNT(*) AS value FROM applications GROUP BY district, state "
    "UNION ALL SELECT district, CASE WHEN paperless THEN 'certificate.paperless' ELSE 'certificate.paper' END, "
    "COUNT(*) FROM certificates GROUP BY district, paperless"
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


def count_new_certificate(session: Session, district: str, paperless: bool) -> None:
    _append(session, district, {PAPERLESS if paperless else PAPER: 1})


def _append(session: Session, district: str, deltas: dict[str, int]) -> None:
    """Added to the session, so the rows go out with the transaction's own flush: no round trip of their own."""
    session.add_all(
        DistrictCountDeltaRow(district=district, counter=counter, delta=delta)
        for counter, delta in deltas.items()
        if delta
    )


def current(session: Session, district: str | None) -> dict[str, int]:
    """Counter -> count for one district (None: all of them), the folded totals plus the deltas still pending."""
    folded = select(DistrictCountRow.counter, DistrictCountRow.value.label("n"))
    pending = select(DistrictCountDeltaRow.counter, DistrictCountDeltaRow.delta.label("n"))
    if district is not None:
        folded = folded.where(DistrictCountRow.district == district)
        pending = pending.where(DistrictCountDeltaRow.district == district)
    both = union_all(folded, pending).subquery()
    rows = session.execute(select(both.c.counter, func.sum(both.c.n)).group_by(both.c.counter))
    return {counter: int(n) for counter, n in rows if n}


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


def counts(connection: Connection) -> dict[tuple[str, str], int]:
    """(district, counter) -> count as the dashboard sees it, zeros left out (compared with `recount`)."""
    both = union_all(
        select(DistrictCountRow.district, DistrictCountRow.counter, DistrictCountRow.value.label("n")),
        select(DistrictCountDeltaRow.district, DistrictCountDeltaRow.counter, DistrictCountDeltaRow.delta.label("n")),
    ).subquery()
    rows = connection.execute(
        select(both.c.district, both.c.counter, func.sum(both.c.n)).group_by(both.c.district, both.c.counter)
    )
    return {(district, counter): int(n) for district, counter, n in rows if n}
