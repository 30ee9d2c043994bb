"""The floor under one declaration: the very statements the service sent for a released declaration, replayed on a
raw psycopg connection with fresh ids and numbers, and no Python above the driver.

The service cannot write off faster than the server runs the rows a declaration must leave (the declaration and its
line, the reservation and the commit in the ledger, the commit's place in the receipt queue, the audit events): this
side measures that bound in the same run as the raw write-off and the service, so the table shows how much of the
gap is the rows written and how much the Python that decides them (docs/performance.md). The receipt itself is the
receipt sequencer's, after the commit, on neither side.

One real declaration through the bus is recorded (`Recorder`); each replay (`Replay.write_off`) sends its two
statements again for a target line, with the ids the certificate read draws and a new declaration number. What the
rows hold is otherwise the recorded declaration's: the ledger check after the cell holds for them as for the
service's (a reservation and a commit per released write-off).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Engine, event

RECORDED_SHAPE = (
    "SELECT certificates.",
    "WITH w0 AS (INSERT INTO declarations",
)
# The write's rows, by the order of its CTEs (workflow/store/together.py: the staged rows first).
WRITTEN = ("declarations", "declaration_lines", "receipt_queue", "audit_events", "ledger_entries")


@dataclass(frozen=True)
class Recorded:
    """A released declaration's two statements, each with its parameters as the driver got them."""

    read: tuple[str, dict[str, Any]]
    write: tuple[str, dict[str, Any]]


class Recorder:
    """Collects the statements an engine sends while it is listening."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def __enter__(self) -> Recorder:
        event.listen(self.engine, "before_cursor_execute", self._note)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._note)

    def _note(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        self.seen.append((statement, dict(parameters or {})))

    def recorded(self) -> Recorded | None:
        """The declaration's statements if it was released the usual way (two, in that order, the write queueing its
        commit for a receipt), else None."""
        shaped = [(s, p) for s, p in self.seen if s.startswith(RECORDED_SHAPE)]
        starts = tuple(next(prefix for prefix in RECORDED_SHAPE if s.startswith(prefix)) for s, _ in shaped)
        released = len(shaped) == len(RECORDED_SHAPE) and "INSERT INTO receipt_queue" in shaped[-1][0]
        return Recorded(*shaped) if starts == RECORDED_SHAPE and released else None


class Replay:
    """The recorded declaration's statements, sent again for another line of the same holder each time."""

    def __init__(self, recorded: Recorded, conn: psycopg.Connection[Any], tag: str) -> None:
        self.recorded, self.conn, self.tag, self.count = recorded, conn, tag, 0
        write = recorded.write[1]
        self.rows = {table: json.loads(write[f"rows{n}"]) for n, table in enumerate(WRITTEN)}
        assert f"rows{len(WRITTEN)}" not in write, "the write names more tables than WRITTEN"

    def write_off(self, certificate_id: int, certificate_no: str, line_id: int) -> str:
        """One declaration's statements, committed: 'released', or 'held' when the line had not the quantity."""
        self.count += 1
        read_sql, read = self.recorded.read
        found = self.conn.execute(read_sql, {**read, "number": certificate_no}).fetchone()
        assert found is not None, f"no certificate {certificate_no}"
        declaration_id, entry_ids = found[-2][0], found[-1]
        number = f"FLOOR{self.tag}{self.count:010d}"
        own = self._write(certificate_id, line_id, declaration_id, entry_ids, number)
        if own is None:
            self.conn.rollback()
            return "held"
        self.conn.commit()
        return "released"

    def _write(
        self, certificate_id: int, line_id: int, declaration_id: int, entry_ids: list[int], number: str
    ) -> dict[str, Any] | None:
        rows = self.rows
        declaration = {**rows["declarations"][0], "id": declaration_id, "declaration_no": number}
        declaration["certificate_id"] = certificate_id
        line = {**rows["declaration_lines"][0], "declaration_id": declaration_id, "certificate_line_id": line_id}
        events = [{**row, "object_id": declaration_id, "object_ref": number} for row in rows["audit_events"]]
        entries = [
            {**row, "id": entry_id, "declaration_id": declaration_id, "certificate_id": certificate_id}
            | {"certificate_line_id": line_id}
            for row, entry_id in zip(rows["ledger_entries"], entry_ids, strict=True)
        ]
        queued = [{"ledger_entry_id": entry["id"]} for entry in entries if entry["kind"] == "commit"]
        sql, parameters = self.recorded.write
        written = [declaration], [line], queued, events, entries
        parameters = {**parameters, **{f"rows{n}": _json(value) for n, value in enumerate(written)}}
        parameters["draw_line"] = line_id
        result = self.conn.execute(sql, parameters).fetchone()
        return None if result is None or result[2] is None else dict(result[2])


def _json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
