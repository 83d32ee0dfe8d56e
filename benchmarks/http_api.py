"""What the worker's list endpoints cost the event loop: per-request walks against the summary.

`/metrics` (the state gauges), `/anchors` and `/alerts/active` each walked every live anchor
per request, on the event loop that also runs the batches. They now read one summary
(`streams.worker.snapshot`), recomputed at most once per `LIVEWATCH_API_SNAPSHOT_S`. This measures
both for a burst of requests (a scrape, the board's refreshes, or a flood) against a worker
holding `--anchors` live anchors (copies of those active half-way through the simulator's mix).

    .venv/bin/python benchmarks/http_api.py --anchors 20000 --requests 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from copy import deepcopy

from memory import typical_anchors  # the sibling script: run as a script, not a package

from streams.core.evaluate import Windows
from streams.settings import Settings
from streams.worker.snapshot import Snapshot, summarize


async def burst_of(snapshot: Snapshot, requests: int) -> tuple[float, float]:
    """`requests` concurrent readers; (their wall time, the longest the loop did not turn)."""
    loop = asyncio.get_running_loop()
    longest = 0.0
    done = False

    async def ticker() -> None:
        nonlocal longest
        last = loop.time()
        while not done:
            await asyncio.sleep(0)
            now = loop.time()
            longest = max(longest, now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    began = loop.time()
    await asyncio.gather(*(snapshot.fresh() for _ in range(requests)))
    took = loop.time() - began
    done = True
    await ticking
    return took, longest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--anchors", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=50, help="requests in one burst")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    s = Settings()
    windows = Windows(s.short_window_s * 1000, s.long_window_s * 1000, s.step_s * 1000)
    templates = typical_anchors()
    states = []
    for i in range(args.anchors):
        state = deepcopy(templates[i % len(templates)])
        state.anchor_id = f"anchor-{i:07d}"
        states.append(state)

    began = time.perf_counter()
    for _ in range(args.requests):
        summarize(states, windows)  # what each request did before
    per_request = (time.perf_counter() - began) / args.requests

    snapshot = Snapshot(lambda: states, windows, s.api_snapshot_s)
    burst, stall = asyncio.run(burst_of(snapshot, args.requests))
    result = {
        "anchors": args.anchors,
        "requests": args.requests,
        "before_walk_per_request_s": round(per_request, 4),
        "before_burst_s": round(per_request * args.requests, 3),
        "before_longest_stall_s": round(per_request, 4),
        "after_burst_s": round(burst, 4),
        "after_longest_stall_s": round(stall, 4),
        "after_summaries_computed": snapshot.computed,
    }
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
