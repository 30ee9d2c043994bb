"""Ports: what the use cases need from the outside world, as Protocols the store and config implement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any, Protocol, Self

from workflow.domain.calendar import WorkingCalendar
from workflow.domain.credit import CreditRecord
from workflow.domain.goods import ProductIdentity
from workflow.domain.model import Application, Certificate
from workflow.domain.policy import Policy


class Clock(Protocol):
    def now(self) -> datetime: ...

    def today(self) -> date: ...


class PolicyBook(Protocol):
    """Which policy profile a district had adopted on a given day."""

    def policy_for(self, district: str, on: date) -> Policy: ...


@dataclass(frozen=True)
class EnterpriseInfo:
    id: int
    name: str
    district: str
    is_natural_person: bool


class ApplicationRepository(Protocol):
    def add(self, application: Application) -> Application: ...

    def get(self, application_id: int) -> Application: ...

    def save(self, application: Application) -> None: ...


class CertificateRepository(Protocol):
    def add(self, certificate: Certificate) -> Certificate: ...

    def get(self, certificate_id: int) -> Certificate: ...

    def save(self, certificate: Certificate) -> None: ...


class EnterpriseDirectory(Protocol):
    def get(self, enterprise_id: int) -> EnterpriseInfo: ...

    def credit_records(self, enterprise_id: int) -> list[CreditRecord]: ...

    def granted_identities(self, enterprise_id: int) -> set[ProductIdentity]: ...


class DocumentIndex(Protocol):
    def attached_types(self, application_id: int) -> set[str]: ...

    def add(
        self,
        application_id: int,
        doc_type: str,
        filename: str,
        content_type: str,
        size: int,
        sha256: str,
        uploaded_by: int | None,
    ) -> int: ...


class Outbox(Protocol):
    def add(self, task: str, payload: dict[str, Any]) -> None: ...


class UnitOfWork(Protocol):
    """One database transaction: state, audit events and outbox rows commit together or not at all."""

    applications: ApplicationRepository
    certificates: CertificateRepository
    enterprises: EnterpriseDirectory
    documents: DocumentIndex
    outbox: Outbox

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class DocumentStore(Protocol):
    """Where attachment bytes live, outside `static/`, named by content hash so no path comes from the user."""

    def put(self, content: bytes) -> str: ...

    def get(self, sha256: str) -> bytes: ...


@dataclass(frozen=True)
class Dependencies:
    """Everything handlers need, wired by the composition root."""

    uow: UnitOfWorkFactory
    clock: Clock
    policies: PolicyBook
    calendar: WorkingCalendar
    documents: DocumentStore
