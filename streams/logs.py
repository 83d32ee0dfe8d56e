"""structlog set-up: JSON lines in production, readable console output in development."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import structlog

REPEAT_INTERVAL_S = 10.0
"""A library message that repeats is written once per this many seconds, with a count."""


_DIGITS = re.compile(r"\d+")
"""Numbers in a message (sizes, durations, ids formatted in by the library) do not make it new."""


@dataclass
class _Repeats:
    since: float
    suppressed: int = 0


class RepeatLimiter(logging.Filter):
    """Lets one record per (logger, level, message template) through per interval; the next one
    through carries `suppressed`, how many were held back since. Messages that differ only in
    their numbers are one template (Faust formats sizes and durations into its own).

    A broker outage makes aiokafka log every reconnect attempt, thousands of lines a second;
    this keeps that to a line per interval and message, with the count, and keeps every first
    occurrence.
    """

    def __init__(
        self, interval_s: float = REPEAT_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.clock = clock
        self.seen: dict[tuple[str, int, str], _Repeats] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, _DIGITS.sub("#", str(record.msg)))
        now = self.clock()
        repeats = self.seen.get(key)
        if repeats is not None and now - repeats.since < self.interval_s:
            repeats.suppressed += 1
            return False
        if repeats is not None and repeats.suppressed:
            record.suppressed = repeats.suppressed
        self.seen[key] = _Repeats(now)
        if len(self.seen) > 10_000:  # templates are few; this only guards against odd loggers
            self.seen = {k: v for k, v in self.seen.items() if now - v.since < self.interval_s}
        return True


def configure(fmt: Literal["json", "console"] = "json", level: str = "INFO") -> None:
    """Configure structlog and route stdlib logging (faust, aiokafka) through the same renderer,
    with repeated library lines limited (see `RepeatLimiter`)."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
            foreign_pre_chain=[
                *shared,
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(allow=["suppressed"]),
            ],
        )
    )
    handler.addFilter(RepeatLimiter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
