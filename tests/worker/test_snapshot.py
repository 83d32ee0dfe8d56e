"""The summary of live anchors behind `/metrics`, `/anchors` and `/alerts/active`: the same
figures as a walk per request, at most one walk per interval, and the loop keeps turning."""

from __future__ import annotations

import asyncio
from functools import cache

from streams.core.dict_stores import DictOrders, DictStates
from streams.core.evaluate import Windows
from streams.core.state import AnchorState
from streams.core.windows import totals
from streams.devtools.sim.generator import SimConfig, Simulation
from streams.pipeline import build_detector
from streams.replay import replay_records
from streams.settings import Settings
from streams.worker.snapshot import MAX_RISK_ROWS, Snapshot, summarize

WINDOWS = Windows(600_000, 3_600_000, 60_000)


@cache
def live_states() -> tuple[AnchorState, ...]:
    """States part-way through a brushing run: some anchors firing, most not."""
    config = SimConfig(seed=3, anchors=150, hours=5.0, scenarios=("mix",))
    records = list(Simulation(config).events())
    states = DictStates()
    detector = build_detector(Settings(partitions=2), DictOrders(), states)
    for _ in replay_records(records[: len(records) * 2 // 3], Settings(partitions=2),
                            detector=detector):  # fmt: skip
        pass
    return tuple(states.data.values())


def test_the_summary_has_the_figures_of_a_walk() -> None:
    states = live_states()
    summary = summarize(states, WINDOWS)
    firing = [(s.anchor_id, r) for s in states for r, e in s.episodes.items()
              if e.status == "firing"]  # fmt: skip
    assert firing, "the run should leave something firing"
    assert sorted((a["anchor_id"], a["rule"]) for a in summary.active_alerts) == sorted(firing)
    assert sum(summary.firing.values()) == len(firing)
    for size, size_ms in (("short", WINDOWS.short_ms), ("long", WINDOWS.long_ms)):
        walked = [totals(s, s.evaluated_to_ms, size_ms, WINDOWS.step_ms)
                  for s in states if s.evaluated_to_ms is not None]  # fmt: skip
        for i, kind in enumerate(("orders", "refunds", "complaints")):
            assert summary.window_events[(size, kind)] == sum(t[i] for t in walked)
    assert summary.window_events[("short", "orders")] > 0
    assert summary.window_events[("long", "refunds")] > 0
    assert summary.anchors == len(states)
    assert summary.rows is None  # the rows wait for a reader of `/anchors`
    rows = summary.riskiest
    assert summary.riskiest is rows
    assert len(rows) == min(MAX_RISK_ROWS, sum(1 for s in states if s.evaluated_to_ms))
    on_fire = {a for a, _ in firing}
    assert {r["anchor_id"] for r in rows[: len(on_fire)]} == on_fire  # firing ranks first


def test_a_burst_of_readers_shares_one_walk_and_the_loop_keeps_turning() -> None:
    states = live_states() * 20
    now = [0.0]
    snapshot = Snapshot(lambda: states, WINDOWS, 1.0, clock=lambda: now[0])

    async def burst() -> int:
        turns = 0

        async def count_turns() -> None:
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(count_turns())
        await asyncio.gather(*(snapshot.fresh() for _ in range(30)))
        ticker.cancel()
        return turns

    turns = asyncio.run(burst())
    assert snapshot.computed == 1
    assert turns >= len(states) // Snapshot.CHUNK  # it yielded while it walked
    asyncio.run(snapshot.fresh())
    assert snapshot.computed == 1  # still fresh
    now[0] += 1.0
    asyncio.run(snapshot.fresh())
    assert snapshot.computed == 2
    assert snapshot() is snapshot.latest
