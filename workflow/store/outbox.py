"""The outbox relay: publishes committed task messages after commit, and sends again the ones left incomplete.

A unit of work with a relay writes its rows as sent (their first delivery) and the relay publishes them right after
the commit, from memory: no second transaction on the request path. Rows written without a relay (the command
line), and rows the broker refused, are sent by beat's sweep; the sweep also sends again every row no task has
completed in time (workflow/store/outbox_completion.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session, sessionmaker

from workflow.store.outbox_completion import SentRow, first_sends, mark_sent, message_id, redeliveries, unsend
from workflow.store.repositories import skip_locked

log = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any], str], None]
RELAY_BATCH = 200
DEFAULT_REDELIVERY = timedelta(minutes=5)


class OutboxRelay:
    """Hands rows to `publish(task, payload, message_id)`; a row is marked sent only once the broker took it.

    Delivery is at least once: if the commit marking a row fails after the broker accepted it, the row goes again,
    which the idempotent tasks absorb. A row is complete only when its task says so, never when it was published.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        publish: Publish,
        now: Callable[[], datetime],
        redeliver_after: timedelta = DEFAULT_REDELIVERY,
    ) -> None:
        self.sessions, self.publish, self.now = sessions, publish, now
        self.redeliver_after = redeliver_after
        self.broker_down = False  # logged once when the broker stops taking rows, once when it takes them again

    def relay(self, limit: int = RELAY_BATCH) -> int:
        """Send the rows never sent: beat's sweep, and the command line after it wrote one."""
        return self._send(first_sends(limit))

    def publish_sent(self, rows: Sequence[SentRow]) -> int:
        """Publish rows their commit already wrote as sent: right after that commit, with no transaction of its own.

        A refusal writes the refused row and the ones after it back as unsent, so the next sweep sends them.
        """
        for index, row in enumerate(rows):
            try:
                self.publish(row.task, row.payload, message_id(row.id))
            except Exception as exc:  # noqa: BLE001 - any broker failure leaves the rows for the next sweep
                error = f"{type(exc).__name__}: {exc}"[:2000]
                with self.sessions() as session, session.begin():
                    unsend(session, [later.id for later in rows[index:]], error)
                self._note_outage(row.id, error)
                return index
        self._note_back(len(rows))
        return len(rows)

    def redeliver(self, limit: int = RELAY_BATCH) -> int:
        """Send again the rows whose task has not completed by their `redeliver_at`: beat's sweep only."""
        sent = self._send(redeliveries(self.now(), limit))
        if sent:
            log.warning("outbox relay: sent %s row(s) again that no task had completed in time", sent)
        return sent

    def _send(self, query: Select[Any]) -> int:
        with self.sessions() as session, session.begin():
            # Two relays (the post-commit hook and the beat sweep) never publish the same row at once.
            return self._publish_rows(session.scalars(skip_locked(session, query)).all())

    def _publish_rows(self, rows: Any) -> int:
        sent = 0
        for row in rows:
            try:
                self.publish(row.task, row.payload, message_id(row.id))
            except Exception as exc:  # noqa: BLE001 - any broker failure leaves the row for the next sweep
                row.attempts += 1
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                self._note_outage(row.id, row.last_error)
                break
            mark_sent(row, self.now(), self.redeliver_after)
            sent += 1
        self._note_back(sent)
        return sent

    def _note_back(self, sent: int) -> None:
        if sent and self.broker_down:
            self.broker_down = False
            log.warning("outbox relay: the broker takes messages again")

    def _note_outage(self, row_id: int, error: str) -> None:
        """One line per outage, not one per commit: every commit while the broker is down tries again."""
        if not self.broker_down:
            self.broker_down = True
            log.warning("outbox relay stopped at row %s: %s (rows wait for the next sweep)", row_id, error)
