"""The daily reminders to applicants: a certificate about to expire (C4), a follow-up report coming due (R54).

Each reminder is keyed by its kind, its object and the user, so it is sent once however often the sweep runs and
whichever day it first finds the object: a sweep missed for a few days still sends it, and never twice. The
window is read as a date range on indexed columns, so a run reads only the objects in the window.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from workflow.domain.local_days import DistrictScope
from workflow.service.notify import notify_keyed
from workflow.service.ports import Dependencies, UnitOfWork

EXPIRY_NOTICE_DAYS = 30
FOLLOW_UP_NOTICE_DAYS = 7


def send_reminders(deps: Dependencies) -> dict[str, int]:
    """Returns how many notifications were new, by kind; one transaction per district date, committed at its end.

    Each district's window is counted from its own local date (the shipped districts share one: a single run).
    """
    sent = {"certificate_expiring": 0, "follow_up_due": 0}
    for today, scope in deps.clock.local_days():
        with deps.uow() as uow:
            sent["certificate_expiring"] += _remind_expiring(uow, today, scope)
            sent["follow_up_due"] += _remind_follow_ups(uow, today, scope)
            uow.commit()
    return sent


def _remind_expiring(uow: UnitOfWork, today: date, scope: DistrictScope) -> int:
    users: dict[int, list[int]] = {}
    return sum(
        _remind(uow, users, row.enterprise_id, "certificate_expiring", f"certificate:{row.id}", _expiry(row, today))
        for row in uow.notifications.certificates_expiring(today, today + timedelta(days=EXPIRY_NOTICE_DAYS), scope)
    )


def _remind_follow_ups(uow: UnitOfWork, today: date, scope: DistrictScope) -> int:
    users: dict[int, list[int]] = {}
    return sum(
        _remind(uow, users, row.enterprise_id, "follow_up_due", f"declaration:{row.id}", _follow_up(row))
        for row in uow.notifications.follow_ups_due(today, today + timedelta(days=FOLLOW_UP_NOTICE_DAYS), scope)
    )


def _remind(
    uow: UnitOfWork, users: dict[int, list[int]], enterprise_id: int, kind: str, key: str, params: dict[str, str]
) -> int:
    if enterprise_id not in users:
        users[enterprise_id] = uow.notifications.enterprise_users(enterprise_id)
    return notify_keyed(uow, users[enterprise_id], kind, params, f"{kind}:{key}")


def _expiry(row: Any, today: Any) -> dict[str, str]:
    days = (row.valid_until - today).days
    return {"certificate_no": row.certificate_no, "valid_until": row.valid_until.isoformat(), "days": str(days)}


def _follow_up(row: Any) -> dict[str, str]:
    return {"declaration_no": row.declaration_no, "due_on": row.follow_up_due_on.isoformat()}
