"""Logging: library lines that repeat are limited to one per interval, with a count."""

from __future__ import annotations

import io
import json
import logging

import pytest

from streams import logs
from streams.logs import RepeatLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args: object, name: str = "aiokafka.conn") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)


class TestRepeatLimiter:
    def test_one_line_per_interval_and_template_with_the_count_held_back(self) -> None:
        """Reconnect errors differing only in their arguments are one message."""
        clock = FakeClock()
        limiter = RepeatLimiter(10.0, clock)
        first = record("Unable connect to node with id %s: %s", 1, "refused")
        assert limiter.filter(first)
        passed = [limiter.filter(record("Unable connect to node with id %s: %s", 1, i))
                  for i in range(500)]  # fmt: skip
        assert not any(passed)
        clock.now = 10.0
        later = record("Unable connect to node with id %s: %s", 1, "refused")
        assert limiter.filter(later)
        assert later.suppressed == 500  # type: ignore[attr-defined]

    def test_messages_differing_only_in_numbers_are_one(self) -> None:
        limiter = RepeatLimiter(10.0, FakeClock())
        assert limiter.filter(record("producer buffer full size 969"))
        assert not limiter.filter(record("producer buffer full size 1123"))

    def test_other_messages_and_loggers_pass(self) -> None:
        limiter = RepeatLimiter(10.0, FakeClock())
        assert limiter.filter(record("a %s", 1))
        assert limiter.filter(record("b %s", 1))
        assert limiter.filter(record("a %s", 1, name="faust.transport"))
        assert not limiter.filter(record("a %s", 2))


def test_the_configured_handler_writes_the_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through `configure`, a JSON line carries `suppressed` once lines were held back."""
    out = io.StringIO()
    monkeypatch.setattr(logs.sys, "stderr", out)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure("json", "INFO")
        handler = root.handlers[0]
        limiter = next(f for f in handler.filters if isinstance(f, RepeatLimiter))
        clock = FakeClock()
        limiter.clock = clock
        # Straight to the handler: other tests may have changed library loggers' levels.
        for _ in range(3):
            handler.handle(record("no broker at %s", "x:1"))
        clock.now = 60.0
        handler.handle(record("no broker at %s", "x:1"))
    finally:
        root.handlers, level = saved
        root.setLevel(level)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line.get("suppressed") for line in lines] == [None, 2]
    assert lines[0]["event"] == "no broker at x:1"
