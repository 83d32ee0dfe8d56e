"""Bounded counters: exact while small, within their stated error once sketched."""

from __future__ import annotations

import hashlib
import random

import pytest

from streams.core.sketches import HyperLogLog, Tally, key_hash, merge, reduce_to


class TestHyperLogLog:
    @pytest.mark.parametrize("n", [10, 1_000, 50_000])
    def test_estimate_within_four_standard_errors(self, n: int) -> None:
        """Standard error 1.04 / sqrt(1024) = 3.25%; four of them is 13%."""
        hll = HyperLogLog()
        for i in range(n):
            hll.add(key_hash(f"buyer-{i}"))
        assert abs(hll.estimate() - n) <= max(1.0, 0.13 * n)

    def test_merge_is_the_union(self) -> None:
        a, b, both = HyperLogLog(), HyperLogLog(), HyperLogLog()
        for i in range(3_000):
            (a if i % 2 else b).add(key_hash(str(i)))
            both.add(key_hash(str(i)))
        a.merge(b)
        assert a.registers == both.registers
        assert HyperLogLog.decode(a.encode()).registers == a.registers


class TestTally:
    def test_exact_while_small(self) -> None:
        t = Tally()
        for key in ["x", "y", "x", "z", "x"]:
            t.add(key, key_hash(key), exact_max=4, keep=2)
        assert t.counts == {"x": 3, "y": 1, "z": 1} and not t.approximate

    def test_the_heaviest_keys_survive_with_counts_within_the_bound(self) -> None:
        """Misra-Gries: a key's count is under by at most n / (keep + 1)."""
        rng = random.Random(4)
        t = Tally()
        truth: dict[int, int] = {}
        keys = [0] * 3_000 + [1] * 1_000 + [rng.randrange(2, 5_000) for _ in range(6_000)]
        rng.shuffle(keys)
        for k in keys:
            truth[k] = truth.get(k, 0) + 1
            t.add(k, key_hash(str(k)), exact_max=64, keep=32)
        assert t.approximate and len(t.counts) <= 65
        for k in (0, 1):
            assert truth[k] - len(keys) / 33 <= t.counts[k] <= truth[k]
        got = merge([t], keep=32, distinct=True)
        assert got.most_common() == 0
        assert abs(got.distinct - len(truth)) <= 0.13 * len(truth)

    def test_merging_exact_tallies_is_exact(self) -> None:
        a, b = Tally(), Tally()
        for k in ["x", "y"]:
            a.add(k, None, 16, 8)
        for k in ["x", "z"]:
            b.add(k, None, 16, 8)
        got = merge([a, b], keep=8, distinct=False)
        assert (got.counts, got.distinct, got.approximate) == ({"x": 2, "y": 1, "z": 1}, 3, False)
        assert got.most_common() == "x" and got.heaviest == 2

    def test_round_trip(self) -> None:
        t = Tally()
        for i in range(100):
            t.add(key_hash(str(i)), key_hash(str(i)), 64, 32)
        again = Tally.from_json(t.to_json())
        assert again.counts == t.counts and again.approximate and again.seen == 100
        assert again.hll is not None and t.hll is not None
        assert again.hll.registers == t.hll.registers


def test_reduce_keeps_at_most_keep_keys() -> None:
    assert reduce_to({"a": 5, "b": 3, "c": 1, "d": 1}, 2) == {"a": 4, "b": 2}


def test_key_hash_is_the_eight_byte_blake2b_the_stored_states_hold() -> None:
    """Buyer hashes are kept in stored states and changelogs: the digest may not change with
    how it is computed. Pinned values, and hashlib's one-call form over keys in an order
    where a hasher carried from one key to the next would show."""
    assert key_hash("") == 0xE4A6A0577479B2B4
    assert key_hash("buyer-1") == 0xE10CC01507BDB543
    for key in ["buyer-1", "", "買家-2", "x" * 300, "buyer-1"]:
        expected = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
        assert key_hash(key) == expected
