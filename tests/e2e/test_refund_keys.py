"""Refunds keyed by anything, with or without their anchor, are attributed to their order's
anchor by a running worker exactly as the replay attributes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas import RuleName
from streams.devtools.kafka_local import free_port
from streams.devtools.sim.evaluation import evaluate
from streams.devtools.sim.generator import SimConfig, Simulation
from streams.placement import RefundKey
from streams.settings import Settings
from tests.e2e.test_no_silent_loss import catch_up_equals_replay
from tests.streams.worker_process import WorkerProcess

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize(
    ("refunds_by", "refund_anchor"),
    [
        ("order_id", False),  # an after-sales system: the order, not the anchor
        ("refund_id", True),  # the anchor named, but the refund elsewhere: one hop
    ],
)
async def test_catch_up_worker_equals_replay_whatever_the_refund_key(
    settings: Settings, worker: WorkerProcess, refunds_by: RefundKey, refund_anchor: bool
) -> None:
    """A simulated mix on 4 partitions, refunds keyed away from their anchor: each one travels
    to its anchor's partition (through the order index when it names no anchor) and the worker
    publishes exactly the replay's alerts."""
    config = SimConfig(seed=12, anchors=200, hours=6.0, refund_anchor=refund_anchor)
    records = list(Simulation(config).events())
    await catch_up_equals_replay(settings, worker, records, firing=5, refunds_by=refunds_by)


async def test_two_workers_over_eight_partitions_equal_the_replay(
    settings: Settings, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    """Two workers in one group share 8 partitions; refunds keyed by `order_id` without an
    anchor cross between them through the internal topics, and their alerts together are the
    replay's, and find every labelled refund spike and nothing else."""
    settings = settings.model_copy(update={"partitions": 8})
    pair = [
        WorkerProcess(
            settings.model_copy(update={"web_port": free_port(), "data_dir": tmp_path / name}),
            tmp_path / f"{name}.log",
        )
        for name in ("first", "second")
    ]
    workers.extend(pair)
    sim = Simulation(SimConfig(seed=5, anchors=300, hours=8.0, refund_anchor=False))
    records = list(sim.events())
    alerts = await catch_up_equals_replay(settings, pair, records, firing=5, refunds_by="order_id")
    score = evaluate(sim.truth(), alerts, (RuleName.REFUND_AFTER_ORDER_SPIKE.value,)).rules
    spikes = score[RuleName.REFUND_AFTER_ORDER_SPIKE.value]
    assert spikes.labels >= 5
    assert (spikes.precision, spikes.recall) == (1.0, 1.0)
