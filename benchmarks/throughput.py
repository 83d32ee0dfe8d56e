"""Throughput of livewatch against its peers, in one run, on one local broker.

    python benchmarks/throughput.py [--anchors 1000] [--hours 16] [--json] [--quix]

For each backlog shape (`mix`: the simulator's mix, keyed by anchor as the contract asks;
`hot`: the same plus one anchor taking 2,000 orders a minute for an hour; `forwarded`: the mix
keyed by each record's own id (order_id, complaint_id, refund_id) and hashed with CRC32 as
librdkafka does, so nearly every record travels to its anchor's partition, one hop each) it
loads fresh topics, then times, one after the other on the same broker: (1) a plain aiokafka
consumer that decodes JSON and counts per anchor (a pass before the peers, one before the
worker and one after each worker run; the median counts), (2) a Faust agent that only counts
(`benchmarks/faust_count.py`), (3) a livewatch worker (memory store; `--worker-runs` times,
each with an app id of its own; the median counts), and with `--quix` (4)
Quix Streams' idiomatic hopping-window count (`benchmarks/quix_count.py`, in a venv of its own
so it never touches livewatch's). Prints events/s, the ratios, the worker's peak RSS and the
largest changelog record it wrote. Figures on a shared
machine move between runs; the ratios within one run are what hold.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from streams.compiled import choose
from streams.core.rulebook import decode_rule_set
from streams.core.rules import DEFAULT_RULES_PATH
from streams.devtools.children import start_worker, stop
from streams.devtools.kafka_local import KafkaLocal, free_port
from streams.devtools.sim.generator import DEFAULT_START, SimConfig, Simulation
from streams.devtools.sim.hot import hot_session
from streams.devtools.sim.kafka import send_events
from streams.placement import Placement
from streams.rules_topic import publish
from streams.settings import Settings
from streams.topics import create_topics
from streams.worker.tables import TABLES, changelog_topic

HERE = Path(__file__).resolve().parent
Record = tuple[str, Any]


OWN_IDS = Placement.of("crc32", orders="order_id", complaints="complaint_id", refunds="refund_id")
"""The `forwarded` shape's producers: librdkafka's default partitioner, each record keyed by
its own id."""


def backlog(shape: str, anchors: int, hours: float, hot_per_minute: int) -> list[Record]:
    """The events of a shape in delivery order."""
    sim = Simulation(SimConfig(1, anchors, hours))
    mix = ((ev.deliver, ev.seq, (ev.kind, ev.value)) for ev in sim.buffer)
    if shape in ("mix", "forwarded"):
        return [record for _, _, record in mix]
    origin = DEFAULT_START.timestamp()
    hot = hot_session(hot_per_minute, 60, start=DEFAULT_START + timedelta(hours=1))
    timed: Iterator[tuple[float, int, Record]] = (
        (_when(value) - origin, -1, (kind, value)) for kind, value in hot
    )
    return [record for _, _, record in heapq.merge(mix, timed, key=lambda e: (e[0], e[1]))]


def _when(value: dict[str, Any]) -> float:
    stamp = value.get("placed_at") or value.get("requested_at") or value.get("filed_at")
    return datetime.fromisoformat(str(stamp)).timestamp()


async def raw_consumer(settings: Settings, total: int, group: str) -> float:
    """Events per second of a plain consumer that reads, decodes and counts every event,
    timed from its first fetch that returned records, as the other peers are (joining its
    group, up to the broker's `group.initial.rebalance.delay.ms`, is not reading)."""
    consumer = AIOKafkaConsumer(
        *settings.input_topics, bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"{settings.app_id}-{group}", auto_offset_reset="earliest",
    )  # fmt: skip
    await consumer.start()
    counts: dict[str, int] = {}
    seen = 0
    began: float | None = None
    try:
        while seen < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if began is None and batches:
                began = time.perf_counter()
            for records in batches.values():
                for record in records:
                    anchor = json.loads(record.value).get("anchor_id")
                    counts[anchor] = counts.get(anchor, 0) + 1
                    seen += 1
    finally:
        await consumer.stop()
    assert began is not None  # seen reached total
    return total / (time.perf_counter() - began)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    """CPU seconds the process has used, all its threads, user and system."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_rate(cmd: list[str], env: dict[str, str], progress: Path, total: int, log: Path) -> float:
    """Events per second of a peer that writes `count first last` to `progress`."""
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        while True:
            time.sleep(0.5)
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[1]} exited {proc.returncode}; see {log}")
            fields = progress.read_text().split() if progress.exists() else []
            if len(fields) == 3 and int(fields[0]) >= total:  # not a file caught mid-write
                count, first, last = int(fields[0]), float(fields[1]), float(fields[2])
                return count / (last - first)
    finally:
        stop(proc, timeout_s=30)


def wait_settled(port: int, total: int, timeout_s: float = 720) -> None:
    """Until the worker counted `total` records, or read its inputs and settled (see
    `SETTLED_S`), and from then on evaluated no boundary for `EVALUATED_S`: a boundary
    completed by the last records is evaluated once every partition's marks have come back,
    after they were counted (stopping a live worker at the count lost an alert, 144 of 145 in
    one run)."""
    last = evaluated = -1.0
    changed = evaluated_at = time.monotonic()
    counted_at: float | None = None
    deadline = changed + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.5)
        found = scrape_outcomes(port)
        if found is None:
            continue
        now = time.monotonic()
        count, lag, evaluations = sum(found[0].values()), found[1], found[2]
        if count != last:
            last, changed = count, now
        if evaluations != evaluated:
            evaluated, evaluated_at = evaluations, now
        settled = count and lag == 0 and now - changed >= SETTLED_S
        if counted_at is None and (count >= total or settled):
            counted_at = now
        if counted_at is not None and now - max(counted_at, evaluated_at) >= EVALUATED_S:
            return
    raise TimeoutError(
        f"the worker counted {last} of {total} records and had not stopped evaluating "
        f"boundaries in {timeout_s:g} s"
    )


def scrape(port: int, timeout_s: float = 2) -> tuple[float, float] | None:
    """Records counted (every outcome) and records still waiting on the input partitions."""
    found = scrape_outcomes(port, timeout_s)
    return None if found is None else (sum(found[0].values()), found[1])


def scrape_outcomes(
    port: int, timeout_s: float = 2
) -> tuple[dict[str, float], float, float] | None:
    """Records counted by outcome (ok, late, duplicate, or a dead letter's reason), records
    still waiting on the input partitions, and anchor evaluations at boundaries so far. A run
    whose records were dead-lettered reads fast and measures nothing: the result says how
    each record ended."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s) as resp:
            body = resp.read().decode()
    except OSError:
        return None
    outcomes: dict[str, float] = {}
    lag = evaluations = 0.0
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if s.name == "livewatch_events_consumed_total":
                outcome = s.labels.get("outcome", "")
                outcomes[outcome] = outcomes.get(outcome, 0.0) + s.value
            elif s.name == "livewatch_consumer_lag_messages":
                lag += s.value
            elif s.name == "livewatch_rule_evaluations_total":
                evaluations += s.value
    return outcomes, lag, evaluations


async def changelogs_settled(settings: Settings, timeout_s: float = 60) -> None:
    """Wait until the worker's changelog topics hold records and have stopped growing for a
    second: it counts a batch's events before it writes the batch's changelog, so stopping it
    at the count could cut the last write short (and a small run is one batch)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [
            TopicPartition(changelog_topic(settings, table), p)
            for table in TABLES
            for p in range(settings.partitions)
        ]
        deadline = time.monotonic() + timeout_s
        last: dict[TopicPartition, int] = {}
        while time.monotonic() < deadline:
            ends = await consumer.end_offsets(tps)
            if ends == last and any(ends.values()):
                return
            last = ends
            await asyncio.sleep(1.0)
        raise TimeoutError("the worker's changelogs did not settle")
    finally:
        await consumer.stop()


SETTLED_S = 2.0
"""Inputs read and no more records counted for this long: done. A refund naming no anchor is
counted once it met its order in the index, or gave up waiting a grace period later; at the
end of a backlog, one whose order never came waits for time that no longer moves."""


EVALUATED_S = 6.0
"""Every record counted and no anchor evaluated at a boundary for this long: the backlog's
evaluations are done. Longer than `SETTLED_S`: at the end of a backlog, a partition evaluates
once the other partitions' marks come back, and the gaps between those rounds reached 1.8 s."""


COARSE_S = 0.5
"""Scrape cadence while a worker reads its backlog."""
FINE_S = 0.05
"""Scrape cadence before its first record, and from `EDGE_SHARE` of the records on: the
run's span is measured between scrapes, and 0.5 s scrapes overstated it by half a second on
average, up to a second (a twentieth of a `mix` run), against peers that time themselves."""
EDGE_SHARE = 0.95


def worker_core() -> str:
    """Which core the workers started here run (see `streams.compiled`): "compiled", or
    "python", said on stderr too. A source edited after `make compile` makes every worker run
    the sources, at about half the speed (16 s over the `mix` backlog against 7.6 s)."""
    core = choose()
    if not core.compiled:
        print(f"warning: the workers run the Python sources: {core.reason}", file=sys.stderr)
    return core.label


class Run(NamedTuple):
    rate: float
    """Events per second until the last record was counted and the last boundary it asked for
    was evaluated: the backlog's whole work."""
    read_rate: float
    """Events per second until the last record was counted (what this benchmark reported
    before 2026-12-04): a backlog's boundaries are evaluated behind the reading, as the marks
    of every partition come back, and 8 to 16% of the worker's time on `mix` and `hot` came
    after its last record (docs/performance-history.md)."""
    rss_mb: float
    """The largest peak RSS of the group's workers."""
    outcomes: dict[str, int]
    """Records by outcome (ok, late, duplicate, or a dead letter's reason)."""
    cpu_s: float
    """CPU seconds the workers used over the same span as `rate`, summed: events per CPU
    second compare one worker and a group apart from the cores the machine had to spare."""

    @property
    def per_cpu_s(self) -> int:
        """Records counted per CPU second of the workers."""
        return round(sum(self.outcomes.values()) / self.cpu_s)

    @property
    def cores(self) -> float:
        """CPU seconds per second of the run: a lone worker keeps about one core busy through
        a backlog (its main thread is its limit); well under it, the worker waited."""
        return round(self.rate * self.cpu_s / sum(self.outcomes.values()), 2)


def worker_run(settings: Settings, total: int, log: Path) -> Run:
    """A worker's rates (see `Run`), timed from its last scrape before it consumed anything
    to the scrape that found its last evaluation (scrapes 50 ms apart there, see `FINE_S`: a
    tenth of a second's resolution). Counted means every event, or, once its
    inputs are read, the last change of the count. The worker is stopped once its changelog
    writes have settled."""
    return group_run([settings], total, log)


def group_run(group: list[Settings], total: int, log: Path) -> Run:
    """`worker_run` for workers of one consumer group (one app id, a web port and data
    directory each): their counts and evaluations summed, their largest peak RSS."""
    workers = [
        start_worker(s, log.with_name(f"{log.stem}-{i}{log.suffix}")) for i, s in enumerate(group)
    ]
    try:
        idle_until = time.perf_counter()
        last, changed = 0.0, time.perf_counter()
        evaluated, evaluated_at = 0.0, time.perf_counter()
        read_end: float | None = None
        cpu_at = {idle_until: sum(cpu_s(w.pid) for w in workers)}
        """The workers' CPU seconds at each scrape, by its time."""

        def cpu_by(t: float) -> float:
            return cpu_at[max((k for k in cpu_at if k <= t), default=min(cpu_at))]

        while True:
            # About a Prometheus scrape cadence while the worker reads (a scrape costs it time),
            # finer at either end, where the scrape times are the run's start and end.
            edge = not last or last >= EDGE_SHARE * total or read_end is not None
            time.sleep(FINE_S if edge else COARSE_S)
            if any(w.poll() is not None for w in workers):
                raise RuntimeError(f"a worker exited; see {log}")
            now = time.perf_counter()
            found = [scrape_outcomes(s.web_port) for s in group]
            cpu_at[now] = sum(cpu_s(w.pid) for w in workers)
            count = sum(sum(f[0].values()) for f in found if f is not None)
            lag = sum(f[1] for f in found if f is not None) if all(found) else 1.0
            evaluations = sum(f[2] for f in found if f is not None)
            if not count:
                idle_until = now
            if count != last:
                last, changed = count, now
            if evaluations != evaluated:
                evaluated, evaluated_at = evaluations, now
            settled = lag == 0 and now - changed >= SETTLED_S
            if read_end is None and (count >= total or (count and settled)):
                read_end = now if count >= total else changed
            if read_end is not None and now - evaluated_at >= EVALUATED_S:
                end = max(read_end, evaluated_at)
                asyncio.run(changelogs_settled(group[0]))
                outcomes: dict[str, int] = {}
                for s in group:
                    final = scrape_outcomes(s.web_port)
                    for k, v in (final[0] if final else {}).items():
                        outcomes[k] = outcomes.get(k, 0) + int(v)
                return Run(
                    rate=count / (end - idle_until),
                    read_rate=count / (read_end - idle_until),
                    rss_mb=max(peak_rss_mb(w.pid) for w in workers),
                    outcomes={k: v for k, v in outcomes.items() if v},
                    cpu_s=cpu_by(end) - cpu_by(idle_until),
                )
    finally:
        for worker in workers:
            stop(worker, timeout_s=60)


def scale_run(
    settings: Settings, total: int, once: dict[str, int], n: int, tmp: Path
) -> dict[str, Any]:
    """`n` workers in a group of their own over the same backlog: how the work spreads.
    `once`: the lone worker's records by outcome, each record counted once. So
    `livewatch_xN_reread` is what the group counted beyond it: records read again after a
    partition moved between the workers mid-run (0 when they shared the group's first
    assignment, see `--group-delay-ms`)."""
    base = another_app(settings, f"x{n}")  # each member a web port of its own, below
    group = [
        base.model_copy(update={"web_port": free_port(), "data_dir": tmp / f"{base.app_id}-{i}"})
        for i in range(n)
    ]
    run = group_run(group, total, tmp / f"{base.app_id}.log")
    return {f"livewatch_x{n}": run.rate, f"livewatch_x{n}_read_only": run.read_rate,
            f"livewatch_x{n}_peak_rss_mb": round(run.rss_mb, 1),
            f"livewatch_x{n}_outcomes": run.outcomes,
            f"livewatch_x{n}_per_cpu_s": run.per_cpu_s,
            f"livewatch_x{n}_reread": sum(run.outcomes.values()) - sum(once.values())}  # fmt: skip


class Changelogs(NamedTuple):
    """What the worker wrote to each table's changelog over a run."""

    records: dict[str, int]
    bytes: dict[str, int]
    """Keys and values."""
    largest: dict[str, int]
    """The largest value."""


async def changelog_figures(settings: Settings) -> Changelogs:
    """Each changelog topic of the worker's tables read to its end offsets (a first empty poll
    is not the end: a loaded broker may answer it before any assignment). Every record the
    worker wrote is still there: a run is far shorter than the time Kafka takes to compact or
    expire a segment."""
    records: dict[str, int] = {}
    size: dict[str, int] = {}
    largest: dict[str, int] = {}
    for table in TABLES:
        topic = changelog_topic(settings, table)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap, group_id=None,
            auto_offset_reset="earliest",
        )  # fmt: skip
        await consumer.start()
        records[table] = size[table] = largest[table] = 0
        try:
            tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            deadline = time.monotonic() + 60
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{topic} not read to its end in 60 s")
                batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
                for found in batches.values():
                    for r in found:
                        value = len(r.value or b"")
                        records[table] += 1
                        size[table] += len(r.key or b"") + value
                        largest[table] = max(largest[table], value)
        finally:
            await consumer.stop()
    return Changelogs(records, size, largest)


def fresh(base: Settings, tag: str) -> Settings:
    """`base` with an app id, topics and a web port of its own, so runs never share state."""
    return base.model_copy(update={
        "app_id": f"bench-{tag}", "topic_orders": f"orders-{tag}",
        "topic_refunds": f"refunds-{tag}", "topic_complaints": f"complaints-{tag}",
        "topic_alerts": f"alerts-{tag}", "topic_deadletter": f"deadletter-{tag}",
        "web_port": free_port(),
    })  # fmt: skip


def another_app(settings: Settings, suffix: str, **update: Any) -> Settings:
    """`settings` as another app over the same inputs: an app id (so internal topics,
    changelogs and offsets) and a web port of its own, its topics created."""
    other = settings.model_copy(
        update={"app_id": f"{settings.app_id}-{suffix}", "web_port": free_port(), **update}
    )
    asyncio.run(create_topics(other))
    return other


def run_shape(shape: str, base: Settings, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    tag = f"{shape}-{uuid.uuid4().hex[:6]}"
    settings = fresh(base, tag)
    asyncio.run(create_topics(settings))
    events = backlog(shape, args.anchors, args.hours, args.hot_per_minute)
    placement = OWN_IDS if shape == "forwarded" else Placement()
    total = asyncio.run(send_events(settings, events, placement=placement))
    result: dict[str, Any] = {"events": total}
    # The raw consumer reads the backlog in about a second, and one pass moved by a third
    # between runs minutes apart; the worker, timed once over about ten seconds, moved by a
    # half. Each is timed several times, alternately: the raw consumer before the peers,
    # before the first worker and after each worker run; the medians count.
    raw_passes = [asyncio.run(raw_consumer(settings, total, "raw-1"))]
    env = {**os.environ, **settings.as_env(), "BENCH_PROGRESS": str(tmp / f"{tag}.faust")}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")])
    result["faust"] = child_rate(
        [sys.executable, str(HERE / "faust_count.py"), "worker", "-l", "warn"],
        env, tmp / f"{tag}.faust", total, tmp / f"{tag}-faust.log",
    )  # fmt: skip
    if args.quix:
        env["BENCH_PROGRESS"], env["BENCH_TOTAL"] = str(tmp / f"{tag}.quix"), str(total)
        result["quix"] = child_rate(
            [str(args.quix_python), str(HERE / "quix_count.py")],
            env, tmp / f"{tag}.quix", total, tmp / f"{tag}-quix.log",
        )  # fmt: skip
    raw_passes.append(asyncio.run(raw_consumer(settings, total, "raw-2")))
    runs = []
    for i in range(args.worker_runs):
        suffix = f"r{i + 1}"
        again = (
            another_app(settings, suffix, data_dir=tmp / f"{settings.app_id}-{suffix}")
            if i
            else settings
        )
        runs.append(worker_run(again, total, tmp / f"{tag}-worker-{i + 1}.log"))
        raw_passes.append(asyncio.run(raw_consumer(settings, total, f"raw-{i + 3}")))
    result["raw"] = statistics.median(raw_passes)
    result["raw_passes"] = [round(r) for r in raw_passes]
    run = runs[0]
    rate = result["livewatch"] = statistics.median(r.rate for r in runs)
    result["livewatch_runs"] = [round(r.rate) for r in runs]
    result["livewatch_read_only"] = statistics.median(r.read_rate for r in runs)
    result["livewatch_peak_rss_mb"] = round(max(r.rss_mb for r in runs), 1)
    result["livewatch_outcomes"] = run.outcomes
    # the same backlog gives the same outcomes, however the runs were timed
    result["livewatch_runs_agree"] = all(r.outcomes == run.outcomes for r in runs)
    result["livewatch_per_cpu_s"] = round(statistics.median(r.per_cpu_s for r in runs))
    # each run's own: a run whose rate fell while its events per CPU second held was waiting
    # (for the broker: the raw consumer only reads), not working harder
    result["livewatch_runs_per_cpu_s"] = [r.per_cpu_s for r in runs]
    result["livewatch_runs_cores"] = [r.cores for r in runs]
    changelogs = asyncio.run(changelog_figures(settings))
    result["largest_changelog_record_bytes"] = changelogs.largest
    result["changelog_records"] = changelogs.records
    # what each event costs the worker and the broker in state writes (encoded, sent, stored)
    result["changelog_records_per_event"] = round(sum(changelogs.records.values()) / total, 2)
    result["changelog_bytes_per_event"] = round(sum(changelogs.bytes.values()) / total)
    for peer in ("faust", "quix"):
        if peer in result:
            result[f"livewatch_vs_{peer}"] = round(rate / result[peer], 3)
    result["livewatch_vs_raw"] = round(rate / result["raw"], 3)
    if args.workers > 1:
        result.update(scale_run(settings, total, run.outcomes, args.workers, tmp))
        result[f"livewatch_x{args.workers}_vs_one"] = round(
            result[f"livewatch_x{args.workers}"] / rate, 3
        )
        # work per CPU second of the group against the lone worker's: below 1, the group
        # spends more per event (the marks between workers, the broker's share aside)
        result[f"livewatch_x{args.workers}_cpu_efficiency"] = round(
            result[f"livewatch_x{args.workers}_per_cpu_s"] / result["livewatch_per_cpu_s"], 3
        )
    if args.shadow:
        result.update(shadow_run(settings, total, tmp / f"{tag}-shadow.log"))
        result["livewatch_shadow_vs_live"] = round(result["livewatch_shadow"] / rate, 3)
    return result


def shadow_run(settings: Settings, total: int, log: Path) -> dict[str, Any]:
    """A second worker over the same backlog (an app id of its own) with a shadow copy of its
    live rules: every rule judged twice at every boundary."""
    shadowed = another_app(settings, "shadow", topic_alerts_shadow=f"{settings.app_id}-sa")
    text = (shadowed.rules_path or DEFAULT_RULES_PATH).read_text(encoding="utf-8")
    record = {"version": 1, "kind": "shadow", "effective_ms": 0, "rules": text,
              "published_by": "benchmark", "source": "shadow copy of the live rules"}  # fmt: skip
    asyncio.run(publish(shadowed, decode_rule_set(record)))
    run = worker_run(shadowed, total, log)
    return {"livewatch_shadow": run.rate, "livewatch_shadow_peak_rss_mb": round(run.rss_mb, 1),
            "livewatch_shadow_outcomes": run.outcomes}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--anchors", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=16)
    parser.add_argument("--hot-per-minute", type=int, default=2000)
    parser.add_argument("--shapes", default="mix,hot,forwarded")
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--quix", action="store_true", help="also run the Quix Streams peer")
    parser.add_argument("--quix-python", type=Path, default=HERE / ".venv-quix/bin/python",
                        help="a Python with quixstreams installed (see quix_count.py)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="also N workers in one group on the same backlog (scale-out)",
    )
    parser.add_argument("--partitions", type=int, default=8, help="partitions of every topic")
    parser.add_argument(
        "--worker-runs",
        type=int,
        default=3,
        help="times the worker is timed per shape, alternating with the raw consumer (median)",
    )
    parser.add_argument(
        "--group-delay-ms",
        type=int,
        default=3000,
        help="group.initial.rebalance.delay.ms of the broker it starts (Kafka's default, 3000:"
        " workers started together share the first assignment; 0: the first to join takes"
        " every partition and hands half over, its tables recovered, a rebalance later)",
    )
    parser.add_argument(
        "--shadow",
        action="store_true",
        help="also a worker with a shadow copy of the rules (its cost)",
    )
    args = parser.parse_args()
    if args.worker_runs < 1:
        parser.error("--worker-runs: at least 1")
    results: dict[str, Any] = {"core": worker_core()}
    with tempfile.TemporaryDirectory(prefix="livewatch-bench-") as tmp:
        delay = args.group_delay_ms
        broker = None if args.bootstrap else KafkaLocal(
            Path(tmp) / "kafka", port=free_port(), initial_rebalance_delay_ms=delay
        )  # fmt: skip
        try:
            bootstrap = args.bootstrap or broker.up()  # type: ignore[union-attr]
            base = Settings(kafka_bootstrap=bootstrap, store="memory://",
                            data_dir=Path(tmp) / "data", partitions=args.partitions)  # fmt: skip
            for shape in args.shapes.split(","):
                results[shape] = run_shape(shape, base, args, Path(tmp))
        finally:
            if broker is not None:
                broker.down()
    for shape in ("hot", "forwarded"):
        if "mix" in results and shape in results:
            ratio = results[shape]["livewatch"] / results["mix"]["livewatch"]
            results[f"{shape}_vs_mix"] = round(ratio, 3)
    if args.json:
        print(json.dumps(results))
        return
    for shape, r in results.items():
        if not isinstance(r, dict):
            continue
        print(f"{shape}: {r['events']} events")
        for peer in ("raw", "faust", "quix", "livewatch"):
            if peer in r:
                print(f"  {peer:<10} {r[peer]:>10,.0f} events/s")
        for key in sorted(k for k in r if k.startswith("livewatch_")):
            print(f"  {key}: {r[key]}")
        print(f"  largest changelog record: {r['largest_changelog_record_bytes']}")
        print(f"  changelog records: {r['changelog_records']} "
              f"({r['changelog_records_per_event']} and {r['changelog_bytes_per_event']} bytes "
              "per event)")  # fmt: skip
    for shape in ("hot", "forwarded"):
        if f"{shape}_vs_mix" in results:
            print(f"livewatch {shape} / mix: {results[f'{shape}_vs_mix']}")


if __name__ == "__main__":
    main()
