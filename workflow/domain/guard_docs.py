"""docs/guards.md, rendered from the guard table and the lifecycle tables; no I/O.

Which guard enforces which rule, where the other "must have happened before" rules are enforced, and why some
states wait on one role.
"""

from __future__ import annotations

from workflow.domain.guards import Guard, RequiredGuard
from workflow.domain.lifecycle_check import LifecycleTables, spec_of


def render_guard_doc(tables: LifecycleTables | None = None) -> str:
    """docs/guards.md: which guard enforces which rule, where the rest are enforced, and why states may wait."""
    tables = tables or LifecycleTables()
    parts = [
        "<!-- Generated from workflow/domain/guards.py and lifecycle.py by render_guard_doc(); do not edit by hand -->",
        "# Decision guards: which guard enforces which rule",
        _INTRO,
        "## Rule → transition → guard\n\n" + _guard_table(tables),
        _DECISION_FACTS,
        _OVERRIDE,
        _CORRECT,
        _BANS,
        _LABS,
        _ELSEWHERE + "\n\n" + _elsewhere_table(),
        "## States that wait on one role\n\n" + _waiting_table(tables),
        _GAPS,
        _VERIFIED,
    ]
    return "\n\n".join(parts) + "\n"


def _guard_table(tables: LifecycleTables) -> str:
    header = "| Rule | Lifecycle | Trigger | Guard | Refusal | What it checks |\n|---|---|---|---|---|---|"
    return "\n".join([header, *(_guard_row(tables, row) for row in tables.required)])


def _guard_row(tables: LifecycleTables, row: RequiredGuard) -> str:
    spec = spec_of(tables.lifecycles, row.lifecycle, row.trigger)
    guard: Guard | None = None
    if spec is not None:
        guard = next((g for g in spec.guards if g.name == row.guard and g.rule_id == row.rule_id), None)
    refusal = f"`{guard.error.__name__}` ({guard.error.status})" if guard else "—"
    summary = guard.summary if guard else "not attached"
    cells = (row.rule_id, row.lifecycle, f"`{row.trigger}`", f"`{row.guard}`", refusal, summary.replace("|", "\\|"))
    return f"| {' | '.join(cells)} |"


def _elsewhere_table() -> str:
    header = "| Rule | Where | What |\n|---|---|---|"
    return "\n".join([header, *(f"| {rule} | {where} | {what} |" for rule, where, what in _ENFORCED_ELSEWHERE)])


def _waiting_table(tables: LifecycleTables) -> str:
    header = "| Lifecycle | State | Why nothing else is needed |\n|---|---|---|"
    rows = [
        f"| {name} | {state.name} | {reason.replace('|', chr(92) + '|')} |"
        for name, by_state in tables.waiting_reasons.items()
        for state, reason in by_state.items()
    ]
    return "\n".join([header, *rows])


_INTRO = """\
A guard is a named predicate beside a row of a transition table (`TransitionSpec.guards`,
`workflow/domain/lifecycle.py`), tied to the rule it enforces (`workflow/domain/guards.py`). `Lifecycle.fire` runs
a transition's guards, in order, every time its trigger fires, inside the caller's database transaction; the
first refusal raises the guard's error with its rule id in the message and in `rule_id` (the API answers
problem+json with that rule id: 422 for `GuardFailed`, 403 for `PermissionDenied`). Whoever fires a trigger
(API, HTML form, CLI, a sweep) therefore meets the same guards. Before any guard runs, the aggregate checks the
role against the row's actors (R11) and the state against its sources (409 `InvalidTransition`).

`REQUIRED_GUARDS` in `workflow/domain/guards.py` says which guard each rule needs on which transition. The table
below is rendered from it and from the transition tables."""

_DECISION_FACTS = """\
## Decision facts, read in the deciding transaction

Some rules depend on facts outside the application aggregate: whether a risk assessment is required, and where
the latest one stands. `grant_application` (`workflow/service/handlers.py`) reads them as `DecisionFacts` in the
same transaction that fires `grant`, after loading the application: the assessment is required when the grade
about to be decided requires one under the file's policy, or when the screening said so (R32; grade A as the
profile says), and `uow.assessments.standing` gives the latest assessment's outcome (open, pass, correct,
reject) and whether the head overrode a rejection. `risk_assessment_concluded` (R32) refuses a grant while a
required assessment is missing, open or asked for more documents; an entity-level assessment reused under R63
concludes with a pass at once and satisfies it. `panel_rejection_overridden` (A8) refuses a grant while a panel's
rejection stands. Referral (`refer_assessment`) reads the standing the same way, so a rejected file is not sent
to another panel (`no_standing_rejection`). The facts are never stored on the application: a grant without
them is refused."""

_OVERRIDE = """\
## The head's override of a panel rejection (A8)

A panel that concludes **reject** leaves the file UNDER_REVIEW, where the decider may deny it. Grant stays
impossible until the head fires `override_assessment` (command `OverrideAssessment`, `POST
/api/v1/applications/<id>/override-assessment`) with a written reason. It is an internal transition (the state
stays UNDER_REVIEW) guarded by `panel_rejected` (there is a standing rejection to override, and it was not
overridden already) and `reason_written` (A8). It is recorded as its own audit event `override_assessment` on
the application, with the assessment id and the reason; the override is also kept on the assessment row, and the
reviewer and the district's deciders are notified. Reviewers, deciders and auditors see it in the application's
trail."""

_CORRECT = """\
## "Needs more documents" (补正材料) leads to a correction notice

A panel outcome of **correct** fires `assessment_correction` (RISK_ASSESSMENT → CORRECTION_REQUESTED, A8 with
R17) instead of `assessment_done`: the applicant answers as for a correction notice (`resubmit`), the file is
accepted and reviewed again, and the paused clock of the old submission is never resumed. The assessment's
standing stays "correct" until a new one concludes, so `risk_assessment_concluded` refuses the grant until the
corrected file has been assessed again."""

_BANS = """\
## Applicant bans (R26), found unguarded and now guarded at submission

DOMAIN.md A1 says a submission needs "no active ban (R26)" and C6 that a revocation for fraud sets one; neither
existed. A denial may now record that the applicant gave false or concealed information (`false_information`:
barred for one year) and a revocation that the licence was obtained by fraud or bribery (`fraud`: three years).
The ban is a dated row (`applicant_bans`) written in the deciding transaction, recorded in that decision's audit
event (rule ids R25/R26 or W9/R26, with the ground and the last day), and read by `applicant_not_banned` on
`submit` and `resubmit` on the day of submission. A ban is the enterprise's alone, and ends on the day before the
anniversary of the decision."""

_LABS = """\
## The user lab against the goods (R9(b), R14, R62)

`grant_application` also reads the filing enterprise's laboratories in the deciding transaction and compares each
pathogen line's named lab with the goods on the day of the decision (workflow/domain/biosafety.py): the profile's
minimum level for the pathogen class and category, accreditation from BSL-3 up, the district officer's verification
and the validity. Each mismatch is a sentence in `DecisionFacts.lab_findings`; `lab_matches_goods` (R62) refuses the
grant while there is one, and refuses it when the labs were not read. The same comparison is the screening's
`biosafety` decision and a named deficiency of the correction notice ([biosafety.md](biosafety.md))."""

_GAPS = """\
## Known gaps, decided and left

- C5 says a destination officer *proposes* a withdrawal and a decider *confirms* it. Here either may withdraw
  directly (a failed follow-up withdraws at once, D9): a two-step proposal is a new state nobody asked to track yet.
- R76 (Order 281's access approval for first high-risk imports) has no profile data yet (see
  config/policies/gacc-2026.toml), so nothing can require it.
- The sweeps (`ExpireCertificates`, `ExhaustUsedUp`, `DeemAcceptances`, ...) have no door: only beat sends them."""

_ELSEWHERE = """\
## Rules enforced outside the transition guards

These "must have happened before" rules need inputs the guard signature does not carry (documents, dates, the
ledger), so the code that has those inputs enforces them, in the same transaction, before the trigger fires:"""

_VERIFIED = """\
## How this is verified

`specgoods lifecycles check` (run by `scripts/test`) proves from the tables that every state is reachable, every
non-terminal state can reach a terminal one, every state that waits on one role has an exit another role or the
system can fire or a reason above, every transition names the roles that may fire it, and every row of
`REQUIRED_GUARDS` is attached (and every attached guard has a row). It exits 1 on a violation.
`tests/unit/test_lifecycle_check.py` seeds each kind of fault into a copy of a table and expects it caught;
`tests/integration/test_guard_sweep.py` fires every trigger from every state that forbids it and by every role
that may not fire it, through the bus and over HTTP, and checks that nothing changes."""

_ENFORCED_ELSEWHERE = (
    (
        "R12–R16",
        "`Application.submit` (`workflow/domain/model.py`)",
        "Every mandatory document for the goods is attached before `submit`.",
    ),
    (
        "R17",
        "`Application.request_correction`",
        "The one correction notice is issued within 5 working days of receipt; later the file counts as accepted.",
    ),
    (
        "R17",
        "`deem_acceptances` sweep (`workflow/service/review.py`)",
        "The system accepts only a file with no correction notice whose window has passed.",
    ),
    (
        "R61",
        "`refer_assessment` handler (`workflow/service/review.py`)",
        "A panel is drawn only when the district has the quorum of eligible, unconflicted experts.",
    ),
    (
        "W10",
        "`reactivate_if_quota_back` (`workflow/service/quota.py`)",
        "`reactivate` fires only for a B/C/D certificate with quota back and today ≤ `valid_until`.",
    ),
    (
        "W10",
        "`decide_reversal` (`workflow/service/certificates.py`)",
        "A reversal is approved by a decider other than the officer who asked for it; never on grade A.",
    ),
    (
        "C5–C7",
        "`end_certificate` (`workflow/service/certificates.py`)",
        "Only an officer of the certificate's district ends it (R7); its written reason is a guard above.",
    ),
    (
        "D1",
        "declaration service (`workflow/service/declare.py`)",
        "Only the holder or a port officer of the district declares.",
    ),
    (
        "D2, R39, W2, W4",
        "declaration service and `workflow/domain/ledger.py`",
        "Refused before anything is filed: a date after today or before the profile's window (R39), a line the "
        "certificate lacks (W2), a single-use certificate already held or used (W4). The automatic check (active, "
        "not on hold, valid on the date, direction, ports, quantity) routes any failure to `hold`, never to release.",
    ),
    (
        "C7, R43",
        "`require_not_cancelled` (`workflow/domain/certificate_changes.py`), in the declaration service",
        "A cancelled certificate (on the holder's request) takes no new declaration: refused before anything is "
        "filed, read under the certificate's shared lock, so a cancellation and a declaration serialize.",
    ),
    (
        "R43, C7",
        "`request_change`, `decide_change` (`workflow/service/certificate_changes.py`)",
        "One open request per certificate; only the holder asks and a decider of the district decides, once; an "
        "amendment changes only the fields the profile's `[amendments]` allows, never the validity.",
    ),
    (
        "W6, D2, R49",
        "`Declaration.clear_hold`, `reject`, `fail` (`workflow/domain/declaration.py`)",
        "A port officer's decision on a held or inspected shipment gives a reason.",
    ),
)
