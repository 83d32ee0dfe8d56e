"""The Quix Streams peer of the benchmark: its idiomatic hopping-window count per anchor over the
three input topics (10-minute windows hopping by 1 minute, in event time, RocksDB state with
changelogs, as Quix sets up by default).

    python benchmarks/quix_count.py   (settings from LIVEWATCH_* variables, BENCH_PROGRESS,
                                       BENCH_TOTAL)

Runs in a venv of its own (`python -m venv benchmarks/.venv-quix &&
benchmarks/.venv-quix/bin/pip install quixstreams==3.28.1`): Quix is only a yardstick, never a
dependency of livewatch. Writes `count first_s last_s` to $BENCH_PROGRESS as it goes.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from quixstreams import Application

STAMPS = ("placed_at", "requested_at", "filed_at")
progress = Path(os.environ["BENCH_PROGRESS"])
total = int(os.environ.get("BENCH_TOTAL", "0"))
seen = 0
first: float | None = None


def report(seen: int, first: float) -> None:
    """Write progress whole (a rename), so a reader never sees half a line."""
    partial = progress.with_suffix(".partial")
    partial.write_text(f"{seen} {first} {time.time()}")
    partial.replace(progress)


def event_time(value: Any, headers: Any, timestamp: float, timestamp_type: Any) -> int:
    for key in STAMPS:
        if key in value:
            return int(datetime.fromisoformat(value[key]).timestamp() * 1000)
    return int(timestamp)


def counted(value: Any) -> None:
    global seen, first
    if first is None:
        first = time.time()
    seen += 1
    if seen % 2000 == 0 or seen >= total:
        report(seen, first)


def main() -> None:
    env = os.environ
    app = Application(
        broker_address=env["LIVEWATCH_KAFKA_BOOTSTRAP"],
        consumer_group=f"{env['LIVEWATCH_APP_ID']}-quix",
        auto_offset_reset="earliest",
        state_dir=tempfile.mkdtemp(prefix="quix-state-"),
    )
    names = (env["LIVEWATCH_TOPIC_ORDERS"], env["LIVEWATCH_TOPIC_REFUNDS"],
             env["LIVEWATCH_TOPIC_COMPLAINTS"])  # fmt: skip
    frames = [
        app.dataframe(app.topic(n, value_deserializer="json", timestamp_extractor=event_time))
        for n in names
    ]
    sdf = frames[0].concat(frames[1]).concat(frames[2])
    sdf = sdf.update(counted)
    sdf = sdf.hopping_window(duration_ms=600_000, step_ms=60_000).count().final()
    app.run()


if __name__ == "__main__":
    main()
