"""The batch consumer's commit warnings, on Faust's own commit bookkeeping (no broker needed:
the consumer is built, not started)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from faust.types import TP

from streams.faust_batches import BatchApp, BatchConsumer


@pytest.fixture
async def consumer() -> AsyncIterator[BatchConsumer]:
    """Built in the test's running loop, so Faust makes no loop of its own."""
    app = BatchApp(
        "livewatch-test-batches", broker="kafka://127.0.0.1:1", loop=asyncio.get_running_loop()
    )
    built = app.consumer
    assert isinstance(built, BatchConsumer)
    yield built
    built._thread.thread_loop.close()  # the consumer thread's loop, never started here


async def test_acknowledged_offsets_held_behind_a_gap_are_reported_once(
    consumer: BatchConsumer, caplog: pytest.LogCaptureFixture
) -> None:
    tp = TP("orders", 2)
    consumer._committed_offset[tp] = 791
    consumer._acked[tp] = [794, 795, 796]
    with caplog.at_level(logging.WARNING):
        assert consumer._new_offset(tp) is None  # Faust holds the commit back
        assert consumer._new_offset(tp) is None
    held = [r.getMessage() for r in caplog.records if "commit_held" in r.getMessage()]
    assert len(held) == 1, held
    assert "orders[2] committed 791, first acknowledged offset 794" in held[0]


async def test_a_contiguous_run_commits_without_a_warning(
    consumer: BatchConsumer, caplog: pytest.LogCaptureFixture
) -> None:
    tp = TP("orders", 2)
    consumer._committed_offset[tp] = 791
    consumer._acked[tp] = [791, 792, 793]
    with caplog.at_level(logging.WARNING):
        assert consumer._new_offset(tp) == 794
    assert not [r for r in caplog.records if "commit_held" in r.getMessage()]
