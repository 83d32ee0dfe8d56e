"""Memory per 100,000 tracked anchors and per million remembered orders.

    python benchmarks/memory.py [--anchors 100000] [--orders 1000000] [--json]

Measured with tracemalloc, in this process, as a worker with the memory store holds them: an
anchor is its head record and its bucket records (their changelog bytes, as the table keeps them)
plus, while it is active, the live `AnchorState` the shell caches; a remembered order is its
record in the order memory. The anchors are copies of the anchors active half-way through the
simulator's mix (1,000 anchors, 16 hours, seed 1), so they hold what ordinary anchors hold in
the middle of their sessions; a hot anchor holds more buckets' worth of buyers, never more
than its 60 buckets. With RocksDB (the production store) the records live on disk and only the
cached states are in memory.
"""

from __future__ import annotations

import argparse
import gc
import json
import tracemalloc
from collections.abc import Callable
from typing import Any

import orjson

from streams.core.attribution import OrderRef
from streams.core.dict_stores import DictOrders, DictStates
from streams.core.state import AnchorState, Bucket, bucket_key
from streams.devtools.sim.generator import SimConfig, Simulation
from streams.pipeline import build_detector
from streams.replay import replay_records
from streams.settings import Settings
from streams.worker.table_writes import encode


def allocated(build: Callable[[], Any]) -> tuple[int, Any]:
    """Bytes still allocated by what `build` returns (kept alive until measured)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, kept


def typical_anchors() -> list[AnchorState]:
    """The anchors holding buckets half-way through the simulator's mix."""
    sim = Simulation(SimConfig(1, 1000, 16))
    records = [(ev.kind, ev.value) for ev in sorted(sim.buffer, key=lambda e: (e.deliver, e.seq))]
    states = DictStates()
    detector = build_detector(Settings(), DictOrders(), states)
    for _ in replay_records(records[: len(records) // 2], Settings(), detector=detector):
        pass
    return [s for s in states.data.values() if s.buckets]


def records_of(state: AnchorState, anchor_id: str) -> dict[str, Any]:
    """The anchor's table records as the memory store holds them (the changelog's bytes, see
    `TableWriter`)."""
    head = {**state.head_dict(), "a": anchor_id}
    out = {anchor_id: encode(head)}
    for start, bucket in state.buckets.items():
        out[bucket_key(anchor_id, start)] = encode(bucket.to_dict())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--anchors", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    templates = typical_anchors()
    buckets = sum(len(s.buckets) for s in templates) / len(templates)

    def table() -> dict[str, Any]:
        store: dict[str, Any] = {}
        for i in range(args.anchors):
            store.update(records_of(templates[i % len(templates)], f"anchor-{i:07d}"))
        return store

    table_bytes, store = allocated(table)

    def cache() -> dict[str, AnchorState]:
        live = {}
        for i in range(args.anchors):
            head = orjson.loads(store[f"anchor-{i:07d}"])
            found = {
                int(start): Bucket.from_dict(orjson.loads(store[bucket_key(head["a"], start)]))
                for start in head["bs"]
            }
            live[head["a"]] = AnchorState.from_head(head, found)
        return live

    cache_bytes, _ = allocated(cache)

    def orders() -> dict[str, Any]:
        return {
            f"order-{i:010d}": OrderRef(
                f"anchor-{i % 100_000:07d}", f"anchor-{i % 100_000:07d}-live-1",
                1_795_953_600_000 + i, "beauty", f"refund-{i:010d}" if i % 20 == 0 else None,
            ).to_dict()
            for i in range(args.orders)
        }  # fmt: skip

    order_bytes, _ = allocated(orders)
    mb = 1024 * 1024
    result = {
        "anchors": args.anchors,
        "buckets_per_anchor": round(buckets, 1),
        "anchor_records_mb": round(table_bytes / mb, 1),
        "anchor_cached_states_mb": round(cache_bytes / mb, 1),
        "orders": args.orders,
        "order_memory_mb": round(order_bytes / mb, 1),
    }
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
