"""The few private corners of faust-streaming livewatch relies on, in one place.

faust-streaming 0.15 gives no public way to do these; `tests/streams/test_faust_private.py`
fails when an upgrade moves them.
"""

from __future__ import annotations

import weakref
from typing import Any

from faust import streams as faust_streams
from faust.types import TP


def route_tables_by(event: Any) -> None:
    """Make `event` the current event of this task only, so table reads and writes go to its
    partition (Faust routes table keys by `faust.current_event()`).

    `Stream._set_current_event` would also set the stream's own `current_event`, which the
    `take_events` buffer reads from another task while the agent works on the previous batch:
    a record would then be buffered with another record's event (one applied twice, one never).
    The context variable is per task, so setting it here cannot be seen there.
    """
    faust_streams._current_event.set(weakref.ref(event))


def committed_offset(consumer: Any, topic: str, partition: int) -> int | None:
    """The group's committed offset of a partition as the consumer last loaded or wrote it."""
    committed: Any = consumer._committed_offset
    value = committed.get(TP(topic, partition))
    return int(value) if value is not None else None
