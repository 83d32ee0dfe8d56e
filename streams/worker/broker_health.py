"""Whether the brokers answer: a metadata request every few seconds, for readiness.

Faust's consumer keeps fetching (and logging) through an outage and exposes no state that says
the brokers are gone, so the worker asks on its own connection. A worker that cannot reach the
brokers processes nothing; readiness says so instead of promising fresh results.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError

log = structlog.get_logger("livewatch.broker")


class BrokerProbe:
    """Remembers when the brokers last answered a metadata request."""

    def __init__(
        self, client_options: dict[str, Any], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.options = client_options
        self.clock = clock
        self.since = clock()
        """When the probe was made: an outage at start-up counts from here."""
        self.last_ok: float | None = None
        self.client: AIOKafkaClient | None = None
        self.failing = False
        self.metadata: Any = None
        """The cluster's metadata as last answered (aiokafka's `ClusterMetadata`)."""

    async def check(self) -> bool:
        """One metadata request; True when a broker answered. Logs once when the brokers stop
        answering and once when they answer again, never per attempt."""
        try:
            if self.client is None:
                client = AIOKafkaClient(**self.options)
                await client.bootstrap()
                self.client = client
            else:
                self.metadata = await self.client.fetch_all_metadata()
        except (KafkaError, OSError) as exc:
            if not self.failing:
                self.failing = True
                log.warning("broker_unreachable", error=str(exc) or repr(exc))
            return False
        if self.failing:
            log.info("broker_reachable", after_s=round(self.unreachable_for(), 1))
            self.failing = False
        self.last_ok = self.clock()
        return True

    def partitions(self, topic: str) -> int | None:
        """The topic's partition count in the last answer (None: not known, or no topic)."""
        found = self.metadata.partitions_for_topic(topic) if self.metadata is not None else None
        return len(found) if found else None

    def unreachable_for(self) -> float:
        """Seconds since the brokers last answered (since start-up if they never did)."""
        return self.clock() - (self.last_ok if self.last_ok is not None else self.since)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None
