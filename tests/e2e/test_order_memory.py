"""The order memory forgets past the horizon, locally too, without changing any alert."""

from __future__ import annotations

from datetime import datetime

import aiohttp
import pytest

from streams.settings import Settings
from tests.e2e.test_http_api import samples
from tests.e2e.test_no_silent_loss import catch_up_equals_replay, simulated
from tests.streams.worker_process import WorkerProcess

pytestmark = pytest.mark.kafka


def _stamp(value: dict[str, object]) -> float:
    raw = value.get("placed_at") or value.get("requested_at") or value.get("filed_at")
    return datetime.fromisoformat(str(raw)).timestamp()


async def test_a_long_backlog_with_a_short_horizon_keeps_the_order_memory_flat(
    settings: Settings, worker: WorkerProcess
) -> None:
    """Eight hours of orders, a 30-minute horizon: at the end the worker remembers about the
    last horizon's orders, not the backlog's, and its alerts are still the replay's."""
    settings = worker.settings = settings.model_copy(
        update={"partitions": 8, "order_horizon_s": 1800}
    )
    records = simulated(5, 150, 8.0)
    await catch_up_equals_replay(settings, worker, records, firing=3)

    orders = [v for kind, v in records if kind == "orders"]
    end = max(_stamp(v) for _, v in records)
    keep_s = settings.order_horizon_s + settings.grace_s + 30 * 60  # slack: the slowest topic
    recent = sum(1 for _, v in records if _stamp(v) >= end - keep_s)
    url = f"http://127.0.0.1:{settings.web_port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        remembered = samples(await resp.text())[("livewatch_order_memory_records", ())]
    assert 0 < remembered <= recent, (remembered, recent)
    assert remembered < len(orders) / 4, (remembered, len(orders))
