"""Each certificate line's receipt chain has a head (migrations 0026 and 0030): always its latest receipt.

The receipt sequencer reads a line's head under the head's lock and writes each receipt with the line's new head
(workflow/store/receipt_sequencer.py). Once it has run, the head must equal the line's last receipt after any mix of
write-offs, on both engines; a line never written off has none (its chain starts at the genesis head); and the
migrations must carry the heads of lines written off before them.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text

from config.bootstrap import Container
from tests.conftest import Cast, make_cast
from tests.integration.support import declare, fx10_cytokine, grant, migrate_down_and_up
from workflow.domain.audit_chain import GENESIS

# Each line's kept head beside its last receipt (or the genesis head for a line with none).
HEADS = text(
    """
    SELECT l.id, COALESCE(h.seq, 0), COALESCE(h.receipt_hash, :genesis), COALESCE(h.net_committed, 0),
           COALESCE(r.seq, 0), COALESCE(r.receipt_hash, :genesis), COALESCE(r.net_committed, 0)
      FROM certificate_lines l
      LEFT JOIN receipt_heads h ON h.certificate_line_id = l.id
      LEFT JOIN writeoff_receipts r
        ON r.certificate_line_id = l.id
       AND r.seq = (SELECT MAX(seq) FROM writeoff_receipts x WHERE x.certificate_line_id = l.id)
     ORDER BY l.id
    """
)


def _heads(connection: object) -> list[tuple[object, ...]]:
    return [tuple(row) for row in connection.execute(HEADS, {"genesis": GENESIS})]  # type: ignore[attr-defined]


def _write_offs(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100), fx10_cytokine(50))
    grant(container, cast, fx10_cytokine(30))  # a certificate never written off: its line keeps the genesis head
    for qty in (3, 4, 5, 6):
        declare(container, cast, number, qty)
    container.sequencer.seal_receipts()


def test_every_line_s_head_is_its_last_receipt(container: Container, cast: Cast) -> None:
    _write_offs(container, cast)
    with container.engine.connect() as connection:
        heads = _heads(connection)
    assert any(row[1] > 1 for row in heads) and any(row[1] == 0 for row in heads)
    assert all(row[1:4] == row[4:7] for row in heads), heads


def test_the_migration_fills_in_the_heads_of_lines_written_off_before_it(
    own_migrated_url: str, make_container: Callable[..., Container]
) -> None:
    container = make_container(own_migrated_url)
    _write_offs(container, make_cast(container))
    engine = migrate_down_and_up(container, own_migrated_url, "0025")
    with engine.connect() as connection:
        heads = _heads(connection)
    engine.dispose()
    assert any(row[1] > 1 for row in heads)
    assert all(row[1:4] == row[4:7] for row in heads), heads
