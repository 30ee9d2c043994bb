"""The floor under one declaration: the very statements the service sent for a released declaration, replayed on a
raw psycopg connection with fresh ids and numbers, and no Python above the driver.

The service cannot write off faster than the server runs the rows a declaration must leave (the declaration and its
line, the reservation and the commit in the ledger, the audit events, the signed receipt and the line's new chain
head): this side measures that bound in the same run as the raw write-off and the service, so the table shows how
much of the gap is the rows written and how much the Python that decides them (docs/performance.md).

One real declaration through the bus is recorded (`Recorder`); each replay (`Replay.write_off`) sends its three
statements again for a target line, with the ids the certificate read draws, a new declaration number, and the
receipt's next place in the line's chain. What the rows hold is otherwise the recorded declaration's: the ledger
check after the cell holds for them as for the service's (a reservation and a commit per released write-off).
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
    "WITH w0 AS (INSERT INTO writeoff_receipts",
)


@dataclass(frozen=True)
class Recorded:
    """A released declaration's three statements, each with its parameters as the driver got them."""

    read: tuple[str, dict[str, Any]]
    write: tuple[str, dict[str, Any]]
    receipt: tuple[str, dict[str, Any]]


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
        """The declaration's statements if it was released the usual way (three, in that order), else None."""
        shaped = [(s, p) for s, p in self.seen if s.startswith(RECORDED_SHAPE)]
        starts = tuple(next(prefix for prefix in RECORDED_SHAPE if s.startswith(prefix)) for s, _ in shaped)
        return Recorded(*shaped) if starts == RECORDED_SHAPE else None


class Replay:
    """The recorded declaration's statements, sent again for another line of the same holder each time."""

    def __init__(self, recorded: Recorded, conn: psycopg.Connection[Any], tag: str) -> None:
        self.recorded, self.conn, self.tag, self.count = recorded, conn, tag, 0
        write = recorded.write[1]
        self.rows = {key: json.loads(write[key]) for key in ("rows0", "rows1", "rows2", "rows3")}
        self.receipt_rows = json.loads(recorded.receipt[1]["rows0"])
        self.head = json.loads(recorded.receipt[1]["set0"])

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
        self._receipt(certificate_id, line_id, entry_ids[-1], own["receipt_seq"] + 1)
        self.conn.commit()
        return "released"

    def _write(
        self, certificate_id: int, line_id: int, declaration_id: int, entry_ids: list[int], number: str
    ) -> dict[str, Any] | None:
        rows = self.rows
        declaration = {**rows["rows0"][0], "id": declaration_id, "declaration_no": number}
        declaration["certificate_id"] = certificate_id
        line = {**rows["rows1"][0], "declaration_id": declaration_id, "certificate_line_id": line_id}
        events = [{**row, "object_id": declaration_id, "object_ref": number} for row in rows["rows2"]]
        entries = [
            {**row, "id": entry_id, "declaration_id": declaration_id, "certificate_id": certificate_id}
            | {"certificate_line_id": line_id}
            for row, entry_id in zip(rows["rows3"], entry_ids, strict=True)
        ]
        sql, parameters = self.recorded.write
        written = {"rows0": [declaration], "rows1": [line], "rows2": events, "rows3": entries}
        parameters = {**parameters, **{key: _json(value) for key, value in written.items()}, "draw_line": line_id}
        result = self.conn.execute(sql, parameters).fetchone()
        return None if result is None or result[2] is None else dict(result[2])

    def _receipt(self, certificate_id: int, line_id: int, entry_id: int, seq: int) -> None:
        receipt = {**self.receipt_rows[0], "ledger_entry_id": entry_id, "seq": seq}
        receipt |= {"certificate_id": certificate_id, "certificate_line_id": line_id}
        head = {**self.head[0], "id": line_id, "receipt_seq": seq}
        sql, parameters = self.recorded.receipt
        self.conn.execute(sql, {**parameters, "rows0": _json([receipt]), "set0": _json([head])})


def _json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
