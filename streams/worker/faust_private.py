"""The few private corners of faust-streaming livewatch relies on, in one place.

faust-streaming 0.15 gives no public way to do these; `tests/worker/test_faust_private.py`
fails when an upgrade moves them.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator
from typing import Any, cast

from faust import streams as faust_streams
from faust.types import TP


class _Routed:
    """What a table asks of the current event: `.message.topic` and `.message.partition`."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, message: Any) -> None:
        self.message = message


_routes: dict[tuple[str, int], _Routed] = {}
"""One routing object per topic partition, kept alive here (Faust holds a weak reference)."""


def route_tables_by(message: Any) -> None:
    """Make table reads and writes of this task go to `message`'s partition (Faust routes table
    keys by `faust.current_event().message.partition`).

    Only the context variable is set, which is per task: `Stream._set_current_event` would also
    set a stream's own `current_event`, which Faust's buffering reads from another task."""
    key = (message.topic, message.partition)
    routed = _routes.get(key)
    if routed is None:
        routed = _routes[key] = _Routed(_Partition(message.topic, message.partition))
    faust_streams._current_event.set(weakref.ref(cast(Any, routed)))


def route_partition(topic: str, partition: int) -> Any:
    """What `route_tables_by` needs of a message, for work on a partition between messages."""
    return _Partition(topic, partition)


class _Partition:
    __slots__ = ("partition", "topic")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition


def committed_offset(consumer: Any, topic: str, partition: int) -> int | None:
    """The group's committed offset of a partition as the consumer last loaded or wrote it."""
    committed: Any = consumer._committed_offset
    value = committed.get(TP(topic, partition))
    return int(value) if value is not None else None


RESPONSE_MARGIN_MS = 100
"""How long before it was handled a response the send time of whose request is not known may
have been answered (a response waiting while the loop was busy): such a poll counts from its
handling less this (see `last_poll_ms`)."""

_SENT = "_livewatch_sent_ms"
"""The attribute of aiokafka's fetcher where `track_fetch_sends` keeps its send times."""


def track_fetch_sends(aiokafka_consumer: Any) -> None:
    """Keep, per partition, when the fetch request whose response last set its end offset was
    sent (see `last_poll_ms`). aiokafka keeps only when it handled the response; the broker
    answered between the two. Wraps the fetcher's `_proc_fetch_request(assignment, node_id,
    request)`, which sends one fetch request and handles its response."""
    fetcher = aiokafka_consumer._fetcher
    if fetcher is None or hasattr(fetcher, _SENT):
        return
    sent: dict[Any, int] = {}
    handle = fetcher._proc_fetch_request

    async def proc_fetch_request(assignment: Any, node_id: Any, request: Any) -> Any:
        tps = [TP(topic, part[0]) for topic, parts in request.topics for part in parts]
        states = [assignment.state_value(tp) for tp in tps]  # TP equals aiokafka's
        before = [getattr(state, "timestamp", None) for state in states]
        at = int(time.time() * 1000)
        try:
            return await handle(assignment, node_id, request)
        finally:
            # After the response set the end offsets: a reader between the two sees a new end
            # offset with an older send time, which claims less than is true, never more.
            for tp, state, old in zip(tps, states, before, strict=True):
                handled = getattr(state, "timestamp", None)
                if handled is not None and handled != old:  # set by this response
                    sent[tp] = at

    fetcher._proc_fetch_request = proc_fetch_request
    setattr(fetcher, _SENT, sent)


def last_poll_ms(consumer: Any, topic: str, partition: int) -> int | None:
    """A time by which the broker had not yet answered the fetch that told the consumer the
    partition's end offset (ms since the epoch, this host's clock): a record on the broker
    before it is below `consumer.highwater`. The send time of that fetch's request (see
    `track_fetch_sends`); before one is known, the response's handling less
    `RESPONSE_MARGIN_MS`. None: not polled yet."""
    try:
        aiokafka_consumer = consumer._thread._ensure_consumer()
        tp = TP(topic, partition)
        handled = aiokafka_consumer.last_poll_timestamp(tp)
    except Exception:  # not assigned (any more), or the consumer is not started
        return None
    if handled is None:
        return None
    sent = getattr(getattr(aiokafka_consumer, "_fetcher", None), _SENT, None)
    at = sent.get(tp) if sent is not None else None
    return at if at is not None and at <= handled else int(handled) - RESPONSE_MARGIN_MS


def last_response_ms(consumer: Any, topic: str, partition: int) -> int | None:
    """When the consumer handled the fetch response that last told it the partition's end
    offset (ms since the epoch): the broker had answered by then. None: not polled yet."""
    try:
        handled = consumer._thread._ensure_consumer().last_poll_timestamp(TP(topic, partition))
    except Exception:  # not assigned (any more), or the consumer is not started
        return None
    return int(handled) if handled is not None else None


def _assigned_states(consumer: Any, topics: frozenset[str]) -> Iterator[tuple[TP, Any]]:
    """aiokafka's state of each assigned partition of `topics` under a Faust consumer; none
    while the consumer is not started or has no assignment."""
    try:
        assignment = consumer._thread._ensure_consumer()._subscription.subscription.assignment
        tps = list(assignment.tps)
    except Exception:  # not started, stopping, or between assignments
        return
    for tp in tps:
        if tp.topic in topics:
            state = assignment.state_value(tp)
            if state is not None:
                yield TP(tp.topic, tp.partition), state


def read_positions(consumer: Any, topics: frozenset[str]) -> dict[TP, int]:
    """aiokafka's position in each assigned partition of `topics`: the next offset it will hand
    out, past the records handed out so far and past offsets that hold none (transaction
    markers, aborted or compacted records), which a record's offset never reaches. Empty while
    the consumer is not started or has no assignment."""
    return {
        tp: int(state.position)
        for tp, state in _assigned_states(consumer, topics)
        if state.has_valid_position
    }


def readable_ends(consumer: Any, topics: frozenset[str]) -> dict[TP, int]:
    """Where each assigned partition of `topics` ends for this consumer, as last fetched: the
    last stable offset under `read_committed` (records of a transaction still open are not
    handed out until it ends), else the end offset. Missing while not fetched yet."""
    found: dict[TP, int] = {}
    for tp, state in _assigned_states(consumer, topics):
        stable, end = state.lso, state.highwater
        if stable is not None and stable >= 0:
            end = stable
        if end is not None:
            found[tp] = int(end)
    return found


def set_fetch_max_wait(consumer: Any, ms: int) -> None:
    """Set how long the broker may hold a fetch of an aiokafka consumer not yet started (Faust
    passes a fixed 1,500 ms; aiokafka hands the attribute to its fetcher at `start`)."""
    if not hasattr(consumer, "_fetch_max_wait_ms"):
        raise AttributeError("aiokafka's consumer keeps no _fetch_max_wait_ms")
    consumer._fetch_max_wait_ms = ms


def set_isolation_level(consumer: Any, level: str) -> None:
    """Set the isolation level of an aiokafka consumer not yet started (Faust reads committed
    records only inside its own transactions; aiokafka hands the attribute to its fetcher at
    `start`)."""
    if not hasattr(consumer, "_isolation_level"):
        raise AttributeError("aiokafka's consumer keeps no _isolation_level")
    consumer._isolation_level = level


def store_get(store: Any, key: str) -> bytes | None:
    """A serialized store's record for `key`, as bytes (None: none), as Faust's `get` reads
    it, without its KeyError round trip and sensor call."""
    return cast(bytes | None, store._get(store._encode_key(key)))


def store_decode(store: Any, raw: bytes) -> Any:
    """A serialized store's record decoded as its table's value."""
    return store._decode_value(raw)


def store_write(store: Any, key_bytes: bytes, raw: bytes | None) -> None:
    """Write (or, `raw` None, delete) a record of a serialized store as its changelog holds
    it, as Faust's recovery writes it."""
    if raw is None:
        store._del(key_bytes)
    else:
        store._set(key_bytes, raw)


def producer_of(app: Any) -> Any:
    """The aiokafka producer under a Faust app's producer (started on first use)."""
    return app.producer._ensure_producer()


def batch_appender(batch: Any) -> Any:
    """The record builder's own `append(offset, timestamp, key, value, headers)` under an
    aiokafka produce batch (`create_batch`): compiled (Cython), where the batch's `append`
    is interpreted Python around it, 0.3 us a record, 2% of a worker. What is appended this
    way is counted by `set_record_count`, as the batch's `append` counts it."""
    return batch._builder.append


def set_record_count(batch: Any, count: int) -> None:
    """Tell an aiokafka produce batch how many records its builder holds (see
    `batch_appender`), closing it to `send`'s own appends as a full batch is closed."""
    if not hasattr(batch, "_relative_offset"):
        raise AttributeError("aiokafka's batch keeps no _relative_offset")
    batch._relative_offset = count
    batch.close()


def fetcher_stopped(fetcher: Any) -> Any:
    """A callable telling whether Faust's fetcher service has stopped."""
    return fetcher._stopped.is_set


def put_first(consumer: Any, topics: frozenset[str]) -> None:
    """Move the records of `topics` that a started aiokafka consumer has fetched ahead of the
    rest: its fetcher hands out what it holds in the order of this ordered dict, in one pass
    that takes records until the batch is full (`Fetcher.fetched_records`). A consumer not
    started yet holds nothing."""
    if consumer._fetcher is None:
        return
    held = consumer._fetcher._records
    for tp in [tp for tp in held if tp.topic in topics][::-1]:
        held.move_to_end(tp, last=False)
