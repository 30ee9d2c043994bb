"""`/api/v1/inbox`: the signed-in user's notifications, newest first, and marking one read."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import Response, jsonify, request

from web.authz import EVERYONE, guard
from web.context import container, current_actor
from web.idempotency import idempotent
from web.request_reads import request_reads
from workflow.domain.errors import InvalidInput, NotFound
from workflow.domain.permissions import Action
from workflow.store.notifications import SqlNotifications

blueprint = APIBlueprint("inbox", __name__, url_prefix="/api/v1/inbox", tag="Inbox")

DEFAULT_LIMIT, MAX_LIMIT = 20, 100
MAX_ID = 2**63 - 1  # a BIGINT: a larger cursor would be a database error rather than an empty page
FLAGS = {"1": True, "true": True, "0": False, "false": False}


@blueprint.get("")
@guard(EVERYONE, write=False)
def inbox() -> Response:
    """`?unread=1` for unread only; `?before=<next>` for the following page."""
    user_id = _user_id()
    limit = _int_arg("limit", MAX_LIMIT) or DEFAULT_LIMIT
    before = _int_arg("before", MAX_ID)
    with request_reads() as session:
        # One more than the page: whether it comes back says if there is a next page, without a count query.
        items = SqlNotifications(session, container().deps.clock.now).inbox(user_id, _unread(), before, limit + 1)
    page = items[:limit]
    return jsonify({"items": page, "next": page[-1]["id"] if len(items) > limit else None})


@blueprint.post("/<int:notification_id>/read")
@guard(Action.MARK_NOTIFICATION_READ)  # one's own inbox, not workflow data: auditors mark theirs read too
@idempotent
def mark_read(notification_id: int) -> Response:
    user_id = _user_id()
    with container().sessions() as session, session.begin():
        found = SqlNotifications(session, container().deps.clock.now).mark_read(user_id, notification_id)
    if not found:
        raise NotFound(f"no notification {notification_id}")  # someone else's is not found either
    return jsonify({"id": notification_id, "read": True})


def _user_id() -> int:
    actor = current_actor()
    if actor.user_id is None:
        raise NotFound("the system actor has no inbox")
    return actor.user_id


def _unread() -> bool:
    value = request.args.get("unread", "0").lower()
    if value not in FLAGS:
        raise InvalidInput("unread must be 1 or 0", field="unread")
    return FLAGS[value]


def _int_arg(name: str, maximum: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise InvalidInput(f"{name} must be a whole number from 1 to {maximum}", field=name)
    return int(raw)
