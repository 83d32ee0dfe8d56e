"""Dead-letter records: the original bytes plus headers that say where they came from and why."""

from __future__ import annotations

from dataclasses import dataclass

HEADER_PREFIX = "livewatch-dlq-"


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

    def headers(self) -> list[tuple[str, bytes]]:
        """The original headers followed by the dead-letter ones (`livewatch-dlq-*`)."""
        return [
            *self.original_headers,
            (f"{HEADER_PREFIX}topic", self.topic.encode()),
            (f"{HEADER_PREFIX}partition", str(self.partition).encode()),
            (f"{HEADER_PREFIX}offset", str(self.offset).encode()),
            (f"{HEADER_PREFIX}error", self.error.encode()[:4096]),
        ]
