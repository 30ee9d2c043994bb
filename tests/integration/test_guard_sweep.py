"""The guard sweep: every transition, fired from every state that forbids it and by every role that may not fire it.

Through the service bus for the three lifecycles and over HTTP for the application's: each attempt is refused with a
domain error (never a 5xx), and nothing is written — the object's state and version, the audit trail, the ledger,
the outbox and the notifications stay as they were. One object per state is built once per module with the real
commands; refused commands change nothing, so every attempt reuses them.

Then the decision guards (R32, A8) through the bus, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from config.bootstrap import Container, bootstrap
from config.settings import load_settings
from tests.conftest import Cast, FixedClock, ensure_experts, make_cast, pass_risk_assessment
from tests.integration.support import declare, file_application, fx04_ecoli, fx09_hek293, fx10_cytokine, grant
from web import create_app
from workflow.domain import commands as c
from workflow.domain.actors import SYSTEM_ACTOR, Actor, Role
from workflow.domain.assessment import Opinion
from workflow.domain.certificate_changes import ChangeKind, Particulars
from workflow.domain.errors import DomainError, GuardFailed, InvalidTransition, PermissionDenied
from workflow.domain.goods import RiskGrade
from workflow.domain.ledger import Disposal
from workflow.domain.lifecycle import (
    APPLICATION,
    CERTIFICATE,
    DECLARATION,
    AppState,
    CertState,
    DeclState,
    Lifecycle,
)
from workflow.store import api_reads
from workflow.store.accounts import issue_token
from workflow.store.directory import create_user
from workflow.store.migrate import upgrade
from workflow.store.tables import (
    ApplicationRow,
    AuditEventRow,
    CertificateRow,
    DeclarationRow,
    LedgerEntryRow,
    NotificationRow,
    OutboxRow,
    PanelSeatRow,
    RiskAssessmentRow,
)

D = Decimal
Build = Callable[[Actor, int], c.Command]

# -- the doors: each person-fired trigger and the command (or route) that fires it ----------------------------------

APPLICATION_COMMANDS: dict[str, Build] = {
    "submit": lambda a, i: c.SubmitApplication(a, i),
    "request_correction": lambda a, i: c.RequestCorrection(a, i, deficiencies=("the biosafety proof lacks its seal",)),
    "resubmit": lambda a, i: c.ResubmitApplication(a, i),
    "accept": lambda a, i: c.AcceptApplication(a, i),
    "not_accept": lambda a, i: c.NotAcceptApplication(a, i, "outside the district's jurisdiction", ("R18",)),
    "start_review": lambda a, i: c.StartReview(a, i),
    "refer_assessment": lambda a, i: c.ReferAssessment(a, i, "grade B needs a risk assessment (R32)"),
    "extend": lambda a, i: c.ExtendDeadline(a, i, "a site assessment is needed"),
    "override_assessment": lambda a, i: c.OverrideAssessment(a, i, "the panel misread the laboratory's BSL level"),
    "grant": lambda a, i: c.GrantApplication(a, i, "documents complete"),
    "deny": lambda a, i: c.DenyApplication(a, i, "biosafety proof missing; remedies: reconsideration or litigation"),
    "withdraw": lambda a, i: c.WithdrawApplication(a, i, "the order was cancelled"),
}
# The panel's conclusion fires these two; it is swept separately, from the states an assessment can exist in.
PANEL_TRIGGERS = ("assessment_done", "assessment_correction")

APPLICATION_ROUTES: dict[str, tuple[str, dict[str, Any] | None]] = {
    "submit": ("submit", None),
    "request_correction": ("request-correction", {"deficiencies": ["the biosafety proof lacks its seal"]}),
    "resubmit": ("resubmit", None),
    "accept": ("accept", None),
    "not_accept": ("not-accept", {"reason": "outside the district's jurisdiction", "rule_ids": ["R18"]}),
    "start_review": ("start-review", None),
    "refer_assessment": ("refer-assessment", {"reason": "grade B needs a risk assessment (R32)"}),
    "extend": ("extend", {"reason": "a site assessment is needed"}),
    "override_assessment": ("override-assessment", {"reason": "the panel misread the laboratory's BSL level"}),
    "grant": ("grant", {"reason": "documents complete"}),
    "deny": ("deny", {"reason": "biosafety proof missing; remedies: reconsideration or litigation"}),
    "withdraw": ("withdraw", {"reason": "the order was cancelled"}),
}


def _end_certificate(trigger: str) -> Build:
    return lambda a, i: c.EndCertificate(a, i, trigger, "follow-up found a mismatch")


ENDINGS = ("withdraw", "revoke", "cancel")
# (trigger, door, command). Two doors fire `fail`: a failed inspection and a failed laboratory test.
CERTIFICATE_DOORS: tuple[tuple[str, str, Build], ...] = (
    *((trigger, f"end_certificate_{trigger}", _end_certificate(trigger)) for trigger in ENDINGS),
    (
        "request_cancellation",
        "request_cancellation",
        lambda a, i: c.RequestCertificateChange(a, i, ChangeKind.CANCELLATION, "项目终止"),
    ),
    (
        "request_amendment",
        "request_amendment",
        lambda a, i: c.RequestCertificateChange(a, i, ChangeKind.AMENDMENT, "", Particulars(agent="厦门报关行")),
    ),
)
# Fired by deciding a change request (its id, not the certificate's): swept in test_certificate_changes.py.
DECIDED_ON_A_REQUEST = {"amend", "refuse_change"}
DECLARATION_DOORS: tuple[tuple[str, str, Build], ...] = (
    ("clear_hold", "resolve_hold_split", lambda a, i: c.ResolveHold(a, i, "split: the in-quota part goes")),
    ("reject", "resolve_hold_reject", lambda a, i: c.ResolveHold(a, i, "over quantity", split=False)),
    ("pass_inspection", "record_inspection_pass", lambda a, i: c.RecordInspection(a, i, outcome="pass")),
    ("sample", "record_inspection_sample", lambda a, i: c.RecordInspection(a, i, "sampled", outcome="sample")),
    (
        "fail",
        "record_inspection_fail",
        lambda a, i: c.RecordInspection(a, i, "leaking vials", outcome="fail", disposal=Disposal.RETURN),
    ),
    ("lab_pass", "record_lab_pass", lambda a, i: c.RecordLabResult(a, i, passed=True)),
    (
        "fail",
        "record_lab_fail",
        lambda a, i: c.RecordLabResult(a, i, "contaminated", passed=False, disposal=Disposal.DESTROY),
    ),
    ("dispose", "complete_disposal", lambda a, i: c.CompleteDisposal(a, i, "returned to the sender")),
    ("withdraw", "withdraw_declaration", lambda a, i: c.WithdrawDeclaration(a, i, "shipment cancelled")),
    ("follow_up_pass", "report_follow_up_pass", lambda a, i: c.ReportFollowUp(a, i, "all matches")),
    (
        "follow_up_fail",
        "report_follow_up_fail",
        lambda a, i: c.ReportFollowUp(a, i, "the user lab differs", lab_matches=False),
    ),
)

# DECLARED and DOC_CHECKED last only inside the declaring transaction: the check and the route run at once (D2, D3).
TRANSIENT_DECLARATION_STATES = {DeclState.DECLARED, DeclState.DOC_CHECKED}


# -- one object per state, built once ---------------------------------------------------------------------------------


@dataclass
class Sweep:
    container: Container
    clock: FixedClock
    cast: Cast
    actors: dict[Role, Actor]
    applications: dict[AppState, int] = field(default_factory=dict)
    certificates: dict[CertState, int] = field(default_factory=dict)
    declarations: dict[DeclState, int] = field(default_factory=dict)
    tokens: dict[int, str] = field(default_factory=dict)
    client: FlaskClient | None = None

    def handle(self, command: c.Command) -> Any:
        return self.container.bus.handle(command)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sweep]:
    folder = tmp_path_factory.mktemp("guard-sweep")
    url = f"sqlite:///{folder / 'sweep.sqlite3'}"
    upgrade(url)
    clock = FixedClock(date(2016, 6, 1))
    container = bootstrap(load_settings(database_url=url, instance_path=folder / "instance"), clock=clock)
    try:
        yield _build(container, clock)
    finally:
        container.dispose()


def _build(container: Container, clock: FixedClock) -> Sweep:
    cast = make_cast(container)
    ensure_experts(container, "xiamen", 5)
    actors = {**cast.officers, Role.APPLICANT: cast.applicant, Role.SYSTEM: SYSTEM_ACTOR}
    actors |= _users(container, (Role.DEST_OFFICER, "xiamen"), (Role.ADMIN, None))
    world = Sweep(container, clock, cast, actors)
    world.certificates[CertState.EXPIRED] = _expired_certificate(world)  # first: the expiry sweep takes every one due
    world.applications = _applications(world)
    world.certificates |= _certificates(world)
    world.declarations = _declarations(world)
    _open_http(world)
    _assert_built(world)
    return world


def _users(container: Container, *wanted: tuple[Role, str | None]) -> dict[Role, Actor]:
    made = {}
    with container.sessions() as session, session.begin():
        for role, district in wanted:
            user = create_user(
                session,
                username=f"sweep.{role.value}",
                role=role,
                password_hash="",
                now=container.deps.clock.now(),
                district=district,
            )
            made[role] = Actor(user.id, role, user.username, district=district)
    return made


def _reviewed(world: Sweep, *lines: Any) -> int:
    cast = world.cast
    application_id = file_application(world.container, cast, lines or (fx10_cytokine(),))
    for command in (
        c.SubmitApplication(cast.applicant, application_id),
        c.AcceptApplication(cast.acceptor, application_id),
        c.StartReview(cast.reviewer, application_id),
    ):
        world.handle(command)
    return application_id


def _applications(world: Sweep) -> dict[AppState, int]:
    cast, handle = world.cast, world.handle
    ids = {state: file_application(world.container, cast) for state in (AppState.DRAFT, AppState.WITHDRAWN)}
    handle(c.WithdrawApplication(cast.applicant, ids[AppState.WITHDRAWN], "no longer needed"))
    for state in (AppState.SUBMITTED, AppState.CORRECTION_REQUESTED, AppState.NOT_ACCEPTED, AppState.ACCEPTED):
        ids[state] = file_application(world.container, cast)
        handle(c.SubmitApplication(cast.applicant, ids[state]))
    handle(c.RequestCorrection(cast.acceptor, ids[AppState.CORRECTION_REQUESTED], deficiencies=("unsealed proof",)))
    handle(c.NotAcceptApplication(cast.acceptor, ids[AppState.NOT_ACCEPTED], "not special goods", ("R4", "R18")))
    handle(c.AcceptApplication(cast.acceptor, ids[AppState.ACCEPTED]))
    for state in (AppState.UNDER_REVIEW, AppState.RISK_ASSESSMENT, AppState.GRANTED, AppState.DENIED):
        ids[state] = _reviewed(world)
    handle(c.ReferAssessment(cast.reviewer, ids[AppState.RISK_ASSESSMENT], "the lab's BSL proof needs a site visit"))
    handle(c.GrantApplication(cast.decider, ids[AppState.GRANTED], "documents complete"))
    handle(c.DenyApplication(cast.decider, ids[AppState.DENIED], "biosafety proof missing; remedies apply"))
    return ids


def _expired_certificate(world: Sweep) -> int:
    number = grant(world.container, world.cast, fx10_cytokine(100))
    world.clock.today_value = date(2019, 6, 1)  # past any grade's validity (R36–R38)
    try:
        world.handle(c.ExpireCertificates(SYSTEM_ACTOR))
    finally:
        world.clock.today_value = date(2016, 6, 1)
    return _certificate_id(world, number)


def _certificates(world: Sweep) -> dict[CertState, int]:
    numbers = {state: grant(world.container, world.cast, fx10_cytokine(100)) for state in _LIVE_CERTIFICATE_STATES}
    declare(world.container, world.cast, numbers[CertState.EXHAUSTED], 100)  # released: the certificate is used up
    ids = {state: _certificate_id(world, number) for state, number in numbers.items()}
    ended = ((CertState.WITHDRAWN, "withdraw"), (CertState.REVOKED, "revoke"), (CertState.CANCELLED, "cancel"))
    for state, trigger in ended:
        world.handle(c.EndCertificate(world.cast.decider, ids[state], trigger, f"{trigger}: test fixture"))
    return ids


_LIVE_CERTIFICATE_STATES = (
    CertState.ACTIVE,
    CertState.EXHAUSTED,
    CertState.WITHDRAWN,
    CertState.REVOKED,
    CertState.CANCELLED,
)


def _certificate_id(world: Sweep, number: str) -> int:
    with world.container.sessions() as session:
        found = session.scalar(select(CertificateRow.id).where(CertificateRow.certificate_no == number))
    assert found is not None
    return found


def _declarations(world: Sweep) -> dict[DeclState, int]:
    """Grade C for the port's states; grade B entry for follow-up (R53), one certificate for the failure (R56)."""
    container, cast, handle = world.container, world.cast, world.handle
    port = grant(container, cast, fx10_cytokine(1000))
    ids = {DeclState.RELEASED: declare(container, cast, port, 10)["declaration_id"]}
    ids[DeclState.PORT_REVIEW] = declare(container, cast, port, 5000)["declaration_id"]  # over quantity: held (W5)
    ids[DeclState.REJECTED] = declare(container, cast, port, 5000)["declaration_id"]
    handle(c.ResolveHold(cast.port_officer, ids[DeclState.REJECTED], "over quantity", split=False))
    inspected = (DeclState.INSPECTION, DeclState.LAB_HOLD, DeclState.DISPOSAL_ORDERED, DeclState.CLOSED)
    for state in (*inspected, DeclState.WITHDRAWN):
        ids[state] = declare(container, cast, port, 10, inspected=True)["declaration_id"]
    for state in (DeclState.LAB_HOLD, DeclState.DISPOSAL_ORDERED, DeclState.CLOSED):
        handle(c.RecordInspection(cast.port_officer, ids[state], "sampled", outcome="sample"))
    for state in (DeclState.DISPOSAL_ORDERED, DeclState.CLOSED):
        handle(
            c.RecordLabResult(cast.port_officer, ids[state], "contaminated", passed=False, disposal=Disposal.DESTROY)
        )
    handle(c.CompleteDisposal(cast.port_officer, ids[DeclState.CLOSED], "destroyed"))
    handle(c.WithdrawDeclaration(cast.applicant, ids[DeclState.WITHDRAWN], "shipment cancelled"))
    return ids | _follow_ups(world)


def _follow_ups(world: Sweep) -> dict[DeclState, int]:
    container, cast, dest = world.container, world.cast, world.actors[Role.DEST_OFFICER]
    ids = {}
    for state in (DeclState.FOLLOW_UP_PENDING, DeclState.FOLLOW_UP_PASSED, DeclState.FOLLOW_UP_FAILED):
        number = grant(container, cast, fx04_ecoli(100))  # its own certificate: a failure withdraws it (R56)
        ids[state] = declare(container, cast, number, 10, rate=D("0.5"))["declaration_id"]
    world.handle(c.ReportFollowUp(dest, ids[DeclState.FOLLOW_UP_PASSED], "all matches"))
    world.handle(c.ReportFollowUp(dest, ids[DeclState.FOLLOW_UP_FAILED], "user lab differs", lab_matches=False))
    return ids


def _open_http(world: Sweep) -> None:
    world.client = create_app(world.container, {"TESTING": True}).test_client()
    now = world.container.deps.clock.now()
    with world.container.sessions() as session, session.begin():
        for actor in world.actors.values():
            if actor.user_id is not None:
                world.tokens[actor.user_id] = issue_token(session, actor.user_id, "sweep", now, timedelta(days=1)).token


def _assert_built(world: Sweep) -> None:
    """Every state of every lifecycle that persists has its object, in that state."""
    for row, objects in (
        (ApplicationRow, world.applications),
        (CertificateRow, world.certificates),
        (DeclarationRow, world.declarations),
    ):
        for state, object_id in objects.items():
            assert _state_of(world, row, object_id)[0] == state.value, (row.__tablename__, state)
    assert set(world.applications) == set(AppState)
    assert set(world.certificates) == set(CertState)
    assert set(world.declarations) == set(DeclState) - TRANSIENT_DECLARATION_STATES


# -- what "nothing happened" means ----------------------------------------------------------------------------------


def _state_of(world: Sweep, row: Any, object_id: int) -> tuple[str, int]:
    with world.container.sessions() as session:
        found = session.execute(select(row.state, row.version).where(row.id == object_id)).one()
    return found[0], found[1]


def _written(world: Sweep) -> tuple[int, ...]:
    """Counts of every record a transition writes beside the state: audit, ledger, outbox, assessments, notices."""
    tables = (AuditEventRow, LedgerEntryRow, OutboxRow, NotificationRow, RiskAssessmentRow, PanelSeatRow)
    counts = [select(func.count()).select_from(table).scalar_subquery() for table in tables]
    with world.container.sessions() as session:
        return tuple(session.execute(select(*counts)).one())


def _forbidden(lifecycle: Lifecycle[Any], trigger: str, state: Any, role: Role) -> bool:
    spec = lifecycle.spec(trigger)
    return state not in spec.sources or role not in spec.actors


def _refusals(world: Sweep, attempt: Callable[[Role], str | None], roles: list[Role]) -> list[str]:
    """Run `attempt` for each role; it returns a complaint when the attempt was not a clean refusal."""
    return [f"{role}: {complaint}" for role in roles if (complaint := attempt(role)) is not None]


def _bus_refuses(world: Sweep, command: c.Command) -> str | None:
    try:
        world.handle(command)
    except DomainError as refused:
        if refused.status >= 500 or not refused.rule_id:
            return f"refused with {type(refused).__name__} {refused.status}, rule {refused.rule_id!r}"
        return None
    return "succeeded"


def _sweep_bus(
    world: Sweep, lifecycle: Lifecycle[Any], row: Any, trigger: str, build: Build, state: Any, object_id: int
) -> None:
    roles = [role for role in Role if _forbidden(lifecycle, trigger, state, role)]
    before = _state_of(world, row, object_id), _written(world)
    complaints = _refusals(world, lambda role: _bus_refuses(world, build(world.actors[role], object_id)), roles)
    assert complaints == []
    assert (_state_of(world, row, object_id), _written(world)) == before


# -- the sweeps -------------------------------------------------------------------------------------------------------


def test_every_person_fired_transition_has_a_door_in_the_sweep() -> None:
    """Left out, with reason: `reactivate` is fired by the ledger after a reversal or a release (W10), never asked
    for; `release` by a port officer leaves DOC_CHECKED, which no object outlives its declaring transaction in;
    `amend` and `refuse_change` are fired by deciding a change request (test_certificate_changes.py sweeps them)."""
    assert {*APPLICATION_COMMANDS, *PANEL_TRIGGERS} == {spec.trigger for spec in APPLICATION.specs}
    assert set(APPLICATION_ROUTES) == set(APPLICATION_COMMANDS)
    assert {trigger for trigger, _, _ in CERTIFICATE_DOORS} == _fired_by_people(CERTIFICATE) - {
        "reactivate",
        *DECIDED_ON_A_REQUEST,
    }
    assert {trigger for trigger, _, _ in DECLARATION_DOORS} == _fired_by_people(DECLARATION) - {"release"}


def _fired_by_people(lifecycle: Lifecycle[Any]) -> set[str]:
    return {spec.trigger for spec in lifecycle.specs if set(spec.actors) - {Role.SYSTEM}}


@pytest.mark.parametrize("state", list(AppState), ids=str)
@pytest.mark.parametrize("trigger", list(APPLICATION_COMMANDS))
def test_an_application_transition_is_refused_through_the_bus_wherever_it_is_forbidden(
    sweep: Sweep, trigger: str, state: AppState
) -> None:
    build = APPLICATION_COMMANDS[trigger]
    _sweep_bus(sweep, APPLICATION, ApplicationRow, trigger, build, state, sweep.applications[state])


@pytest.mark.parametrize("state", list(AppState), ids=str)
@pytest.mark.parametrize("trigger", list(APPLICATION_ROUTES))
def test_an_application_transition_is_refused_over_http_wherever_it_is_forbidden(
    sweep: Sweep, trigger: str, state: AppState
) -> None:
    application_id = sweep.applications[state]
    path, body = APPLICATION_ROUTES[trigger]
    roles = [role for role in Role if role is not Role.SYSTEM and _forbidden(APPLICATION, trigger, state, role)]
    before = _state_of(sweep, ApplicationRow, application_id), _written(sweep)

    def attempt(role: Role) -> str | None:
        user_id = sweep.actors[role].user_id
        assert sweep.client is not None and user_id is not None
        response = sweep.client.post(
            f"/api/v1/applications/{application_id}/{path}",
            json=body,
            headers={"Authorization": f"Bearer {sweep.tokens[user_id]}"},
        )
        if not 400 <= response.status_code < 500:
            return f"answered {response.status_code}"
        # A role the table allows passes the door; the refusal then comes from the lifecycle and names its rule.
        named = response.get_json().get("rule_id")
        return None if named or role not in APPLICATION.spec(trigger).actors else "refused without a rule id"

    assert _refusals(sweep, attempt, roles) == []
    assert (_state_of(sweep, ApplicationRow, application_id), _written(sweep)) == before


@pytest.mark.parametrize("state", list(CertState), ids=str)
@pytest.mark.parametrize(("trigger", "door", "build"), CERTIFICATE_DOORS, ids=[d for _, d, _ in CERTIFICATE_DOORS])
def test_a_certificate_transition_is_refused_through_the_bus_wherever_it_is_forbidden(
    sweep: Sweep, trigger: str, door: str, build: Build, state: CertState
) -> None:
    _sweep_bus(sweep, CERTIFICATE, CertificateRow, trigger, build, state, sweep.certificates[state])


@pytest.mark.parametrize("state", sorted(set(DeclState) - TRANSIENT_DECLARATION_STATES), ids=str)
@pytest.mark.parametrize(("trigger", "door", "build"), DECLARATION_DOORS, ids=[d for _, d, _ in DECLARATION_DOORS])
def test_a_declaration_transition_is_refused_through_the_bus_wherever_it_is_forbidden(
    sweep: Sweep, trigger: str, door: str, build: Build, state: DeclState
) -> None:
    _sweep_bus(sweep, DECLARATION, DeclarationRow, trigger, build, state, sweep.declarations[state])


@pytest.mark.parametrize("role", [role for role in Role if role is not Role.EXPERT], ids=str)
def test_only_a_seated_expert_gives_the_opinion_that_concludes_an_assessment(sweep: Sweep, role: Role) -> None:
    """assessment_done / assessment_correction (A8) fire only from a panel's conclusion: others are refused."""
    application_id = sweep.applications[AppState.RISK_ASSESSMENT]
    assessment_id = _open_assessment(sweep, application_id)
    before = _state_of(sweep, ApplicationRow, application_id), _written(sweep)

    assert _bus_refuses(sweep, c.SubmitOpinion(sweep.actors[role], assessment_id, Opinion.PASS)) is None
    assert (_state_of(sweep, ApplicationRow, application_id), _written(sweep)) == before


@pytest.mark.parametrize("opinion", [Opinion.PASS, Opinion.CORRECT], ids=str)
def test_withdrawing_a_file_under_assessment_ends_the_assessment_and_no_expert_can_conclude_it(
    sweep: Sweep, opinion: Opinion
) -> None:
    """A12: the withdrawn file's open assessment is cancelled in the same transaction, so no panel is asked,
    reminded or able to fire assessment_done (or assessment_correction) from WITHDRAWN."""
    application_id = _reviewed(sweep)
    started = sweep.handle(c.ReferAssessment(sweep.cast.reviewer, application_id, "grade B (R32)"))
    sweep.handle(c.WithdrawApplication(sweep.cast.applicant, application_id, "the order was cancelled"))
    before = (_state_of(sweep, ApplicationRow, application_id), _written(sweep))

    with pytest.raises(GuardFailed) as refused:
        sweep.handle(c.SubmitOpinion(Actor(started["panel"][0], Role.EXPERT), started["assessment_id"], opinion))

    assert refused.value.rule_id == "A8" and "cancelled" in refused.value.message
    assert (_state_of(sweep, ApplicationRow, application_id), _written(sweep)) == before
    assert before[0] == ("withdrawn", before[0][1])
    with sweep.container.sessions() as session:
        assert (
            session.scalar(select(RiskAssessmentRow.state).where(RiskAssessmentRow.id == started["assessment_id"]))
            == "cancelled"
        )


def test_a_concluded_assessment_takes_no_further_opinion(sweep: Sweep) -> None:
    application_id = _reviewed(sweep, fx09_hek293())  # its own product: no other referral may reuse its pass (R63)
    pass_risk_assessment(sweep.container, sweep.cast.reviewer, application_id)
    with sweep.container.sessions() as session:
        assessment_id = session.scalar(
            select(func.max(RiskAssessmentRow.id)).where(RiskAssessmentRow.application_id == application_id)
        )
    seats = _seats(sweep, assessment_id)
    before = _state_of(sweep, ApplicationRow, application_id), _written(sweep)

    complaints = [
        _bus_refuses(sweep, c.SubmitOpinion(Actor(expert_id, Role.EXPERT), assessment_id, Opinion.REJECT))
        for expert_id in seats
    ]

    assert seats and complaints == [None] * len(seats)
    assert (_state_of(sweep, ApplicationRow, application_id), _written(sweep)) == before


def _open_assessment(world: Sweep, application_id: int) -> int:
    with world.container.sessions() as session:
        found = session.scalar(
            select(RiskAssessmentRow.id).where(
                RiskAssessmentRow.application_id == application_id, RiskAssessmentRow.state == "open"
            )
        )
    assert found is not None
    return found


def _seats(world: Sweep, assessment_id: int) -> list[int]:
    with world.container.sessions() as session:
        return list(session.scalars(select(PanelSeatRow.expert_id).where(PanelSeatRow.assessment_id == assessment_id)))


# -- the decision guards (R32, A8), on both engines ------------------------------------------------------------------


def _under_review_grade_b(container: Container, cast: Cast) -> int:
    application_id = file_application(container, cast, (fx04_ecoli(),))
    for command in (
        c.SubmitApplication(cast.applicant, application_id),
        c.AcceptApplication(cast.acceptor, application_id),
        c.StartReview(cast.reviewer, application_id),
    ):
        container.bus.handle(command)
    return application_id


def _panel_concludes(container: Container, cast: Cast, application_id: int, opinion: Opinion) -> None:
    ensure_experts(container, "xiamen", 5)
    started = container.bus.handle(c.ReferAssessment(cast.reviewer, application_id, "grade B (R32)"))
    for expert_id in started["panel"]:
        if container.bus.handle(c.SubmitOpinion(Actor(expert_id, Role.EXPERT), started["assessment_id"], opinion))[
            "concluded"
        ]:
            return
    pytest.fail("the panel never concluded")


def _application(container: Container, application_id: int) -> tuple[str, int]:
    with container.sessions() as session:
        found = session.execute(
            select(ApplicationRow.state, ApplicationRow.version).where(ApplicationRow.id == application_id)
        ).one()
    return found[0], found[1]


def _certificates_of(container: Container, application_id: int) -> int:
    with container.sessions() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(CertificateRow).where(CertificateRow.application_id == application_id)
            )
            or 0
        )


def _refused(
    container: Container, command: c.ApplicationCommand, error: type[DomainError], rule_id: str
) -> DomainError:
    """The command is refused with `error` naming `rule_id`, and the application is left exactly as it was."""
    before = _application(container, command.application_id)
    with pytest.raises(error) as refused:
        container.bus.handle(command)
    assert refused.value.rule_id == rule_id
    assert error is not GuardFailed or f"({rule_id})" in refused.value.message
    assert _application(container, command.application_id) == before
    return refused.value


def test_r32_a_grade_b_application_is_not_granted_without_a_concluded_assessment(
    container: Container, cast: Cast
) -> None:
    application_id = _under_review_grade_b(container, cast)

    refusal = _refused(container, c.GrantApplication(cast.decider, application_id, "granted"), GuardFailed, "R32")

    assert "risk assessment is required" in refusal.message
    assert _certificates_of(container, application_id) == 0


def test_r32_a_lower_grade_set_by_hand_does_not_skip_the_assessment(container: Container, cast: Cast) -> None:
    application_id = _under_review_grade_b(container, cast)

    _refused(container, c.GrantApplication(cast.decider, application_id, "granted", RiskGrade.C), GuardFailed, "R32")

    assert _certificates_of(container, application_id) == 0


def test_r32_nor_while_its_assessment_is_open(container: Container, cast: Cast) -> None:
    application_id = _under_review_grade_b(container, cast)
    ensure_experts(container, "xiamen", 5)
    container.bus.handle(c.ReferAssessment(cast.reviewer, application_id, "grade B (R32)"))

    _refused(container, c.GrantApplication(cast.decider, application_id, "granted"), InvalidTransition, "A10")

    assert _application(container, application_id)[0] == "risk_assessment"
    assert _certificates_of(container, application_id) == 0


def test_a8_a_panel_rejection_blocks_grant_until_the_head_overrides_it_in_writing(
    container: Container, cast: Cast
) -> None:
    application_id = _under_review_grade_b(container, cast)
    _panel_concludes(container, cast, application_id, Opinion.REJECT)
    grant_it = c.GrantApplication(cast.decider, application_id, "granted")

    assert "panel rejected" in _refused(container, grant_it, GuardFailed, "A8").message
    _refused(container, c.OverrideAssessment(cast.decider, application_id, "I disagree"), PermissionDenied, "R11")
    _refused(container, c.OverrideAssessment(cast.head, application_id, "  "), GuardFailed, "A8")
    _refused(container, c.ReferAssessment(cast.reviewer, application_id, "another panel"), GuardFailed, "A8")

    container.bus.handle(c.OverrideAssessment(cast.head, application_id, "the panel misread the lab's BSL level"))
    _refused(container, c.OverrideAssessment(cast.head, application_id, "again"), GuardFailed, "A8")
    certificate_id = container.bus.handle(grant_it)

    assert certificate_id and _application(container, application_id)[0] == "granted"
    with container.sessions() as session:
        trail = api_reads.audit_trail(session, "application", application_id)
    overrides = [event for event in trail if event["trigger"] == "override_assessment"]
    assert [(e["actor"]["role"], e["reason"], e["from"], e["to"]) for e in overrides] == [
        ("head", "the panel misread the lab's BSL level", "under_review", "under_review")
    ]
    assert "A8" in overrides[0]["rule_ids"]


def test_a8_a_panel_asking_for_more_documents_sends_the_file_to_correction_and_grant_waits_for_a_new_assessment(
    container: Container, cast: Cast
) -> None:
    application_id = _under_review_grade_b(container, cast)
    _panel_concludes(container, cast, application_id, Opinion.CORRECT)
    assert _application(container, application_id)[0] == "correction_requested"

    for command in (
        c.ResubmitApplication(cast.applicant, application_id),
        c.AcceptApplication(cast.acceptor, application_id),
        c.StartReview(cast.reviewer, application_id),
    ):
        container.bus.handle(command)
    refusal = _refused(container, c.GrantApplication(cast.decider, application_id, "granted"), GuardFailed, "R32")
    assert "more documents" in refusal.message

    _panel_concludes(container, cast, application_id, Opinion.PASS)
    assert container.bus.handle(c.GrantApplication(cast.decider, application_id, "granted"))
    assert _application(container, application_id)[0] == "granted"
