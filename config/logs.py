"""Log set-up for every process: one event per line, JSON for a log shipper in production, plain text in the demo.

structlog renders both its own events (the request and task lines) and the standard library's records (Celery,
our `log.warning`s), with the request id of the request or task they happen in. Values under a key that names a
secret are redacted, and tracebacks never show local variables (a password can sit in one).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from config.settings import Environment, Settings

# The one-line-per-request and per-task loggers have their own handler and do not propagate: a host's root handlers
# (an embedding program's, say) never print them a second time. Everything else goes through the root logger.
EVENT_LOGGERS = ("specgoods.requests", "specgoods.tasks")
SECRET_WORDS = ("password", "passwd", "secret", "token", "authorization", "cookie", "credential")
REDACTED = "[redacted]"
OBJECT_SUFFIXES = ("_id", "_no")
# Libraries whose INFO lines say nothing an operator acts on: alembic lists its plugins on every start, and
# `transitions` writes two lines per state change ("Finished processing state … callbacks") that the audit event
# already records, at a cost in CPU on every request that changes a state (docs/performance.md).
CHATTY = {"alembic.runtime.plugins": logging.WARNING, "transitions": logging.WARNING}


def log_format(settings: Settings) -> str:
    """JSON or text: as set, else JSON in production and text everywhere else."""
    if settings.log_format:
        return settings.log_format
    return "json" if settings.env is Environment.PRODUCTION else "text"


def configure_logging(settings: Settings, *, root: bool = False) -> None:
    """Set up structlog and our handlers; safe to call again (the last call's format wins).

    The root logger is taken over when `root` is asked for (a Celery worker process, which would otherwise set up
    its own) or when nothing has configured it yet, as `logging.basicConfig` does: a host that already logs
    somewhere (a test runner, an embedding program) keeps its handlers.
    """
    structlog.configure(
        processors=[*_shared(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = _handler(log_format(settings))
    for name in EVENT_LOGGERS:
        _install(logging.getLogger(name), handler, settings.log_level)
        logging.getLogger(name).propagate = False
    top = logging.getLogger()
    if root or not [existing for existing in top.handlers if not _ours(existing)]:
        _install(top, handler, settings.log_level)
    for name, level in CHATTY.items():
        logging.getLogger(name).setLevel(level)


def object_of(arguments: dict[str, Any]) -> dict[str, Any]:
    """The object a route or task acts on: its last `<type>_id` or `<type>_no` argument (the most specific one)."""
    named = [(name, value) for name, value in arguments.items() if name.endswith(OBJECT_SUFFIXES)]
    if not named:
        return {}
    name, value = named[-1]
    return {"object_type": name[:-3], "object_id": value}


def redact(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """Whatever is logged under a key that names a secret shows as redacted: a last guard, not the first."""
    for key in event:
        if any(word in key.lower() for word in SECRET_WORDS):
            event[key] = REDACTED
    return event


def _shared() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]


def _renderer(fmt: str) -> list[Processor]:
    if fmt == "json":
        dumps: Any = json.dumps
        return [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=dumps, ensure_ascii=False, default=str),
        ]
    return [structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)]


def _handler(fmt: str) -> logging.Handler:
    handler = _CurrentStderr()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *_renderer(fmt)],
            foreign_pre_chain=_shared(),
        )
    )
    return handler


def _install(logger: logging.Logger, handler: logging.Handler, level: str) -> None:
    for old in [existing for existing in logger.handlers if _ours(existing)]:
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level.upper())


def _ours(handler: logging.Handler) -> bool:
    return isinstance(handler, _CurrentStderr)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is now, so a swapped stream (a daemon's, a test's capture) is followed."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """The stream is always the current stderr; the base class's assignment is ignored."""
