"""Dead-letter records: the original bytes plus headers that say where they came from and why.

A dead letter must always fit the producer's request (Faust's 1,000,000 bytes): a record the
broker took (up to its own 1,048,588) could otherwise not be dead-lettered, the send would fail
and the worker exit, read the record again and loop. So the copy of the value, the key and the
original headers are cut to budgets, and `livewatch-dlq-truncated` says what was cut from
what size; the origin (topic, partition, offset) is always kept, so the whole record can be
read from the input topic while it is retained.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

HEADER_PREFIX = "livewatch-dlq-"
MAX_VALUE_BYTES = 512 * 1024
"""The most of the original value a dead letter copies."""
MAX_KEY_BYTES = 16 * 1024
MAX_HEADER_BYTES = 64 * 1024
"""The most of the original headers (names and values) a dead letter copies."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that could not be processed, with its origin and the reason."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    error: str
    original_headers: tuple[tuple[str, bytes], ...] = ()
    reason: str = ""
    """invalid, too_large, future, too_old or error (see docs/events.md, "Sizes and times that
    are refused")."""
    truncated: tuple[str, ...] = ()
    """What `fitted` cut, as `value=<original bytes>` and so on."""

    def fitted(self) -> DeadLetter:
        """This dead letter cut to the budgets above (itself when it fits)."""
        cut: list[str] = []
        value, key = self.value, self.key
        if value is not None and len(value) > MAX_VALUE_BYTES:
            cut.append(f"value={len(value)}")
            value = value[:MAX_VALUE_BYTES]
        if key is not None and len(key) > MAX_KEY_BYTES:
            cut.append(f"key={len(key)}")
            key = key[:MAX_KEY_BYTES]
        kept: list[tuple[str, bytes]] = []
        used = 0
        for name, raw in self.original_headers:
            used += len(name) + len(raw)
            if used > MAX_HEADER_BYTES:
                cut.append(f"headers={len(self.original_headers)}")
                break
            kept.append((name, raw))
        if not cut:
            return self
        return replace(self, key=key, value=value, original_headers=tuple(kept),
                       truncated=tuple(cut))  # fmt: skip

    def headers(self) -> list[tuple[str, bytes]]:
        """The original headers followed by the dead-letter ones (`livewatch-dlq-*`)."""
        own = [
            (f"{HEADER_PREFIX}topic", self.topic.encode()),
            (f"{HEADER_PREFIX}partition", str(self.partition).encode()),
            (f"{HEADER_PREFIX}offset", str(self.offset).encode()),
            (f"{HEADER_PREFIX}error", self.error.encode()[:4096]),
        ]
        if self.reason:
            own.append((f"{HEADER_PREFIX}reason", self.reason.encode()))
        if self.truncated:
            own.append((f"{HEADER_PREFIX}truncated", ",".join(self.truncated).encode()))
        return [*self.original_headers, *own]
