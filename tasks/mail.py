"""E-mail copies of notifications: rendered from zh/en templates, sent over SMTP or written to the mail folder.

`specgoods.send_email` is idempotent (a notification already sent is skipped) and retries transient failures with
exponential backoff; when the retries run out the notification is 'failed' and the dead-letter list gets the task.
"""

from __future__ import annotations

import logging
import os
import smtplib
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from celery import Celery, Task
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.exc import OperationalError

from config import local_time
from config.bootstrap import Container
from config.settings import Settings
from workflow.domain.policy import DEFAULT_TIME_ZONE
from workflow.store.notifications import SqlNotifications

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates" / "mail"
TRANSIENT = (smtplib.SMTPException, OSError, OperationalError)
MAX_RETRIES = 5
# Seconds before the first retry, doubled for each one after: 15 s … 4 min, about 8 minutes in all.
RETRY_DELAY = 15
SMTP_TIMEOUT = 30
SMTP_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}

# Plain text, so no HTML autoescaping; a param a template needs but lacks is an error, never an empty string.
_templates = Environment(
    loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
)


def register_mail_tasks(app: Celery, container: Callable[[], Container]) -> None:
    # Not shared: a task bound to this app alone, so another app in the process never runs it on its own broker.
    @app.task(
        bind=True,
        shared=False,
        name="specgoods.send_email",
        max_retries=MAX_RETRIES,
        default_retry_delay=RETRY_DELAY,
    )
    def send_email(self: Task[Any, Any], notification_id: int) -> str:
        try:
            return send_notification_email(container(), notification_id)
        except TRANSIENT as error:
            if self.request.retries < (self.max_retries or 0):
                _mark(container(), notification_id, "pending", error)
                raise self.retry(exc=error, countdown=_backoff(self)) from error
            _mark(container(), notification_id, "failed", error)
            raise
        except Exception as error:
            _mark(container(), notification_id, "failed", error)
            raise


def send_notification_email(container: Container, notification_id: int) -> str:
    """Returns what happened: sent, skipped (no address), already sent, or missing (the row is gone)."""
    notification = _load(container, notification_id)
    if notification is None:
        log.warning("notification %s no longer exists; no e-mail sent", notification_id)
        return "missing"
    if notification["email_status"] == "sent":
        return "already sent"
    if not notification["email"]:
        _mark(container, notification_id, "skipped", "the user has no e-mail address")
        return "skipped"
    time_zone = local_time.zone_of(container.deps.policies, notification.get("district"))
    deliver(compose(notification, container.settings, time_zone), container.settings, notification_id)
    _mark(container, notification_id, "sent")
    return "sent"


def render(
    kind: str, locale: str, params: Mapping[str, str], at: datetime | None = None, time_zone: str = DEFAULT_TIME_ZONE
) -> tuple[str, str]:
    """(subject, body): a template's first line is the subject. Chinese unless the user chose English.

    `at`, the instant of what the mail tells (its notification's), is offered to the templates as `at`: the reader's
    local time, labelled ("2026-12-06 01:30 北京时间 (UTC+8)").
    """
    language = "en" if locale == "en" else "zh"
    when = {} if at is None else {"at": local_time.stamp(at, time_zone, local_time.catalog_gettext(language))}
    text = _templates.get_template(f"{kind}.{language}.txt").render({**params, **when})
    subject, _, body = text.partition("\n")
    return subject.strip(), body.lstrip("\n")


def compose(notification: Mapping[str, Any], settings: Settings, time_zone: str = DEFAULT_TIME_ZONE) -> EmailMessage:
    kind, locale, params = notification["kind"], notification["locale"], notification["params"]
    subject, body = render(kind, locale, params, notification.get("created_at"), time_zone)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.mail_from
    message["To"] = notification["email"]
    message["Date"] = format_datetime(datetime.now(UTC))
    # One Message-ID per notification, so a copy re-sent after a lost acknowledgement is recognisably the same.
    domain = settings.mail_from.rpartition("@")[2] or "localhost"
    message["Message-ID"] = f"<notification-{notification['id']}@{domain}>"
    # base64, not 8bit: a server that does not offer 8BITMIME must still get the Chinese text intact.
    message.set_content(body, charset="utf-8", cte="base64")
    return message


def deliver(message: EmailMessage, settings: Settings, notification_id: int) -> None:
    if settings.smtp_url:
        send_smtp(message, settings.smtp_url)
    else:
        write_eml(message, settings.mail_dir / f"{notification_id}.eml")


def send_smtp(message: EmailMessage, url: str) -> None:
    """`smtp://host:25`, `smtp+starttls://user:pass@host:587` or `smtps://user:pass@host:465`."""
    parts = urlsplit(url)
    if parts.scheme not in SMTP_PORTS or not parts.hostname:
        raise ValueError(f"SPECGOODS_SMTP_URL must be smtp://, smtp+starttls:// or smtps://host[:port], not {url!r}")
    connect = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    with connect(parts.hostname, parts.port or SMTP_PORTS[parts.scheme], timeout=SMTP_TIMEOUT) as smtp:
        if parts.scheme == "smtp+starttls":
            smtp.starttls()
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(message)


def write_eml(message: EmailMessage, path: Path) -> None:
    """Written beside its final name and renamed, so a reader never sees half a message (RFC 5322, CRLF lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".", suffix=".tmp", delete=False) as handle:
        handle.write(message.as_bytes(policy=SMTP))
    os.replace(handle.name, path)


def _backoff(task: Task[Any, Any]) -> float:
    # Redis delivers a message again once its countdown outlasts the visibility timeout: stay well inside it.
    ceiling = task.app.conf.broker_transport_options.get("visibility_timeout", 3600) / 2
    return float(min(task.default_retry_delay * 2**task.request.retries, ceiling))


def _load(container: Container, notification_id: int) -> dict[str, Any] | None:
    with container.sessions() as session:
        return SqlNotifications(session, container.deps.clock.now).for_email(notification_id)


def _mark(container: Container, notification_id: int, status: str, error: BaseException | str = "") -> None:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    with container.sessions() as session, session.begin():
        SqlNotifications(session, container.deps.clock.now).mark_email(notification_id, status, text)
