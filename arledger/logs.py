"""Structured logs: one line per event, tracebacks plain (JSON lines in production).

Without this, structlog's development renderer draws tracebacks with every local variable
(through rich), which is slow enough to stall an event loop for seconds when a dependency is
down and every request logs a failure.
"""

import logging
import sys

import structlog

from arledger.config import Settings


def configure_logging(settings: Settings) -> None:
    """Configure structlog for this process (the API, or a worker process)."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if settings.production
        else structlog.dev.ConsoleRenderer(
            colors=sys.stdout.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if settings.production:
        # Never locals: they may hold tokens, passwords or patients' data.
        no_locals = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        processors.append(structlog.processors.ExceptionRenderer(no_locals))
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
