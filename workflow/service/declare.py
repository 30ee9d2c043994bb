"""Declaring shipments (D1–D3, D6): one declaration, or an atomic batch of them, in one transaction.

A single declaration is a batch of one: both take the same steps, and each step is one set-based statement over
the whole batch — read the cited certificates under a shared lock, drawing the ids of the rows to write (whoever may
not declare against one is refused before anything else is looked at), judge and route every item in the order
given (a later item sees the quota an earlier one drew), insert the declarations, their lines, the ledger rows (each
commit queued for its receipt, which the receipt sequencer signs after the commit) and the audit events together,
and draw every line in one guarded UPDATE. A batch of fifty therefore costs about as many statements as one
declaration, which is how a port's feed keeps pace with a raw write-off (docs/performance.md). Either every
declaration of a batch is filed or none is.

A number already filed is found by its unique key: the first attempt inserts without looking numbers up (nearly every
number is new), and a key violation — or any refusal — sends the request round again, this time looking the numbers
up first, so a number already filed replays and is never judged again.

A declaration number is unique per enterprise (the certificate's holder), not across the deployment: a number is
looked up only among the declarations of the enterprise whose certificate the item cites, after D1 let the caller
declare against it. So a replay is answered only to those who may declare for that enterprise, and another
enterprise's number is neither confirmed nor reserved (docs/ledger.md, "Idempotency").
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from workflow.domain import commands as c
from workflow.domain.actors import Actor, Role
from workflow.domain.certificate_changes import require_not_cancelled
from workflow.domain.declaration import Declaration, check_declared_on
from workflow.domain.errors import (
    ConcurrencyConflict,
    DomainError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RetryableConflict,
)
from workflow.domain.goods import WriteOffMode
from workflow.domain.ledger import (
    CertificateFacts,
    LineBalance,
    Requested,
    check_declaration,
    parse_requested,
    require_cited_lines,
    require_single_use_free,
)
from workflow.service.idempotency import Outcome, request_hash, run_idempotent
from workflow.service.notify import tell_holders
from workflow.service.ports import Dependencies, UnitOfWork
from workflow.service.quota import claim_single_use, draw_all, exhaust_checks
from workflow.service.routing import declaration_view, route_declaration

MAX_BATCH = 500  # a feed's burst; larger requests are split by the sender, so one transaction stays short


@dataclass(frozen=True)
class Item:
    """One declaration of a request, parsed before any transaction starts."""

    command: c.DeclareShipment
    requested: tuple[Requested, ...]
    fingerprint: str
    where: str  # "" alone, "declarations[3]." in a batch: the prefix of the field an error in this item names

    @property
    def number(self) -> str:
        return self.command.declaration_no


def declare_shipment(cmd: c.DeclareShipment, deps: Dependencies) -> dict[str, Any]:
    """D1–D3 (and D6 when no inspection is drawn): check, route, reserve and, if released, commit."""
    item = _item(cmd, "")
    work = _attempts(deps, cmd.actor, [item], lambda views: views[0])
    return run_idempotent(deps, cmd, cmd.idempotency_key, work, item.fingerprint)


def declare_shipments(cmd: c.DeclareShipments, deps: Dependencies) -> dict[str, Any]:
    """A batch of declarations, each judged as if alone and in order; all are filed or none is."""
    if not 1 <= len(cmd.declarations) <= MAX_BATCH:
        raise InvalidInput(f"a batch holds 1 to {MAX_BATCH} declarations", field="declarations")
    items = [_item(shipment, f"declarations[{index}].") for index, shipment in enumerate(cmd.declarations)]
    _refuse_repeated_numbers(items)
    fingerprint = hashlib.sha256(" ".join(item.fingerprint for item in items).encode()).hexdigest()
    work = _attempts(deps, cmd.actor, items, lambda views: {"declarations": views})
    return run_idempotent(deps, cmd, cmd.idempotency_key, work, fingerprint)


def _attempts(
    deps: Dependencies, actor: Actor, items: Sequence[Item], shape: Callable[[list[Any]], Any]
) -> Callable[[UnitOfWork], Outcome]:
    """The transaction, first optimistic, then — run again after losing a race — careful.

    Optimistic: balances are read without locking the lines, so a hot line's lock is held only from the UPDATE to
    the commit, and numbers are not looked up (an already filed one fails the insert). Near the end of a quota,
    other write-offs may take it between the read and the UPDATE every time; the careful attempt looks the numbers
    up and locks the cited lines before reading them, so it replays what was filed and cannot lose that race again.
    """
    attempts = itertools.count()

    def work(uow: UnitOfWork) -> Outcome:
        return _file(uow, deps, actor, items, shape, careful=next(attempts) > 0)

    return work


def _item(cmd: c.DeclareShipment, where: str) -> Item:
    with _pointing_at(where):
        requested = parse_requested(cmd.lines)
        if not cmd.declaration_no.strip():
            raise InvalidInput("a declaration number is required", field="declaration_no")
    return Item(cmd, requested, request_hash(cmd), where)


def _refuse_repeated_numbers(items: Sequence[Item]) -> None:
    seen: set[str] = set()
    for item in items:
        if item.number in seen:
            raise InvalidInput(
                f"{item.where.rstrip('.')}: declaration {item.number} appears twice in this batch",
                field=f"{item.where}declaration_no",
            )
        seen.add(item.number)


@contextmanager
def _pointing_at(where: str) -> Iterator[None]:
    """An error about one item of a batch names it: `declarations[3].certificate_no`, 'declarations[3]: …'."""
    try:
        yield
    except DomainError as error:
        if where:
            error.field = f"{where}{error.field or ''}".rstrip(".")
            error.message = f"{where.rstrip('.')}: {error.message}"
            error.args = (error.message,)
        raise


# -- the transaction -------------------------------------------------------------------------------------------------


def _file(
    uow: UnitOfWork,
    deps: Dependencies,
    actor: Actor,
    items: Sequence[Item],
    shape: Callable[[list[Any]], Any],
    careful: bool = False,
) -> Outcome:
    """Judge, insert and draw every new declaration; replay the ones their enterprise already filed."""
    # The ids of everything the request may write come with the read, so it is all written in one statement.
    entries = sum(2 * len(item.requested) for item in items)  # a released line: its reservation and its commit
    numbers = [item.command.certificate_no for item in items]
    certificates, ids = uow.ledger.share_certificates_drawing_ids(numbers, len(items), entries)
    # The first attempt does not look the numbers up: a number already filed fails the insert on its unique key,
    # and the attempt after it looks up and replays. New numbers, nearly all of them, save the round trip.
    existing = (
        _already_filed(uow, actor, certificates, items) if careful else _owners_checked(actor, certificates, items)
    )
    fresh = [item for item in items if item.number not in existing]
    if careful and fresh:
        certificates = _lines_locked(uow, certificates, [item.command.certificate_no for item in fresh])
    filed: dict[str, tuple[Item, Declaration, CertificateFacts]] = {}
    for item in fresh:
        with _pointing_at(item.where), _looked_up_before_refusing(careful):
            certificate = certificates[item.command.certificate_no]
            declaration = _judge(uow, deps, actor, item, certificate)
        certificates[certificate.certificate_no] = _drawn_down(certificate, declaration)
        filed[item.number] = (item, declaration, certificate)
    exhaust: set[int] = set()
    if filed:
        rows = [(declaration, _line_ids(cert), item.fingerprint) for item, declaration, cert in filed.values()]
        tell_holders(uow, [row[0] for row in rows])  # held or inspected ones only; before add_many takes them
        uow.declarations.add_many(rows, actor.user_id, ids)
        drawings = [(cert, declaration) for _, declaration, cert in filed.values() if declaration.drawn]
        exhaust = draw_all(uow, drawings, actor, ids.entries)
    views = [
        declaration_view(filed[item.number][1]) if item.number in filed else _replay(uow, item, existing[item.number])
        for item in items
    ]
    after = (lambda: exhaust_checks(deps, exhaust)) if exhaust else None
    return Outcome(shape(views), bool(filed), after)


def _lines_locked(
    uow: UnitOfWork, certificates: dict[str, CertificateFacts], numbers: list[str]
) -> dict[str, CertificateFacts]:
    """The certificates read again after locking all the lines of those the new declarations draw on."""
    cited = {number: certificates[number] for number in numbers}
    uow.ledger.lock_lines([line.line_id for facts in cited.values() for line in facts.lines.values()])
    return {**certificates, **uow.ledger.share_certificates(list(cited))}


def _already_filed(
    uow: UnitOfWork, actor: Actor, certificates: dict[str, CertificateFacts], items: Sequence[Item]
) -> dict[str, tuple[int, str]]:
    """The id and request hash of each item's number that its enterprise already filed (a number is once a batch)."""
    owned = [(_owner(actor, certificates, item), item.number) for item in items]
    return {number: found for (_, number), found in uow.declarations.find_many(owned).items()}


def _owners_checked(
    actor: Actor, certificates: dict[str, CertificateFacts], items: Sequence[Item]
) -> dict[str, tuple[int, str]]:
    """D1 for every item, without looking any number up: nothing is known to be filed yet."""
    for item in items:
        _owner(actor, certificates, item)
    return {}


@contextmanager
def _looked_up_before_refusing(looked_up: bool) -> Iterator[None]:
    """A refusal stands only once the number was looked up: a number already filed replays instead of being judged."""
    try:
        yield
    except DomainError as error:
        if looked_up or isinstance(error, RetryableConflict):
            raise
        raise RetryableConflict("refused before its number was looked up; looking it up") from error


def _owner(actor: Actor, certificates: dict[str, CertificateFacts], item: Item) -> int:
    """The enterprise whose numbers the item's number is one of: its certificate's holder, once D1 lets the actor in.

    Asked before any number is looked up, so a refusal says nothing about which numbers exist.
    """
    with _pointing_at(item.where):
        certificate = _cited(certificates, item.command.certificate_no)
        _require_may_declare(actor, certificate)
    return certificate.enterprise_id


def _cited(certificates: dict[str, CertificateFacts], certificate_no: str) -> CertificateFacts:
    certificate = certificates.get(certificate_no)
    if certificate is None:
        raise NotFound(f"no certificate {certificate_no}", field="certificate_no")
    return certificate


def _judge(
    uow: UnitOfWork,
    deps: Dependencies,
    actor: Actor,
    item: Item,
    certificate: CertificateFacts,
) -> Declaration:
    """D2 (the documents) and, when they pass, D3 (the route) and W4's one use; D1 was asked by `_owner`.

    Refused before anything is filed: a date the port could not have accepted (R39), a line the certificate does
    not have (W2), a single-use certificate already held or used (W4), a cancelled certificate (C7).
    """
    cmd = item.command
    today = deps.clock.today(certificate.district)
    window = deps.policies.policy_for(certificate.district, today).declaration.backdating_days
    check_declared_on(cmd.declared_on, today, window)
    require_not_cancelled(certificate.state, certificate.certificate_no)  # C7: cancelled, nothing more is filed
    require_cited_lines(certificate, item.requested)
    require_single_use_free(certificate)
    declaration = Declaration(
        declaration_no=cmd.declaration_no,
        certificate_id=certificate.id,
        enterprise_id=certificate.enterprise_id,
        district=certificate.district,
        port=cmd.port,
        declared_on=cmd.declared_on,
        lines=list(item.requested),
        policy_id=certificate.policy_id,
    )
    declaration.record_declared(actor)
    failures = check_declaration(certificate, cmd.declared_on, cmd.direction, item.requested, cmd.port)
    declaration.check(failures)
    if not failures:
        declaration.drawn = {requested.line_no: requested.qty for requested in item.requested}
        route_declaration(uow, deps, certificate, declaration)  # the holder's credit came with the certificate
        claim_single_use(uow, certificate)
    return declaration


def _require_may_declare(actor: Actor, certificate: CertificateFacts) -> None:
    """D1: the holder (or its agent) declares, or a port officer of the district on its behalf."""
    if actor.role is Role.APPLICANT and actor.enterprise_id == certificate.enterprise_id:
        return
    if actor.role is Role.PORT_OFFICER and actor.district in (None, certificate.district):
        return
    raise PermissionDenied("only the certificate holder or a port officer may declare against it", rule_id="D1")


def _drawn_down(certificate: CertificateFacts, declaration: Declaration) -> CertificateFacts:
    """The certificate as the batch's next item must see it: this item's draw held, its one use taken (W4)."""
    if not declaration.drawn:
        return certificate
    lines = dict(certificate.lines)
    for line_no, qty in declaration.drawn.items():
        line: LineBalance = lines[line_no]
        lines[line_no] = replace(line, reserved=line.reserved + qty)
    single = certificate.write_off_mode is WriteOffMode.SINGLE
    return replace(certificate, lines=lines, open_uses=certificate.open_uses + (1 if single else 0))


def _line_ids(certificate: CertificateFacts) -> dict[int, int]:
    return {line_no: line.line_id for line_no, line in certificate.lines.items()}


def _replay(uow: UnitOfWork, item: Item, existing: tuple[int, str]) -> dict[str, Any]:
    """A declaration number already filed: the same content replays its result, other content is refused."""
    declaration_id, stored_hash = existing
    if stored_hash != item.fingerprint:
        with _pointing_at(item.where):
            raise ConcurrencyConflict(
                "this declaration number was already filed with different content", field="declaration_no"
            )
    return {**declaration_view(uow.declarations.get(declaration_id)), "replayed": True}


HANDLERS: dict[type[c.Command], Callable[[Any, Dependencies], Any]] = {
    c.DeclareShipment: declare_shipment,
    c.DeclareShipments: declare_shipments,
}
