"""The private corners of faust-streaming livewatch uses: fails when an upgrade moves them."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import faust
from faust.transport.consumer import Consumer as FaustConsumer
from faust.types import TP

from streams.faust_private import committed_offset, route_tables_by


class FakeEvent:
    """Only an object to point at: routing keeps a weak reference to the event."""


async def test_tables_follow_the_event_set_in_this_task_only() -> None:
    """`faust.current_event()` (what tables route by) sees the event; another task does not,
    so a stream's background buffering cannot pick it up."""
    event = FakeEvent()
    seen_elsewhere: list[Any] = []

    async def other_task() -> None:
        seen_elsewhere.append(faust.current_event())

    task = asyncio.get_running_loop().create_task(other_task())
    route_tables_by(event)
    assert faust.current_event() is event
    await task
    assert seen_elsewhere == [None]


def test_committed_offsets_are_read_where_faust_keeps_them() -> None:
    """Faust's consumer declares `_committed_offset` (TP -> offset or None); livewatch reads it
    there. (A Faust app is not built here: it leaves an event loop behind.)"""
    assert "_committed_offset" in FaustConsumer.__annotations__

    class Loaded:
        def __init__(self) -> None:
            self._committed_offset = defaultdict(lambda: None, {TP("orders", 0): 42})

    assert committed_offset(Loaded(), "orders", 0) == 42
    assert committed_offset(Loaded(), "orders", 1) is None
