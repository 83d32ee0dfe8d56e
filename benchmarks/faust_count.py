"""The Faust peer of the benchmark: an agent over the three input topics that only counts events
per anchor, with the batching livewatch uses (`take_events(1000, 0.5)`, memory store).

    python benchmarks/faust_count.py worker   (settings from LIVEWATCH_* variables)

Writes `count first_s last_s` (wall-clock seconds) to $BENCH_PROGRESS after every batch.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import faust

from streams.settings import Settings

settings = Settings()
progress = Path(os.environ["BENCH_PROGRESS"])
app = faust.App(
    f"{settings.app_id}-faust-count",
    broker=f"kafka://{settings.kafka_bootstrap}",
    store="memory://",
    datadir=str(progress.parent / f"{settings.app_id}-faust-count-data"),  # not the cwd
    web_port=settings.web_port,
    web_host="127.0.0.1",
    web_bind="127.0.0.1",
    consumer_auto_offset_reset="earliest",
    topic_allow_declare=False,
    topic_disable_leader=True,
)
inputs = app.topic(*settings.input_topics, key_serializer="raw", value_serializer="raw")


def report(seen: int, first: float) -> None:
    """Write progress whole (a rename), so a reader never sees half a line."""
    partial = progress.with_suffix(".partial")
    partial.write_text(f"{seen} {first} {time.time()}")
    partial.replace(progress)


@app.agent(inputs)
async def count(stream: Any) -> None:
    counts: dict[bytes, int] = {}
    seen = 0
    first: float | None = None
    async for events in stream.take_events(1000, 0.5):
        if first is None:
            first = time.time()
        for event in events:
            key = event.message.key or b""
            counts[key] = counts.get(key, 0) + 1
        seen += len(events)
        report(seen, first)


if __name__ == "__main__":
    app.main()
