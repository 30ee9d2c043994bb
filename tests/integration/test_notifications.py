"""Notifications: inbox rows and e-mail tasks in the caller's transaction, the inbox API, mail delivered by real
workers (to the instance mail folder or an SMTP server), retries, dead letters and their retry from the CLI."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from jinja2 import UndefinedError
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from config.bootstrap import Container
from tasks.completion import complete_outbox_rows
from tasks.dead_letters import record_dead_letters
from tasks.mail import TEMPLATES, register_mail_tasks, render
from tests.conftest import Cast, _empty_tables, make_cast, wait_for, wait_for_worker
from tests.integration.support import cli
from web import create_app
from workflow.domain.actors import Actor
from workflow.domain.errors import InvalidInput
from workflow.service.notify import KINDS, notify
from workflow.store.tables import DeadLetterRow, NotificationRow, OutboxRow, UserRow

PASSWORD = "correct horse battery staple"
DECISION = {"reference": "TJ-2016-0001", "decision": "准予许可"}


def ids(*actors: Actor) -> list[int]:
    return [actor.user_id for actor in actors if actor.user_id is not None]


def send(container: Container, actors: list[Actor], kind: str = "decision_made", **params: str) -> list[int]:
    with container.deps.uow() as uow:
        sent = notify(uow, ids(*actors), kind, params or DECISION)
        uow.commit()
    return sent


def set_users(container: Container, **emails: tuple[str, str]) -> None:
    """username -> (e-mail address, locale); everyone gets the test password."""
    with container.sessions() as session, session.begin():
        for user in session.scalars(select(UserRow)):
            user.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
            user.email, user.locale = emails.get(user.username, (user.email, user.locale))


def notification(container: Container, notification_id: int) -> NotificationRow:
    with container.sessions() as session:
        row = session.get(NotificationRow, notification_id)
        assert row is not None
        session.expunge(row)
        return row


def status_is(container: Container, notification_id: int, status: str) -> Callable[[], NotificationRow | None]:
    def check() -> NotificationRow | None:
        row = notification(container, notification_id)
        return row if row.email_status == status else None

    return check


def dead_letters(container: Container) -> list[DeadLetterRow]:
    with container.sessions() as session:
        return list(session.scalars(select(DeadLetterRow).order_by(DeadLetterRow.id)))


# --- notify: the caller's transaction -------------------------------------------------------------------------------


def test_notify_writes_one_notification_and_one_send_email_outbox_row_per_user_in_one_transaction(
    container: Container,
) -> None:
    cast = make_cast(container)
    made = send(container, [cast.applicant, cast.reviewer, cast.applicant])
    with container.sessions() as session:
        rows = session.scalars(select(NotificationRow).order_by(NotificationRow.id)).all()
        outbox = session.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
    assert [row.id for row in rows] == made and len(made) == 2
    assert [(row.user_id, row.kind, row.params, row.email_status) for row in rows] == [
        (cast.applicant.user_id, "decision_made", DECISION, "pending"),
        (cast.reviewer.user_id, "decision_made", DECISION, "pending"),
    ]
    assert [(row.task, row.payload) for row in outbox] == [("send_email", {"notification_id": id}) for id in made]


def test_a_rolled_back_transaction_notifies_nobody(container: Container) -> None:
    cast = make_cast(container)
    with container.deps.uow() as uow:
        notify(uow, ids(cast.applicant), "decision_made", DECISION)
        uow.rollback()
    with container.sessions() as session:
        assert session.scalars(select(NotificationRow)).all() == []
        assert session.scalars(select(OutboxRow)).all() == []


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("no_such_kind", {"reference": "x"}, "kind"),
        ("clock_reminder", {"reference": "x", "due_on": "2016-06-30"}, "params"),
        ("decision_made", {"reference": "x", "decision": 1}, "params"),
    ],
    ids=["unknown-kind", "missing-param", "param-not-text"],
)
def test_an_unknown_kind_or_a_missing_param_is_invalid_input_and_writes_nothing(
    container: Container, kind: str, params: dict[str, Any], field: str
) -> None:
    cast = make_cast(container)
    with container.deps.uow() as uow, pytest.raises(InvalidInput) as refused:
        notify(uow, ids(cast.applicant), kind, params)
    assert refused.value.field == field
    with container.sessions() as session:
        assert session.scalars(select(NotificationRow)).all() == []


# --- the inbox API --------------------------------------------------------------------------------------------------


@pytest.fixture
def signed_in(container: Container) -> tuple[Any, Cast]:
    cast = make_cast(container)
    set_users(container)
    return create_app(container).test_client(), cast


def test_the_inbox_lists_newest_first_pages_with_a_cursor_and_marks_read(
    container: Container, signed_in: tuple[Any, Cast]
) -> None:
    client, cast = signed_in
    auth = (cast.applicant.name, PASSWORD)
    made = [send(container, [cast.applicant])[0] for _ in range(5)]
    send(container, [cast.reviewer])
    first = client.get("/api/v1/inbox?limit=2", auth=auth).json
    assert [item["id"] for item in first["items"]] == [made[4], made[3]]
    assert first["items"][0] | {"created_at": None} == {
        "id": made[4],
        "kind": "decision_made",
        "params": DECISION,
        "created_at": None,
        "read_at": None,
        "email_status": "pending",
    }
    assert first["items"][0]["created_at"].endswith("Z")  # UTC, said as the rest of the API says it
    second = client.get(f"/api/v1/inbox?limit=2&before={first['next']}", auth=auth).json
    last = client.get(f"/api/v1/inbox?limit=2&before={second['next']}", auth=auth).json
    assert [item["id"] for item in second["items"] + last["items"]] == [made[2], made[1], made[0]]
    assert last["next"] is None
    assert client.post(f"/api/v1/inbox/{made[3]}/read", auth=auth).json == {"id": made[3], "read": True}
    read_at = notification(container, made[3]).read_at
    assert client.post(f"/api/v1/inbox/{made[3]}/read", auth=auth).status_code == 200
    assert notification(container, made[3]).read_at == read_at  # reading twice keeps the first time
    unread = client.get("/api/v1/inbox?unread=1", auth=auth).json
    read = client.get(f"/api/v1/inbox?limit=1&before={made[4]}", auth=auth).json["items"][0]
    assert read["id"] == made[3] and read["read_at"].endswith("Z")
    assert [item["id"] for item in unread["items"]] == [made[4], made[2], made[1], made[0]]


def test_another_users_notification_is_not_found_and_stays_unread(
    container: Container, signed_in: tuple[Any, Cast]
) -> None:
    client, cast = signed_in
    [theirs] = send(container, [cast.reviewer])
    response = client.post(f"/api/v1/inbox/{theirs}/read", auth=(cast.applicant.name, PASSWORD))
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert notification(container, theirs).read_at is None
    assert client.get("/api/v1/inbox", auth=(cast.applicant.name, PASSWORD)).json == {"items": [], "next": None}
    assert client.get("/api/v1/inbox").status_code == 401


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "before=-1", "unread=maybe"])
def test_a_malformed_inbox_query_is_a_422_naming_the_parameter(signed_in: tuple[Any, Cast], query: str) -> None:
    client, cast = signed_in
    response = client.get(f"/api/v1/inbox?{query}", auth=(cast.applicant.name, PASSWORD))
    assert response.status_code == 422
    assert response.json["field"] == query.partition("=")[0]


# --- templates ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["zh", "en"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_has_a_template_per_language_that_renders_all_its_params(kind: str, locale: str) -> None:
    params = {name: f"«{name}-value»" for name in KINDS[kind]}
    subject, body = render(kind, locale, params)
    assert subject and body.strip() and "\n" not in subject
    assert all(value in subject + body for value in params.values())
    has_chinese = any("\u4e00" <= char <= "\u9fff" for char in subject)
    assert has_chinese is (locale == "zh")


def test_the_template_folder_holds_exactly_the_known_kinds_in_both_languages() -> None:
    expected = {f"{kind}.{locale}.txt" for kind in KINDS for locale in ("zh", "en")}
    assert {path.name for path in TEMPLATES.iterdir()} == expected


def test_a_template_short_of_a_param_fails_instead_of_rendering_a_blank() -> None:
    with pytest.raises(UndefinedError):
        render("clock_reminder", "zh", {"reference": "TJ-1", "due_on": "2016-06-30"})


def test_any_locale_but_english_gets_the_chinese_template() -> None:
    assert render("decision_made", "fr", DECISION) == render("decision_made", "zh", DECISION)


# --- delivery by real workers ---------------------------------------------------------------------------------------


@pytest.fixture
def production(make_container: Callable[..., Container], postgres_url: str, redis_url: str) -> Callable[..., Container]:
    """A PostgreSQL + Redis container whose commits relay their outbox rows straight away."""
    _empty_tables(postgres_url)

    def make(**settings: Any) -> Container:
        return make_container(postgres_url, redis_url=redis_url, relay_after_commit=True, **settings)

    return make


def parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_a_worker_process_writes_mail_to_the_instance_mail_folder_in_each_users_language(
    production: Callable[..., Container],
    postgres_url: str,
    redis_url: str,
    start_worker: Callable[..., Any],
    tmp_path: Path,
) -> None:
    container = production()
    worker = start_worker(postgres_url, redis_url, concurrency=1)
    cast = make_cast(container)
    set_users(
        container,
        **{cast.applicant.name: ("applicant@example.cn", "zh"), cast.reviewer.name: ("reviewer@example.cn", "en")},
    )
    wait_for_worker(container, worker)
    zh, en, nobody = send(container, [cast.applicant, cast.reviewer, cast.acceptor])
    for notification_id in (zh, en):
        sent = wait_for(status_is(container, notification_id, "sent"), timeout=60, what=f"mail {notification_id}")
        assert sent.email_attempts == 1 and sent.emailed_at is not None and sent.email_error == ""
    assert wait_for(status_is(container, nobody, "skipped"), what="the user without an address").email_attempts == 1
    mail = tmp_path / "worker-instance" / "mail"
    assert sorted(path.name for path in mail.iterdir()) == [f"{zh}.eml", f"{en}.eml"]
    raw = (mail / f"{zh}.eml").read_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")  # RFC 5322 line endings
    chinese, english = parse(raw), parse((mail / f"{en}.eml").read_bytes())
    assert chinese["Subject"] == "审批决定：TJ-2016-0001" and chinese["To"] == "applicant@example.cn"
    assert "准予许可" in chinese.get_content() and chinese["Message-ID"] == f"<notification-{zh}@localhost>"
    assert english["Subject"] == "Decision on your application: TJ-2016-0001"
    assert english["To"] == "reviewer@example.cn" and english["From"] == "specgoods@localhost"


def test_a_task_that_fails_without_retry_in_a_worker_process_lands_in_the_dead_letters(
    production: Callable[..., Container], postgres_url: str, redis_url: str, start_worker: Callable[..., Any]
) -> None:
    container = production()
    worker = start_worker(postgres_url, redis_url, concurrency=1)
    wait_for_worker(container, worker)
    container.celery.send_task("specgoods.send_email", kwargs={"unexpected": 1}, task_id="broken-1")
    [letter] = wait_for(lambda: dead_letters(container), timeout=60, what="the dead letter")
    assert (letter.task, letter.task_id, letter.payload) == ("specgoods.send_email", "broken-1", {"unexpected": 1})
    assert letter.error.startswith("TypeError")


class SmtpSink(socketserver.ThreadingTCPServer):
    """Just enough SMTP to accept mail: what smtplib sends, nothing more."""

    daemon_threads = allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpSession)
        self.messages: list[bytes] = []


class _SmtpSession(socketserver.StreamRequestHandler):
    server: SmtpSink

    def handle(self) -> None:
        self._reply(b"220 sink")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                self._reply(b"354 end with <CRLF>.<CRLF>")
                self.server.messages.append(self._data())
            elif verb == b"QUIT":
                self._reply(b"221 bye")
                return
            self._reply(b"250 ok")

    def _data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)  # RFC 5321 dot-unstuffing
        return b"".join(lines)

    def _reply(self, text: bytes) -> None:
        self.wfile.write(text + b"\r\n")


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    thread = threading.Thread(target=sink.serve_forever, daemon=True)
    thread.start()
    yield sink
    sink.shutdown()
    sink.server_close()
    thread.join(timeout=10)


def test_with_an_smtp_url_the_worker_process_sends_the_mail_to_that_server(
    production: Callable[..., Container],
    postgres_url: str,
    redis_url: str,
    start_worker: Callable[..., Any],
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    container = production()
    monkeypatch.setenv("SPECGOODS_SMTP_URL", f"smtp://127.0.0.1:{smtp_sink.server_address[1]}")
    monkeypatch.setenv("SPECGOODS_MAIL_FROM", "noreply@xiamen.example.cn")
    worker = start_worker(postgres_url, redis_url, concurrency=1)
    cast = make_cast(container)
    set_users(container, **{cast.applicant.name: ("applicant@example.cn", "zh")})
    wait_for_worker(container, worker)
    [notification_id] = send(container, [cast.applicant], "clock_breach", reference="TJ-9", due_on="2016-07-01")
    wait_for(status_is(container, notification_id, "sent"), timeout=60, what="the mail to reach the SMTP server")
    [received] = [parse(raw) for raw in smtp_sink.messages]
    assert received["Subject"] == "审批已超过法定时限：TJ-9" and received["From"] == "noreply@xiamen.example.cn"
    assert "2016-07-01" in received.get_content()
    assert not (tmp_path / "worker-instance" / "mail").exists()


def failed_row(container: Container) -> OutboxRow | None:
    with container.sessions() as session:
        found = session.scalars(select(OutboxRow).where(OutboxRow.outcome == "failed")).first()
        if found is not None:
            session.expunge(found)
        return found


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mail_worker(production: Callable[..., Container]) -> Iterator[Callable[..., Container]]:
    """An in-process Celery worker (`celery.contrib.testing`) running only the mail task, for retry timing."""
    with ExitStack() as stack:

        def start(**settings: Any) -> Container:
            container = production(**settings)
            # Celery's own per-task override: no waiting between the retries.
            container.celery.conf.task_annotations = {"specgoods.send_email": {"default_retry_delay": 0}}
            register_mail_tasks(container.celery, lambda: container)
            record_dead_letters(container.celery, lambda: container)
            complete_outbox_rows(container.celery, lambda: container)
            stack.enter_context(
                start_worker(
                    container.celery,
                    pool="solo",
                    perform_ping_check=False,
                    queues=["notifications"],
                    shutdown_timeout=30,
                )
            )
            return container

        yield start


def test_an_unreachable_smtp_server_is_retried_then_failed_dead_lettered_and_retried_from_the_cli(
    mail_worker: Callable[..., Container],
) -> None:
    container = mail_worker(smtp_url=f"smtp://127.0.0.1:{closed_port()}")
    cast = make_cast(container)
    set_users(container, **{cast.applicant.name: ("applicant@example.cn", "zh")})
    [notification_id] = send(container, [cast.applicant])
    failed = wait_for(status_is(container, notification_id, "failed"), timeout=60, what="the retries to run out")
    assert failed.email_attempts == 6 and failed.email_error.startswith("ConnectionRefusedError")
    [letter] = wait_for(lambda: dead_letters(container), what="the dead letter")
    assert (letter.task, letter.payload, letter.retried_at) == (
        "specgoods.send_email",
        {"notification_id": notification_id},
        None,
    )
    assert letter.task_id.startswith("outbox-") and "ConnectionRefusedError" in letter.error

    outbox_row = wait_for(lambda: failed_row(container), what="the outbox row to be closed as failed")
    assert f"outbox-{outbox_row.id}" == letter.task_id and outbox_row.deliveries == 1
    overdue = cli(container, "tasks", "overdue", "--older-than", "0", "--json")
    assert overdue.returncode == 1, overdue.stderr  # a dead letter not retried is overdue work, for cron to see
    kinds = {kind["kind"]: kind for kind in json.loads(overdue.stdout)}
    assert [item["id"] for item in kinds["dead_letters"]["items"]] == [letter.id]
    assert kinds["incomplete"]["count"] == kinds["unsent"]["count"] == 0  # the failed row is closed, not open

    listed = cli(container, "tasks", "dead-letters", "--json")
    assert listed.returncode == 0, listed.stderr
    [shown] = json.loads(listed.stdout)
    assert (shown["id"], shown["task"], shown["payload"]) == (letter.id, letter.task, letter.payload)

    retried = cli(container, "tasks", "retry", str(letter.id))
    assert retried.returncode == 0, retried.stderr
    # Re-queued: the worker takes it again, fails again through all its retries, and dead-letters it anew.
    first, second = wait_for(lambda: len(found := dead_letters(container)) == 2 and found, what="a second dead letter")
    assert first.retried_at is not None and second.payload == first.payload and second.retried_at is None
    assert notification(container, notification_id).email_attempts == 12


def test_the_dead_letter_cli_lists_a_table_and_refuses_an_unknown_id_with_exit_2(
    production: Callable[..., Container],
) -> None:
    container = production()
    table = cli(container, "tasks", "dead-letters")
    assert table.returncode == 0, table.stderr
    assert "Dead letters" in table.stdout
    unknown = cli(container, "tasks", "retry", "999")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "specgoods: error: ID: no dead letter 999"
