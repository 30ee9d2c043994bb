"""The input schemas of the credit events (R72–R74), one per command: the API's bodies, the HTML forms and the CLI.

A field refused at one door is refused at every door with the same reason; `parse` turns pydantic's errors into one
InvalidInput whose cause keeps them all, so the form puts each at its own field (web/ui/field_errors.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from workflow.domain import inputs
from workflow.domain.actors import Actor
from workflow.domain.credit_events import (
    CreditChangeKind,
    CreditGround,
    RecordCreditChange,
    RecordViolationCase,
    ViolationKind,
)
from workflow.domain.errors import InvalidInput
from workflow.domain.policy import CreditTier
from workflow.service.input_types import Reason, clean

M = TypeVar("M", bound=BaseModel)
CaseNo = Annotated[StrictStr, Field(min_length=1, max_length=inputs.CODE), clean(inputs.CODE)]
Summary = Reason
RequiredReason = Annotated[Reason, Field(min_length=1)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("effective_from", "decided_on", mode="before", check_fields=False)
    @classmethod
    def _date_is_iso_text(cls, value: object) -> object:
        # pydantic would read a bare number as a Unix timestamp; a date is written YYYY-MM-DD.
        if not isinstance(value, str | dt.date):
            raise PydanticCustomError("date_type", "Input should be a date written YYYY-MM-DD")
        return value


class CreditChangeInput(_Input):
    """A downgrade, discredit, restoration or certification from `effective_from` (tomorrow at the earliest)."""

    kind: CreditChangeKind
    tier: CreditTier
    effective_from: dt.date
    ground: CreditGround
    reason: RequiredReason
    case_id: Annotated[StrictInt, Field(ge=1, le=inputs.INT_MAX)] | None = None

    def command(self, actor: Actor, enterprise_id: int) -> RecordCreditChange:
        fields = self.model_dump()
        return RecordCreditChange(actor, enterprise_id, **fields)


class ViolationCaseInput(_Input):
    """R74: the case's reference number, what it was about and the day it was decided; never a fine."""

    case_no: CaseNo
    kind: ViolationKind
    decided_on: dt.date
    summary: Summary = ""

    def command(self, actor: Actor, enterprise_id: int) -> RecordViolationCase:
        return RecordViolationCase(actor, enterprise_id, **self.model_dump())


def parse(model: type[M], raw: Mapping[str, Any]) -> M:
    """The model, or InvalidInput naming the first field, caused by every pydantic error (for the forms)."""
    try:
        return model.model_validate(dict(raw))
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(f"{field}: {first['msg']}", field="") from error
