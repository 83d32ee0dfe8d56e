"""Test traffic from other Kafka clients, each with its own defaults: librdkafka
(confluent-kafka), Kafka's Java client, Sarama (Go) and KafkaJS (Node.js).

A check that passes only with livewatch's own producer code (aiokafka, murmur2) proves little
about the producers livewatch's users run: librdkafka's default partitioner is CRC32
(`consistent_random`), Sarama's FNV-1a, KafkaJS's legacy one a murmur2 of its own, and keys
follow the producing service's needs.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from schemas import TOPIC_MODELS
from streams.devtools.kafka_local import resolve_jars
from streams.placement import KeyField, record_key
from streams.settings import Settings


def produce_librdkafka(
    settings: Settings,
    records: Iterable[tuple[str, Any]],
    keys: dict[str, KeyField] | None = None,
    rate: float | None = None,
    minute_barrier: bool = True,
    config: dict[str, Any] | None = None,
    transactional: bool = False,
    encode: Callable[[Any], bytes] | None = None,
    aborted: Mapping[str, list[tuple[str, Any]]] | None = None,
) -> int:
    """Send `(topic kind, value)` records with confluent-kafka's defaults (partitioner
    `consistent_random`: CRC32 of the key, random without one), keyed as `keys` says per topic
    (default: the anchor, as the README asks), stamped with their event time (simulated time
    runs ahead of the wall clock). With `minute_barrier`, the producer is flushed
    whenever the event time enters a new minute, as a live platform's minutes reach the broker
    in order; `rate` caps records per second. `transactional`: each minute is a transaction
    (as a Flink or Kafka Streams job with exactly-once output writes), so every partition's
    records are followed by a commit marker, an offset no consumer ever receives. `encode`: a
    value's bytes (default: its JSON; a Schema Registry serializer's frame before it, a Kafka
    Connect envelope around it). `aborted`
    (with `transactional`): by event minute (`YYYY-MM-DDTHH:MM`), records sent in a transaction
    of their own right after that minute's, then aborted. Blocking:
    run it in a thread from async code."""
    extra = {"transactional.id": f"lw-test-{time.monotonic_ns()}"} if transactional else {}
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5,
                         **extra, **(config or {})})  # fmt: skip
    if transactional:
        producer.init_transactions(30)
        producer.begin_transaction()
    chosen = keys or {}
    minute: str | None = None
    sent = 0
    began = time.monotonic()
    for kind, value in records:
        event = TOPIC_MODELS[kind].model_validate(value)
        stamp = event.event_time.isoformat()[:16]
        if minute_barrier and stamp != minute:
            if transactional:
                producer.commit_transaction(30)
                if aborted and minute is not None and minute in aborted:
                    producer.begin_transaction()
                    for k, v in aborted[minute]:
                        _send(producer, settings, k, v, chosen, encode or as_json)
                    producer.flush(30)  # on the broker, then aborted there
                    producer.abort_transaction(30)
                producer.begin_transaction()
            else:
                producer.flush()
            minute = stamp
        _send(producer, settings, kind, value, chosen, encode or as_json)
        producer.poll(0)
        sent += 1
        if rate:
            ahead = began + sent / rate - time.monotonic()
            if ahead > 0.05:
                time.sleep(ahead)
    if transactional:
        producer.commit_transaction(60)
    remaining = producer.flush(60)
    assert remaining == 0, f"{remaining} records not delivered"
    return sent


def as_json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _send(
    producer: Producer, settings: Settings, kind: str, value: Any,
    keys: Mapping[str, KeyField], encode: Callable[[Any], bytes],
) -> None:  # fmt: skip
    """One record, keyed as `keys` says for its topic (default: the anchor), stamped with its
    event time, waiting for room in the local queue when it is full."""
    event = TOPIC_MODELS[kind].model_validate(value)
    key = record_key(event, keys.get(kind, "anchor"))
    while True:
        try:
            producer.produce(
                settings.topic_by_kind[kind], encode(value), key,
                timestamp=int(event.event_time.timestamp() * 1000),
            )  # fmt: skip
            return
        except BufferError:  # the local queue is full: let it drain
            producer.poll(0.1)


_DIE_IN_A_TRANSACTION = """
import json, os, sys
from confluent_kafka import Producer
bootstrap, timeout_ms, records = json.loads(sys.stdin.read())
producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": "lw-test-dies",
                     "transaction.timeout.ms": timeout_ms})
producer.init_transactions(30)
producer.begin_transaction()
for topic, key, value, stamp in records:
    producer.produce(topic, value.encode(), key and key.encode(), timestamp=stamp)
assert producer.flush(30) == 0
os._exit(0)  # no commit, no abort, no goodbye: a producer process killed mid-transaction
"""


def die_in_a_transaction(
    settings: Settings, records: Iterable[tuple[str, Any]], timeout_ms: int
) -> None:
    """Send `records` (keyed by their anchor) in a transaction from a producer process that
    then dies without ending it: the broker holds the transaction open, and every record
    after it on its partitions unreadable by `read_committed` consumers, until its
    coordinator aborts it `timeout_ms` later (plus up to its abort check interval, 10 s by
    default). Blocking."""
    wire = []
    for kind, value in records:
        event = TOPIC_MODELS[kind].model_validate(value)
        key = record_key(event, "anchor")
        stamp = int(event.event_time.timestamp() * 1000)
        wire.append((settings.topic_by_kind[kind], key and key.decode(), json.dumps(value), stamp))
    args = json.dumps([settings.kafka_bootstrap, timeout_ms, wire])
    subprocess.run(
        [sys.executable, "-c", _DIE_IN_A_TRANSACTION], input=args, text=True, check=True,
        timeout=120,
    )  # fmt: skip


JAVA_SOURCE = Path(__file__).parent / "java" / "LinesProducer.java"
GO_MODULE = Path(__file__).parent / "go"
NODE_PACKAGE = Path(__file__).parent / "node"


def produce_java(
    settings: Settings, records: Iterable[tuple[str, Any]], keys: dict[str, KeyField] | None = None
) -> int:
    """Send `(topic kind, value)` records with Kafka's own Java client and its defaults
    (murmur2 for keyed records, idempotence and acks=all), keyed as `keys` says per topic
    (default: the anchor), stamped with their event time, each event-minute flushed before the
    next. The producer (`java/LinesProducer.java`) is compiled against the broker's
    `kafka-clients` jar on first use. Blocking."""
    libs = resolve_jars()
    classes = Path(tempfile.gettempdir()) / f"livewatch-java-{_digest(JAVA_SOURCE)}"
    if not (classes / "LinesProducer.class").exists():
        classes.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["javac", "-cp", f"{libs}/*", "-d", str(classes), str(JAVA_SOURCE)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    command = ["java", "-cp", f"{classes}{os.pathsep}{libs}/*", "LinesProducer"]
    return _produce_lines(command, settings, records, keys)


def produce_sarama(
    settings: Settings, records: Iterable[tuple[str, Any]], keys: dict[str, KeyField] | None = None
) -> int:
    """Send `(topic kind, value)` records with Sarama, the Go client, and its defaults (its
    hash partitioner: FNV-1a of the key; acks from the leader), keyed and flushed as
    `produce_java` does. The producer (`go/main.go`) is built on first use, its modules fetched
    from the Go module proxy at the versions `go/go.sum` pins. Blocking."""
    digest = _digest(*sorted(GO_MODULE.iterdir()))
    binary = Path(tempfile.gettempdir()) / f"livewatch-sarama-{digest}"
    if not binary.exists():
        env = dict(os.environ)
        if "HOME" not in env:  # go keeps its caches under HOME unless told where
            caches = Path(tempfile.gettempdir()) / "livewatch-go"
            env.setdefault("GOCACHE", str(caches / "build"))
            env.setdefault("GOMODCACHE", str(caches / "mod"))
        built = subprocess.run(
            ["go", "build", "-mod=readonly", "-o", str(binary), "."],
            cwd=GO_MODULE, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if built.returncode != 0:
            raise RuntimeError(f"go build of {GO_MODULE} failed:\n{built.stderr}")
    return _produce_lines([str(binary)], settings, records, keys)


def produce_kafkajs(
    settings: Settings,
    records: Iterable[tuple[str, Any]],
    keys: dict[str, KeyField] | None = None,
    partitioner: str = "legacy",
) -> int:
    """Send `(topic kind, value)` records with KafkaJS, the Node.js client, and its defaults
    but the partitioner: `legacy` (`Partitioners.LegacyPartitioner`, KafkaJS 1's default and
    a murmur2 of its own) or `default` (Java's murmur2); keyed and flushed as `produce_java`
    does. The package (`node/`) is installed on first use with `npm ci`, at the version its
    lock file pins, into a directory of its own outside the checkout. Blocking."""
    files = sorted(f for f in NODE_PACKAGE.iterdir() if f.is_file())
    home = Path(tempfile.gettempdir()) / f"livewatch-kafkajs-{_digest(*files)}"
    if not (home / "node_modules" / "kafkajs").exists():
        home.mkdir(parents=True, exist_ok=True)
        for f in files:
            (home / f.name).write_bytes(f.read_bytes())
        installed = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=home, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if installed.returncode != 0:
            raise RuntimeError(f"npm ci of {NODE_PACKAGE} failed:\n{installed.stderr}")
    return _produce_lines(["node", str(home / "producer.js"), partitioner], settings, records, keys)


def _produce_lines(
    command: list[str],
    settings: Settings,
    records: Iterable[tuple[str, Any]],
    keys: dict[str, KeyField] | None,
) -> int:
    """Run a line producer (`command` and the bootstrap address): one line per record,
    "topic<TAB>key<TAB>timestamp ms<TAB>value", an empty line where an event-minute ends (the
    producer flushes there); returns the count it says it sent."""
    chosen = keys or {}
    lines = []
    minute = None
    for kind, value in records:
        event = TOPIC_MODELS[kind].model_validate(value)
        stamp = event.event_time.isoformat()[:16]
        if stamp != minute:
            lines.append("")  # the producer flushes here
            minute = stamp
        key = record_key(event, chosen.get(kind, "anchor"))
        ms = int(event.event_time.timestamp() * 1000)
        text = json.dumps(value)
        lines.append(f"{settings.topic_by_kind[kind]}\t{key.decode() if key else ''}\t{ms}\t{text}")
    done = subprocess.run(
        [*command, settings.kafka_bootstrap], input="\n".join(lines) + "\n",
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return int(done.stdout.split()[-1])


def _digest(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]
