"""Dead letters always fit the producer's request, and say what they cut."""

from __future__ import annotations

from streams.worker.deadletter import HEADER_PREFIX, MAX_KEY_BYTES, MAX_VALUE_BYTES, DeadLetter


def letter(value: bytes, key: bytes = b"k", headers: int = 0) -> DeadLetter:
    original = tuple((f"h{i}", b"x" * 1000) for i in range(headers))
    return DeadLetter("orders", 3, 42, key, value, "too_large: ...", original, "too_large")


def test_a_record_that_fits_is_copied_whole() -> None:
    small = letter(b"{}")
    assert small.fitted() is small
    names = [name for name, _ in small.headers()]
    assert f"{HEADER_PREFIX}truncated" not in names
    assert dict(small.headers())[f"{HEADER_PREFIX}reason"] == b"too_large"


def test_a_value_the_broker_took_but_the_producer_would_refuse_is_cut_and_said_so() -> None:
    """1,040,000 bytes: under the broker's limit (1,048,588), over Faust's producer request
    (1,000,000) once headers are added. The copy is cut; the origin stays whole."""
    big = letter(b"v" * 1_040_000, key=b"k" * 100_000, headers=100).fitted()
    headers = dict(big.headers())
    assert big.value is not None and len(big.value) == MAX_VALUE_BYTES
    assert big.key is not None and len(big.key) == MAX_KEY_BYTES
    assert headers[f"{HEADER_PREFIX}truncated"] == b"value=1040000,key=100000,headers=100"
    assert (headers[f"{HEADER_PREFIX}topic"], headers[f"{HEADER_PREFIX}partition"],
            headers[f"{HEADER_PREFIX}offset"]) == (b"orders", b"3", b"42")  # fmt: skip
    size = len(big.value) + len(big.key) + sum(len(n) + len(v) for n, v in big.headers())
    assert size < 1_000_000 - 10_000  # room for the record's own framing
