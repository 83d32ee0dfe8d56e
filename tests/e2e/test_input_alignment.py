"""A backlog's input topics are read side by side in time (`LIVEWATCH_ALIGN_INPUTS`), so its
refunds meet their orders instead of waiting for them; unaligned, the same backlog's refunds
ran ahead. Produced by librdkafka, stamped with the events' times."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from streams.settings import Settings
from streams.topics import create_topics
from tests.e2e.test_no_silent_loss import simulated
from tests.producers import produce_librdkafka
from tests.streams.worker_process import WorkerProcess, by_label, consumed

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("aligned", [True, False])
async def test_a_backlogs_refunds_are_read_after_their_orders(
    settings: Settings, worker: WorkerProcess, aligned: bool
) -> None:
    """One partition, four event hours: the orders take several fetches, the refunds (each at
    least 100 s after its order) about one. Aligned, almost no refund is read before its order;
    unaligned, the refunds' first fetch runs ahead of the orders and most wait."""
    settings = worker.settings = settings.model_copy(
        update={"partitions": 1, "align_inputs": aligned}
    )
    records = simulated(4, 200, 4.0)
    await create_topics(settings)
    await asyncio.to_thread(produce_librdkafka, settings, records)
    produced = {kind: sum(1 for k, _ in records if k == kind) for kind, _ in records}
    worker.start()
    deadline = time.monotonic() + 120
    async with aiohttp.ClientSession() as http:
        while True:
            counts = {kind: sum((await consumed(http, settings.web_port, kind)).values())
                      for kind in produced}  # fmt: skip
            if counts == produced:
                break
            assert time.monotonic() < deadline, (counts, produced, worker.tail())
            await asyncio.sleep(0.5)
        how = await by_label(http, settings.web_port, "livewatch_refund_attribution_total", "how")
    waited = how.get("pending_then_order", 0)
    met = waited + how.get("order", 0)
    assert met > 1_000, how  # refunds whose order came: enough to judge by
    if aligned:
        assert waited <= 0.02 * met, how
    else:
        assert waited >= 0.3 * met, how
