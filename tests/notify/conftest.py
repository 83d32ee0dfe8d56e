"""Real alerts for the notifier's tests: a simulated brushing episode, replayed."""

from __future__ import annotations

from functools import cache

from schemas import Alert
from streams.devtools.sim.generator import SimConfig, Simulation
from streams.replay import replay_records
from streams.settings import Settings


@cache
def brushing_alerts(seed: int = 3) -> tuple[Alert, ...]:
    """The alerts of a short simulation with brushing: one episode, firing then resolved
    (seed 2: it escalates from warning to critical before it resolves). Only the refund
    rule's: the order-concentration episode of the same brushing is left out."""
    config = SimConfig(seed=seed, anchors=40, hours=5.0, scenarios=("brushing",))
    records = list(Simulation(config).events())
    found = replay_records(records, Settings(partitions=2), flush=True)
    return tuple(a for a in found if a.rule.value == "refund_after_order_spike")
