"""Soak: a worker under steady load for a long time; do memory, store and lag flatten?

    python benchmarks/soak.py [--minutes 10] [--rate 2000] [--anchors 500] [--speed 20]
                              [--out benchmarks/out] [--bootstrap HOST:PORT] [--json]

Starts a worker (RocksDB store) on fresh topics and produces orders, refunds and complaints
of `--anchors` anchors at a steady `--rate` (events per wall second; the default is about a
quarter of what `throughput.py` measures here) with event time running `--speed` times the
wall clock. Window, grace and order horizon are short (step 10 s, windows 30 s and 60 s, grace
10 s, order horizon 120 s of event time), so every horizon passes within seconds of wall time
and expiry cycles hundreds of times. Every `--sample-s` it records the worker's resident
memory, the size of its local store and its consumer lag. After the warm-up (the horizons,
then as long again) each series must flatten: the mean of the last third of the samples within
15% of the middle third's (memory and store), and the lag no higher at the end than in the
middle. Writes `soak.json` (samples and verdicts) and `soak.png` (the three series over time)
to `--out`; exits 1 when a series did not flatten.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from throughput import fresh, scrape

from streams.devtools.children import start_worker, stop, wait_ready
from streams.devtools.kafka_local import KafkaLocal, free_port
from streams.settings import Settings
from streams.topics import create_topics

HORIZONS = {"step_s": 10, "short_window_s": 30, "long_window_s": 60, "grace_s": 10,
            "order_horizon_s": 120}  # fmt: skip
CATEGORIES = ("apparel", "beauty", "electronics", "food", "home")
FLAT_RATIO = 1.15


class Traffic:
    """Orders of a fixed population of anchors, some refunded a little later, a few complaints;
    event time runs `speed` times the wall clock from `start`, which is set so that the run
    ends now: an event dated ahead of its record's timestamp (the producer's clock) by more
    than the worker's tolerance would be refused as `future`."""

    def __init__(self, anchors: int, speed: float, seconds: float, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.anchors = [f"soak-{i:05d}" for i in range(anchors)]
        self.speed = speed
        now = datetime.now(UTC).replace(microsecond=0)
        self.start = now - timedelta(seconds=seconds * speed)
        self.recent: deque[tuple[str, str, str]] = deque(maxlen=20_000)
        self.n = 0

    def at(self, wall_elapsed_s: float) -> str:
        return (self.start + timedelta(seconds=wall_elapsed_s * self.speed)).isoformat()

    def next(self, wall_elapsed_s: float) -> tuple[str, str, dict[str, Any]]:
        """(kind, key, value) of the next event."""
        self.n += 1
        rng, n, when = self.rng, self.n, self.at(wall_elapsed_s)
        draw = rng.random()
        if draw < 0.12 and self.recent:
            order_id, anchor, session = self.recent[rng.randrange(len(self.recent))]
            return "refunds", anchor, {
                "schema_version": 1, "event_id": f"r{n}", "refund_id": f"r{n}",
                "order_id": order_id, "anchor_id": anchor, "session_id": session,
                "amount": "29.90", "currency": "CNY", "reason": "changed_mind",
                "shipped": rng.random() < 0.5, "requested_at": when,
            }  # fmt: skip
        anchor = self.anchors[int(rng.paretovariate(1.2)) % len(self.anchors)]
        session = f"{anchor}-s{int(wall_elapsed_s * self.speed // 3600)}"
        if draw < 0.14:
            return "complaints", anchor, {
                "schema_version": 1, "event_id": f"c{n}", "complaint_id": f"c{n}",
                "anchor_id": anchor, "session_id": session, "merchant_id": "m-1",
                "sku_id": "sku-1", "category": rng.choice(["quality", "late_delivery"]),
                "channel": "platform", "filed_at": when,
            }  # fmt: skip
        order_id = f"o{n}"
        self.recent.append((order_id, anchor, session))
        return "orders", anchor, {
            "schema_version": 1, "event_id": f"o{n}", "order_id": order_id,
            "session_id": session, "anchor_id": anchor, "merchant_id": "m-1",
            "sku_id": f"sku-{n % 50}", "category": CATEGORIES[hash(anchor) % len(CATEGORIES)],
            "buyer_id": f"b{rng.randrange(200_000)}", "quantity": 1, "amount": "29.90",
            "currency": "CNY", "placed_at": when,
        }  # fmt: skip


async def produce(settings: Settings, traffic: Traffic, rate: float, seconds: float,
                  sent: list[int]) -> None:  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=20)
    await producer.start()
    topics = settings.topic_by_kind
    began = time.monotonic()
    try:
        while (elapsed := time.monotonic() - began) < seconds:
            due = int(elapsed * rate) - sent[0]
            for _ in range(max(0, due)):
                kind, key, value = traffic.next(elapsed)
                await producer.send(topics[kind], json.dumps(value).encode(), key=key.encode())
                sent[0] += 1
            await asyncio.sleep(0.02)
        await producer.flush()
    finally:
        await producer.stop()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def store_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def lag_and_consumed(port: int) -> tuple[float, float]:
    found = scrape(port, timeout_s=3)
    if found is None:
        return float("nan"), float("nan")
    consumed, lag = found
    return lag, consumed


async def sample(pid: int, settings: Settings, every_s: float, seconds: float,
                 sent: list[int], samples: list[dict[str, float]]) -> None:  # fmt: skip
    began = time.monotonic()
    while (elapsed := time.monotonic() - began) <= seconds:
        lag, consumed = await asyncio.to_thread(lag_and_consumed, settings.web_port)
        samples.append({
            "t_s": round(elapsed, 1), "rss_mb": round(rss_mb(pid), 1),
            "store_mb": round(store_mb(settings.data_dir), 2), "lag": lag,
            "consumed": consumed, "produced": sent[0],
        })  # fmt: skip
        await asyncio.sleep(every_s)


def verdicts(samples: list[dict[str, float]], warm_s: float) -> dict[str, Any]:
    """After the warm-up: the last third's mean against the middle third's."""
    after = [s for s in samples if s["t_s"] >= warm_s]
    third = len(after) // 3
    if third < 2:
        return {"error": f"too few samples after the warm-up ({len(after)}); run longer"}
    middle, last = after[third : 2 * third], after[2 * third :]
    out: dict[str, Any] = {"warm_up_s": warm_s, "samples_after_warm_up": len(after)}
    for key in ("rss_mb", "store_mb"):
        m = sum(s[key] for s in middle) / len(middle)
        e = sum(s[key] for s in last) / len(last)
        out[key] = {"middle": round(m, 2), "last": round(e, 2),
                    "ratio": round(e / m, 3) if m else None,
                    "flat": bool(m) and e / m <= FLAT_RATIO}  # fmt: skip
    lag_mid = max(s["lag"] for s in middle)
    lag_end = max(s["lag"] for s in last)
    out["lag"] = {"middle_max": lag_mid, "last_max": lag_end,
                  "flat": lag_end <= max(lag_mid * 1.5, 2 * 1000)}  # fmt: skip
    out["flat"] = all(out[k]["flat"] for k in ("rss_mb", "store_mb", "lag"))
    return out


def plot(samples: list[dict[str, float]], warm_s: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s["t_s"] / 60 for s in samples]
    fig, axes = plt.subplots(3, 1, figsize=(9, 7.5), sharex=True)
    series = (("rss_mb", "worker RSS (MB)"), ("store_mb", "local store (MB)"),
              ("lag", "consumer lag (records)"))  # fmt: skip
    for ax, (key, label) in zip(axes, series, strict=True):
        ax.plot(minutes, [s[key] for s in samples], color="#4e79a7")
        ax.axvline(warm_s / 60, color="#e15759", linestyle="--", linewidth=1)
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].set_title(title)
    axes[-1].set_xlabel("minutes (dashed: every horizon passed, warm-up over)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--anchors", type=int, default=500)
    parser.add_argument("--speed", type=float, default=20)
    parser.add_argument("--sample-s", type=float, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--allow-growth",
        action="store_true",
        help="exit 0 even when a series did not flatten (short runs)",
    )
    args = parser.parse_args()
    seconds = args.minutes * 60
    horizon_wall_s = (HORIZONS["order_horizon_s"] + HORIZONS["grace_s"]) / args.speed
    warm_s = min(seconds / 3, max(60.0, 2 * horizon_wall_s))
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="livewatch-soak-") as tmp:
        broker = None if args.bootstrap else KafkaLocal(Path(tmp) / "kafka", port=free_port())
        try:
            bootstrap = args.bootstrap or broker.up()  # type: ignore[union-attr]
            base = Settings(kafka_bootstrap=bootstrap, store="rocksdb://",
                            data_dir=Path(tmp) / "data", **HORIZONS)  # fmt: skip
            settings = fresh(base, f"soak-{uuid.uuid4().hex[:6]}")
            asyncio.run(create_topics(settings))
            log = Path(tmp) / "worker.log"
            worker = start_worker(settings, log)
            samples: list[dict[str, float]] = []
            try:
                wait_ready(f"http://127.0.0.1:{settings.web_port}", worker, log, 120)
                traffic, sent = Traffic(args.anchors, args.speed, seconds), [0]

                async def run() -> None:
                    await asyncio.gather(
                        produce(settings, traffic, args.rate, seconds, sent),
                        sample(worker.pid, settings, args.sample_s, seconds, sent, samples),
                    )

                asyncio.run(run())
                alive = worker.poll() is None
            finally:
                stop(worker, timeout_s=60)
        finally:
            if broker is not None:
                broker.down()
    result = {
        "minutes": args.minutes, "rate": args.rate, "anchors": args.anchors,
        "speed": args.speed, "settings": HORIZONS, "worker_alive": alive,
        "produced": sent[0], "verdict": verdicts(samples, warm_s), "samples": samples,
    }  # fmt: skip
    result["verdict"]["flat"] = bool(result["verdict"].get("flat")) and alive
    (args.out / "soak.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(samples, warm_s, args.out / "soak.png",
         f"livewatch soak: {args.rate:.0f} events/s, {args.anchors} anchors, "
         f"event time x{args.speed:g}")  # fmt: skip
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "samples"}))
    else:
        print(json.dumps(result["verdict"], indent=1))
        print(f"wrote {args.out / 'soak.json'} and {args.out / 'soak.png'}")
    return 0 if result["verdict"]["flat"] or (args.allow_growth and alive) else 1


if __name__ == "__main__":
    sys.exit(main())
