"""The replay runs the worker's partition tasks: its alerts depend on the events, not on how
they were keyed, batched or interleaved."""

from __future__ import annotations

from collections import Counter
from functools import cache

import pytest

from schemas import Alert
from streams.codecs import RefundKey
from streams.replay import replay_records
from streams.settings import Settings
from streams.sim.generator import SimConfig, Simulation

SETTINGS = Settings(partitions=4)


@cache
def alerts(refunds_by: RefundKey, refund_anchor: bool, chunk: int) -> Counter[tuple[str, str]]:
    config = SimConfig(seed=12, anchors=120, hours=5.0, refund_anchor=refund_anchor)
    records = list(Simulation(config).events())
    found: list[Alert] = list(
        replay_records(records, SETTINGS, refunds_by=refunds_by, chunk=chunk, flush=True)
    )
    return Counter((a.alert_id, a.status.value) for a in found)


def test_the_simulated_mix_fires_refund_spikes() -> None:
    """So the comparisons below compare something."""
    assert sum(1 for _, status in alerts("anchor", True, 500) if status == "firing") >= 3


@pytest.mark.parametrize(
    ("refunds_by", "refund_anchor"),
    [
        ("order_id", True),  # names the anchor: one hop to it
        ("order_id", False),  # names no anchor: through the order index
        ("refund_id", False),  # keyed by neither: re-keyed by order id first
    ],
)
def test_refunds_keyed_away_from_their_anchor_give_the_same_alerts(
    refunds_by: RefundKey, refund_anchor: bool
) -> None:
    """Every simulated refund has its order, so however refunds are keyed, each is counted
    against the same order: the same alert ids and transitions as refunds keyed by anchor."""
    assert alerts(refunds_by, refund_anchor, 500) == alerts("anchor", True, 500)


@pytest.mark.parametrize("chunk", [1, 37])
def test_the_alerts_do_not_depend_on_the_batch_size(chunk: int) -> None:
    """A worker's fetches may hold one record or thousands; the marks make boundaries wait
    for every partition, so the same boundaries see the same records."""
    assert alerts("order_id", False, chunk) == alerts("order_id", False, 500)
