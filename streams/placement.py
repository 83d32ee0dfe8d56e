"""Which partition owns an anchor, and where producers put records.

livewatch owns each anchor on one partition number, `owner(anchor_id)`: murmur2 of its UTF-8
bytes, Kafka's Java default. Every routing decision (a record sent on to its anchor, an order's
index entry, the HTTP API's `/anchors/{id}`) uses that one function.

Producers put records wherever their key and partitioner say, and livewatch does not own them:
librdkafka clients (confluent-kafka, kcat, node-rdkafka) hash keys with CRC32, Sarama with
FNV-1a, KafkaJS's legacy partitioner with a murmur2 of its own, and order services key by
`order_id` or buyer. A record read on a partition other than its anchor's is sent on to it
(see `core.partition`). `Placement` describes such a producer, so
the simulator can produce like one and the replay can read a file the way the worker read the
topics.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from typing import Literal, get_args

from mypy_extensions import i64

from schemas import Complaint, InputEvent, Order, Refund

Partitioner = Literal["murmur2", "crc32", "fnv1a", "kafkajs_legacy"]
"""`murmur2`: the Java client's and aiokafka's default (and librdkafka's `murmur2_random`, and
KafkaJS's default since 2.0). `crc32`: librdkafka's default `consistent_random`. `fnv1a`:
Sarama's default (Go). `kafkajs_legacy`: KafkaJS's `Partitioners.LegacyPartitioner` (its
default before 2.0, kept by services that pinned it). A record without a key goes to a random
partition under each."""
PARTITIONERS: tuple[Partitioner, ...] = get_args(Partitioner)

KeyField = Literal[
    "anchor", "order_id", "refund_id", "complaint_id", "event_id", "buyer_id", "session_id", "none"
]
"""What a producer keys a topic's records by. `anchor`: the anchor id (for a refund that names
none, its `order_id`); `none`: no key."""
KEY_FIELDS: tuple[KeyField, ...] = get_args(KeyField)
KEYS_OF: dict[str, tuple[KeyField, ...]] = {
    "orders": ("anchor", "order_id", "event_id", "buyer_id", "session_id", "none"),
    "refunds": ("anchor", "order_id", "refund_id", "event_id", "session_id", "none"),
    "complaints": ("anchor", "complaint_id", "order_id", "event_id", "session_id", "none"),
}
"""The keys each input topic's records can carry."""

RefundKey = Literal["anchor", "order_id", "refund_id"]
"""How a producer keys refunds (the simulator's and the replay's `--refunds-by`)."""
REFUND_KEYS: tuple[RefundKey, ...] = get_args(RefundKey)


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (the Java client's `Utils.murmur2`). Asked for every order the worker
    counts (its index partition). Written on 64-bit native integers (`i64`): compiled, mypyc
    keeps them in machine words, 0.06 µs a key instead of 2.5 µs with Python's integers,
    whose products here pass mypyc's 63-bit fast range. Every product is of two values under
    2**32 and 2**31, so none overflows 64 bits."""
    m: i64 = 0x5BD1E995
    mask: i64 = 0xFFFFFFFF
    length: i64 = len(data)
    h: i64 = 0x9747B28C ^ length
    end: i64 = length & ~3
    i: i64 = 0
    while i < end:
        k: i64 = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * m) & mask
        k = ((k ^ (k >> 24)) * m) & mask
        h = ((h * m) & mask) ^ k
        i += 4
    tail = length & 3
    if tail >= 3:
        h ^= data[end + 2] << 16
    if tail >= 2:
        h ^= data[end + 1] << 8
    if tail >= 1:
        h = ((h ^ data[end]) * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    return int(h ^ (h >> 15))


def murmur2_partition(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner: positive(murmur2(key)) % partitions."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def crc32_partition(key: bytes, partitions: int) -> int:
    """librdkafka's `consistent`/`consistent_random`: CRC-32 (IEEE) of the key."""
    return zlib.crc32(key) % partitions


def fnv1a_partition(key: bytes, partitions: int) -> int:
    """Sarama's default hash partitioner: FNV-1a 32-bit read as int32, modulo, sign dropped."""
    h = 0x811C9DC5
    for byte in key:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    signed = h - (1 << 32) if h >= 1 << 31 else h
    return abs(signed) % partitions  # Go's % keeps the sign; sarama then drops it


def kafkajs_legacy_hash(key: bytes) -> int:
    """KafkaJS's legacy murmur2 (`Partitioners.LegacyPartitioner`), which is not Kafka's: it
    multiplies in JavaScript's doubles, not 32-bit integers (Python's floats round the same
    way), and for a length not a multiple of four it mixes one more block of zero bytes."""
    m = float(0x5BD1E995)
    length = len(key)
    h = float(_int32(0x9747B28C) ^ length)
    i = 0
    while i < length:  # JavaScript's `i < length / 4`, in blocks: the last one padded
        b = [key[j] if j < length else 0 for j in range(i, i + 4)]
        k = float(b[0] + (b[1] << 8) + (b[2] << 16) + _int32(b[3] << 24)) * m
        k = float(_int32(k) ^ (_uint32(k) >> 24)) * m
        h = float(_int32(h * m) ^ _int32(k))
        i += 4
    end = length & ~3
    tail = length % 4
    if tail >= 3:
        h = float(_int32(h) ^ (key[end + 2] << 16))
    if tail >= 2:
        h = float(_int32(h) ^ (key[end + 1] << 8))
    if tail >= 1:
        h = float(_int32(h) ^ key[end]) * m
    h = float(_int32(h) ^ (_uint32(h) >> 13)) * m
    return _int32(h) ^ (_uint32(h) >> 15)


def _int32(x: float) -> int:
    """JavaScript's ToInt32: the integer's low 32 bits, signed."""
    n = int(x) & 0xFFFFFFFF
    return n - (1 << 32) if n >= 1 << 31 else n


def _uint32(x: float) -> int:
    """JavaScript's ToUint32 (what `>>>` reads)."""
    return int(x) & 0xFFFFFFFF


def kafkajs_legacy_partition(key: bytes, partitions: int) -> int:
    """KafkaJS's `LegacyPartitioner`: its murmur2's low 31 bits, modulo."""
    return (kafkajs_legacy_hash(key) & 0x7FFFFFFF) % partitions


HASHES = {
    "murmur2": murmur2_partition,
    "crc32": crc32_partition,
    "fnv1a": fnv1a_partition,
    "kafkajs_legacy": kafkajs_legacy_partition,
}


def owner(key: str, partitions: int) -> int:
    """The partition that owns `key` (an anchor id, an order id in the index): murmur2 of its
    UTF-8 bytes, where a Java or aiokafka producer keying by it puts it."""
    return murmur2_partition(key.encode(), partitions)


class Owners:
    """`owner` for one partition count, remembering recent answers: it is asked once per
    record, and a murmur2 run from the sources (`LIVEWATCH_COMPILED=0`) costs about 3 µs."""

    LIMIT = 100_000

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._known: dict[str, int] = {}

    def __call__(self, key: str) -> int:
        found = self._known.get(key)
        if found is None:
            if len(self._known) >= self.LIMIT:
                self._known.clear()
            found = self._known[key] = owner(key, self.partitions)
        return found


def record_key(event: InputEvent, by: KeyField = "anchor") -> bytes | None:
    """The key a producer keying by `by` gives this event (None: no key).

    Raises ValueError when the event has no such field (a refund has no buyer)."""
    if by == "none":
        return None
    if by == "anchor":
        anchor = event.anchor_id
        if anchor is None:
            assert isinstance(event, Refund)
            return event.order_id.encode()
        return anchor.encode()
    value = getattr(event, by, None) if by in _FIELDS[type(event)] else None
    if value is None and by != "session_id":
        raise ValueError(f"{type(event).__name__.lower()}s have no {by} to key by")
    return value.encode() if value is not None else None


_FIELDS: dict[type, frozenset[str]] = {
    Order: frozenset(Order.model_fields),
    Refund: frozenset(Refund.model_fields),
    Complaint: frozenset(Complaint.model_fields),
}


@dataclass(frozen=True)
class Placement:
    """How a set of producers keys and partitions the input topics.

    The contract (`Placement()`): every topic keyed by the anchor, murmur2: nothing is sent on.
    """

    orders: KeyField = "anchor"
    refunds: KeyField = "anchor"
    complaints: KeyField = "anchor"
    partitioner: Partitioner = "murmur2"
    seed: int = 0
    """Seeds the random partitions of records without a key, so a replay is repeatable."""

    def __post_init__(self) -> None:
        for kind, allowed in KEYS_OF.items():
            by = getattr(self, kind)
            if by not in allowed:
                raise ValueError(
                    f"{kind} cannot be keyed by {by!r}; choose from {', '.join(allowed)}"
                )
        if self.partitioner not in PARTITIONERS:
            raise ValueError(
                f"partitioner must be one of {', '.join(PARTITIONERS)}, got {self.partitioner!r}"
            )

    @classmethod
    def of(cls, partitioner: Partitioner = "murmur2", seed: int = 0, **keys: KeyField) -> Placement:
        """`Placement.of("crc32", orders="order_id")`: the contract, but for what is named."""
        unknown = set(keys) - set(KEYS_OF)
        if unknown:
            raise ValueError(f"no input topic {sorted(unknown)}; they are {', '.join(KEYS_OF)}")
        return cls(partitioner=partitioner, seed=seed, **keys)

    def key(self, kind: str, event: InputEvent) -> bytes | None:
        by: KeyField = getattr(self, kind)
        return record_key(event, by)

    def partition(self, kind: str, event: InputEvent, partitions: int, rng: random.Random) -> int:
        """Where this producer puts the event: its key's hash, or a random partition."""
        key = self.key(kind, event)
        if key is None:
            return rng.randrange(partitions)
        return HASHES[self.partitioner](key, partitions)

    def describe(self) -> str:
        keys = ", ".join(f"{kind} by {getattr(self, kind)}" for kind in KEYS_OF)
        return f"{keys}; {self.partitioner}"
