"""Where producers put records, and the one function that says which partition owns an anchor."""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from schemas import Complaint, Order, Refund
from streams.placement import (
    KEYS_OF,
    Owners,
    Placement,
    crc32_partition,
    fnv1a_partition,
    kafkajs_legacy_hash,
    kafkajs_legacy_partition,
    murmur2,
    murmur2_partition,
    owner,
    record_key,
)
from tests import factories


class TestPartitioners:
    @pytest.mark.parametrize(
        ("key", "murmur2", "crc32"),
        [
            # Seen with the real clients on 8 partitions (shared/notes/producers.md): kcat's
            # default put ab-000 on 5, murmur2 on 1.
            (b"ab-000", 1, 5),
        ],
    )
    def test_known_placements(self, key: bytes, murmur2: int, crc32: int) -> None:
        assert (murmur2_partition(key, 8), crc32_partition(key, 8)) == (murmur2, crc32)

    @pytest.mark.parametrize(
        ("key", "fnv"),
        [
            (b"a", 0xE40C292C),  # the FNV-1a 32 reference vectors
            (b"foobar", 0xBF9CF968),
        ],
    )
    def test_fnv1a_reads_the_hash_as_a_signed_32_bit_number_like_sarama(
        self, key: bytes, fnv: int
    ) -> None:
        """Sarama: int32(hash) % n, then the sign dropped; both vectors are negative int32."""
        signed = fnv - (1 << 32)
        assert fnv1a_partition(key, 1_000_003) == abs(signed) % 1_000_003  # a tight check

    @pytest.mark.parametrize(
        ("key", "legacy"),
        [
            # What KafkaJS 2.2.4's own legacy murmur2 (src/producer/partitioners/legacy) returns
            # under Node.js 20 for these keys; every length modulo 4, and UTF-8 of 4 bytes.
            ("", 275646684),
            ("a", -809885833),
            ("ab", -1686076413),
            ("abc", 1545667907),
            ("abcd", -2139815384),
            ("abcde", 1468550417),
            ("anchor-00042", -61286734),
            ("主播-7😀", 369657361),
        ],
    )
    def test_kafkajs_legacy_is_kafkajs_own_murmur2(self, key: str, legacy: int) -> None:
        assert kafkajs_legacy_hash(key.encode()) == legacy
        positive = legacy & 0x7FFFFFFF
        assert kafkajs_legacy_partition(key.encode(), 1_000_003) == positive % 1_000_003

    def test_kafkajs_legacy_puts_most_anchors_elsewhere_than_murmur2(self) -> None:
        """Why a KafkaJS 1.x producer's records are forwarded although keyed by the anchor."""
        keys = [f"anchor-{i:05d}".encode() for i in range(400)]
        same = sum(kafkajs_legacy_partition(k, 8) == murmur2_partition(k, 8) for k in keys)
        assert same < 100  # about one in eight by chance

    def test_the_owner_of_an_anchor_is_where_a_java_producer_keying_by_it_puts_it(self) -> None:
        owners = Owners(12)
        for i in range(200):
            anchor = f"anchor-{i:05d}"
            assert owner(anchor, 12) == murmur2_partition(anchor.encode(), 12) == owners(anchor)


class TestKeys:
    def test_every_field_a_topic_can_be_keyed_by_gives_a_key(self) -> None:
        events = {
            "orders": Order.model_validate(factories.order()),
            "refunds": Refund.model_validate(factories.refund()),
            "complaints": Complaint.model_validate(factories.complaint()),
        }
        for kind, fields in KEYS_OF.items():
            for by in fields:
                key = record_key(events[kind], by)
                assert (key is None) == (by == "none"), (kind, by)

    def test_a_refund_keyed_by_its_anchor_but_naming_none_is_keyed_by_its_order(self) -> None:
        refund = Refund.model_validate(factories.refund(anchor_id=None, order_id="o-9"))
        assert record_key(refund, "anchor") == b"o-9"

    def test_a_field_the_topic_lacks_is_refused(self) -> None:
        with pytest.raises(ValueError, match="refunds cannot be keyed by 'buyer_id'"):
            Placement.of(refunds="buyer_id")
        with pytest.raises(ValueError, match="partitioner must be one of"):
            Placement.of("round_robin")  # type: ignore[arg-type]


class TestPlacement:
    def test_the_contract_puts_every_record_on_its_anchors_partition(self) -> None:
        contract, rng = Placement(), random.Random(0)
        for i in range(50):
            order = Order.model_validate(factories.order(anchor_id=f"a{i}", order_id=f"o{i}"))
            assert contract.partition("orders", order, 8, rng) == owner(f"a{i}", 8)

    def test_records_without_a_key_go_to_repeatable_random_partitions(self) -> None:
        placement = Placement.of(orders="none", seed=7)
        order = Order.model_validate(factories.order())
        first = [placement.partition("orders", order, 8, random.Random(7)) for _ in range(3)]
        rng = random.Random(7)
        spread = {placement.partition("orders", order, 8, rng) for _ in range(200)}
        assert len(set(first)) == 1
        assert spread == set(range(8))

    def test_another_partitioner_moves_most_anchors(self) -> None:
        crc32, rng = Placement.of("crc32"), random.Random(0)
        moved = 0
        for i in range(400):
            order = Order.model_validate(factories.order(anchor_id=f"anchor-{i}"))
            moved += crc32.partition("orders", order, 8, rng) != owner(f"anchor-{i}", 8)
        assert 300 < moved < 400  # about 7 in 8


def test_murmur2_is_the_java_clients_to_the_bit() -> None:
    """livewatch's murmur2 (twice as fast) gives aiokafka's pure-Python port of the Java
    client's on every key length, random bytes and ids alike, and the Java client's own
    published values."""
    rng = random.Random(7)
    keys = [b"", b"a", b"ab", b"abc", "ünïcode".encode()]
    keys += [rng.randbytes(rng.randrange(0, 90)) for _ in range(5000)]
    keys += [f"anchor-{i:05d}-order-{i * 7}".encode() for i in range(2000)]
    assert [murmur2(k) for k in keys] == [aiokafka_murmur2(k) for k in keys]
    # org.apache.kafka.common.utils.UtilsTest#testMurmur2 (as unsigned 32-bit values)
    java = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536}
    assert {k: murmur2(k) for k in java} == {k: v & 0xFFFFFFFF for k, v in java.items()}
