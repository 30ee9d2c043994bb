"""Who may do what, once: every action mapped to the roles that may do it, and whose objects they may touch.

Every door asks `may` before it builds a command — the API guard (web/authz.py), the HTML routes (web/ui/auth.py)
and, through the bus, the CLI — and the aggregate asks `require` again inside the transaction (indico's
`can_judge`). An action that fires lifecycle transitions takes its roles from those rows of the transition tables
(`TransitionSpec.actors`); only actions that are no transition list their roles here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol

from workflow.domain.actors import Actor, Role
from workflow.domain.errors import PermissionDenied
from workflow.domain.lifecycle import APPLICATION, CERTIFICATE, DECLARATION, Lifecycle


class Action(StrEnum):
    """What a person asks a door to do; the value is `<object>.<verb>`, the verb a trigger where there is one."""

    CREATE_APPLICATION = "application.create"
    REVISE_APPLICATION = "application.revise"
    ATTACH_DOCUMENT = "application.attach_document"
    REMOVE_DOCUMENT = "application.remove_document"
    SUBMIT = "application.submit"
    RESUBMIT = "application.resubmit"
    WITHDRAW_APPLICATION = "application.withdraw"
    ACCEPT = "application.accept"
    REQUEST_CORRECTION = "application.request_correction"
    NOT_ACCEPT = "application.not_accept"
    START_REVIEW = "application.start_review"
    REFER_ASSESSMENT = "application.refer_assessment"
    EXTEND = "application.extend"
    OVERRIDE_ASSESSMENT = "application.override_assessment"
    GRANT = "application.grant"
    DENY = "application.deny"
    REVIEW_OPINION = "application.review_opinion"
    CLAIM = "application.claim"
    UNCLAIM = "application.unclaim"
    REASSIGN = "application.reassign"
    GIVE_OPINION = "assessment.give_opinion"
    DECLARE = "declaration.declare"
    RECORD_INSPECTION = "declaration.record_inspection"
    RECORD_LAB_RESULT = "declaration.record_lab_result"
    RESOLVE_HOLD = "declaration.resolve_hold"
    COMPLETE_DISPOSAL = "declaration.complete_disposal"
    WITHDRAW_DECLARATION = "declaration.withdraw"
    REPORT_FOLLOW_UP = "declaration.report_follow_up"
    CANCEL_CERTIFICATE = "certificate.cancel"
    REVOKE_CERTIFICATE = "certificate.revoke"
    WITHDRAW_CERTIFICATE = "certificate.withdraw"
    REQUEST_CERTIFICATE_CHANGE = "certificate.request_change"
    DECIDE_CERTIFICATE_CHANGE = "certificate_change.decide"
    START_REPLACEMENT = "certificate.start_replacement"
    REQUEST_REVERSAL = "write_off.request_reversal"
    DECIDE_REVERSAL = "reversal.decide"
    REGISTER_ENTERPRISE = "enterprise.register"
    UPDATE_ENTERPRISE = "enterprise.update_profile"
    ADD_ENTERPRISE_USER = "enterprise.add_user"
    CHANGE_ENTERPRISE_USER = "enterprise.change_user"
    MAINTAIN_LAB = "laboratory.maintain"
    VERIFY_LAB = "laboratory.verify"
    MARK_NOTIFICATION_READ = "notification.mark_read"
    READ_AUDIT = "audit.read"
    DOWNLOAD_CERTIFICATE = "certificate.download"
    RECORD_CREDIT_CHANGE = "credit.record_change"
    RECORD_VIOLATION_CASE = "credit.record_violation"
    READ_CREDIT = "credit.read"


@dataclass(frozen=True)
class Permission:
    """The roles that may do an action; `writes` is False for reads and for one's own inbox (auditors may)."""

    roles: frozenset[Role]
    writes: bool = True
    triggers: tuple[str, ...] = ()  # the lifecycle triggers the roles come from, for the docs


EVERYONE = frozenset(Role) - {Role.SYSTEM}
QUEUE_OFFICERS = frozenset({Role.ACCEPTOR, Role.REVIEWER, Role.DECIDER, Role.HEAD})
ENTERPRISE_MANAGERS = frozenset({Role.APPLICANT, Role.ADMIN})  # the service then checks the enterprise's admin


def _fired(lifecycle: Lifecycle[Any], *triggers: str) -> Permission:
    """People who may fire every one of `triggers`; the system's own transitions are nobody's to ask for."""
    roles = frozenset(role for trigger in triggers for role in lifecycle.spec(trigger).actors) - {Role.SYSTEM}
    return Permission(roles, triggers=tuple(f"{lifecycle.name}.{trigger}" for trigger in triggers))


def _listed(*roles: Role, writes: bool = True) -> Permission:
    return Permission(frozenset(roles), writes)


_APPLICATION_TRIGGERS = {
    Action.SUBMIT: "submit",
    Action.RESUBMIT: "resubmit",
    Action.WITHDRAW_APPLICATION: "withdraw",
    Action.ACCEPT: "accept",
    Action.REQUEST_CORRECTION: "request_correction",
    Action.NOT_ACCEPT: "not_accept",
    Action.START_REVIEW: "start_review",
    Action.REFER_ASSESSMENT: "refer_assessment",
    Action.EXTEND: "extend",
    Action.OVERRIDE_ASSESSMENT: "override_assessment",
    Action.GRANT: "grant",
    Action.DENY: "deny",
}

PERMISSIONS: Mapping[Action, Permission] = MappingProxyType(
    {
        **{action: _fired(APPLICATION, trigger) for action, trigger in _APPLICATION_TRIGGERS.items()},
        Action.CREATE_APPLICATION: _listed(Role.APPLICANT),
        Action.REVISE_APPLICATION: _listed(Role.APPLICANT),
        Action.ATTACH_DOCUMENT: _listed(Role.APPLICANT),
        Action.REMOVE_DOCUMENT: _listed(Role.APPLICANT),
        # The reviewer's written opinion for the decider: audited, no transition (A6).
        Action.REVIEW_OPINION: _listed(Role.REVIEWER),
        # The panel's last opinion concludes it: back to review, or to the applicant for more documents (A8).
        Action.GIVE_OPINION: _fired(APPLICATION, "assessment_done", "assessment_correction"),
        Action.CLAIM: Permission(QUEUE_OFFICERS),
        Action.UNCLAIM: Permission(QUEUE_OFFICERS),
        Action.REASSIGN: _listed(Role.HEAD),
        Action.DECLARE: _listed(Role.APPLICANT, Role.PORT_OFFICER),
        Action.RECORD_INSPECTION: _fired(DECLARATION, "pass_inspection", "sample", "fail"),
        Action.RECORD_LAB_RESULT: _fired(DECLARATION, "lab_pass", "fail"),
        Action.RESOLVE_HOLD: _fired(DECLARATION, "clear_hold", "reject"),
        Action.COMPLETE_DISPOSAL: _fired(DECLARATION, "dispose"),
        Action.WITHDRAW_DECLARATION: _fired(DECLARATION, "withdraw"),
        Action.REPORT_FOLLOW_UP: _fired(DECLARATION, "follow_up_pass", "follow_up_fail"),
        Action.CANCEL_CERTIFICATE: _fired(CERTIFICATE, "cancel"),
        Action.REVOKE_CERTIFICATE: _fired(CERTIFICATE, "revoke"),
        Action.WITHDRAW_CERTIFICATE: _fired(CERTIFICATE, "withdraw"),
        # R43 / C7: the holder asks, a decider of the district approves (cancel, amend) or refuses.
        Action.REQUEST_CERTIFICATE_CHANGE: _fired(CERTIFICATE, "request_cancellation", "request_amendment"),
        Action.DECIDE_CERTIFICATE_CHANGE: _fired(CERTIFICATE, "cancel", "amend", "refuse_change"),
        # R43: a substantive change is a new application, pre-filled from the certificate; granted, it supersedes it.
        Action.START_REPLACEMENT: _listed(Role.APPLICANT),
        Action.REQUEST_REVERSAL: _listed(Role.PORT_OFFICER),
        Action.DECIDE_REVERSAL: _listed(Role.DECIDER),
        Action.REGISTER_ENTERPRISE: _listed(Role.ADMIN),
        Action.UPDATE_ENTERPRISE: Permission(ENTERPRISE_MANAGERS),
        Action.ADD_ENTERPRISE_USER: Permission(ENTERPRISE_MANAGERS),
        Action.CHANGE_ENTERPRISE_USER: Permission(ENTERPRISE_MANAGERS),
        # R9(b)/R14/R62: the enterprise's admin keeps its labs; an officer of the district verifies the evidence.
        Action.MAINTAIN_LAB: Permission(ENTERPRISE_MANAGERS),
        Action.VERIFY_LAB: Permission(QUEUE_OFFICERS),
        Action.MARK_NOTIFICATION_READ: Permission(EVERYONE, writes=False),
        Action.READ_AUDIT: _listed(Role.AUDITOR, Role.HEAD, Role.ADMIN, writes=False),
        # The certificate PDF: for its holder, the port that writes it off and the auditor (issue 16, item 5).
        Action.DOWNLOAD_CERTIFICATE: _listed(Role.APPLICANT, Role.PORT_OFFICER, Role.AUDITOR, writes=False),
        # R72–R74 (docs/credit.md): a credit change is a decision with legal effect, the decider's or the head's; a
        # violation case is a reference to a case decided elsewhere, which the reviewer may enter too. Auditors read.
        Action.RECORD_CREDIT_CHANGE: _listed(Role.DECIDER, Role.HEAD),
        Action.RECORD_VIOLATION_CASE: _listed(Role.REVIEWER, Role.DECIDER, Role.HEAD),
        Action.READ_CREDIT: Permission(EVERYONE - {Role.EXPERT}, writes=False),
    }
)


class Scoped(Protocol):
    """Anything owned by an enterprise in a district: an aggregate, a row's owner."""

    @property
    def enterprise_id(self) -> int | None: ...

    @property
    def district(self) -> str | None: ...


def roles_for(action: Action) -> frozenset[Role]:
    return PERMISSIONS[action].roles


def role_may(role: Role, action: Action) -> bool:
    return role in PERMISSIONS[action].roles


def in_scope(actor: Actor, owned: Scoped) -> bool:
    """Applicants touch their own enterprise's objects; officers their district's; district-less users all."""
    if actor.role is Role.APPLICANT:
        return actor.enterprise_id is not None and owned.enterprise_id == actor.enterprise_id
    return actor.district is None or owned.district == actor.district


def may(actor: Actor, action: Action, owned: Scoped | None = None) -> bool:
    """The one question every door asks: whether this actor may do this, to this object if one is named."""
    return role_may(actor.role, action) and (owned is None or in_scope(actor, owned))


# C5–C7: the certificate's ending triggers and the action each door asks about.
ENDING_ACTIONS: Mapping[str, Action] = MappingProxyType(
    {"cancel": Action.CANCEL_CERTIFICATE, "revoke": Action.REVOKE_CERTIFICATE, "withdraw": Action.WITHDRAW_CERTIFICATE}
)


CREDIT_ACTIONS = frozenset({Action.RECORD_CREDIT_CHANGE, Action.RECORD_VIOLATION_CASE})


def may_record_credit(actor: Actor, action: Action, enterprise: Scoped) -> bool:
    """R72–R74: only officers of the enterprise's own district record its credit events; no district-less user does."""
    return action in CREDIT_ACTIONS and may(actor, action, enterprise) and actor.district == enterprise.district


def require(actor: Actor, action: Action) -> None:
    """The role question asked again inside the transaction; the aggregate checks its own scope rules after."""
    if not role_may(actor.role, action):
        roles = ", ".join(sorted(role.value for role in roles_for(action)))
        raise PermissionDenied(f"{action.value} is for {roles}, not {actor.role.value}", rule_id="R11")
