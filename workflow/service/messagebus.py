"""The message bus: one place where every command meets its handler and its dependencies."""

from __future__ import annotations

import logging
from typing import Any

from workflow.domain.commands import Command
from workflow.service import (
    biosafety,
    certificate_changes,
    certificates,
    credit_events,
    declare,
    enterprises,
    handlers,
    port_steps,
    replacements,
    review,
)
from workflow.service.handlers import Handler
from workflow.service.ports import Dependencies

log = logging.getLogger(__name__)
ALL_HANDLERS: dict[type[Command], Handler] = {
    **handlers.HANDLERS,
    **port_steps.HANDLERS,
    **declare.HANDLERS,
    **certificates.HANDLERS,
    **certificate_changes.HANDLERS,
    **replacements.HANDLERS,
    **review.HANDLERS,
    **enterprises.HANDLERS,
    **credit_events.HANDLERS,
    **biosafety.HANDLERS,
}


class MessageBus:
    """Dispatches a command to its handler; errors propagate to the caller, who maps them (web, CLI, task)."""

    def __init__(self, deps: Dependencies, handlers: dict[type[Command], Handler] | None = None) -> None:
        self.deps = deps
        self.handlers = ALL_HANDLERS if handlers is None else handlers

    def handle(self, command: Command) -> Any:
        handler = self.handlers[type(command)]
        log.debug("handling %s", type(command).__name__)
        return handler(command, self.deps)
