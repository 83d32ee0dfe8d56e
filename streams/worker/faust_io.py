"""The `Worker`'s consumer and outputs, on a Faust app (see `worker.worker`)."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Any

from faust.types import TP

from schemas import Alert
from streams.codecs import encode
from streams.notify.envelope import cloudevent_headers
from streams.worker.deadletter import DeadLetter
from streams.worker.faust_private import committed_offset, last_poll_ms, last_response_ms
from streams.worker.table_writes import RecordSender


class FaustConsumer:
    """Where the app's consumer stands; every answer is None (or empty) while it is not
    started, stopping, or the partition not assigned."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def highwater(self, topic: str, partition: int) -> int | None:
        try:
            end = self.app.consumer.highwater(TP(topic, partition))
        except Exception:  # not assigned or not fetched yet
            return None
        return int(end) if end is not None else None

    def committed(self, topic: str, partition: int) -> int | None:
        return committed_offset(self.app.consumer, topic, partition)

    def passed(self, topic: str, partition: int) -> int | None:
        passed = getattr(self.app.consumer, "passed", None)
        return passed(TP(topic, partition)) if passed is not None else None

    def polled(self, topic: str, partition: int) -> int | None:
        return last_poll_ms(self.app.consumer, topic, partition)

    def received(self, topic: str, partition: int) -> int | None:
        return last_response_ms(self.app.consumer, topic, partition)

    def assignment(self) -> Iterable[tuple[str, int]]:
        return [(tp.topic, tp.partition) for tp in self.app.consumer.assignment()]

    def generation(self) -> int:
        return int(self.app.consumer_generation_id)


class FaustOutputs:
    """Alerts (keyed by anchor, with CloudEvents headers), dead letters, and the internal
    records (`RecordSender`: a few produce batches per partition)."""

    def __init__(
        self, app: Any, alerts: Any, deadletter: Any, source: str, shadow: Any = None
    ) -> None:
        self.alerts = alerts
        self.shadow = shadow
        self.deadletter = deadletter
        self.source = source
        self.sender = RecordSender(app)

    def queue(self, topic: str, partition: int, value: dict[str, Any]) -> None:
        self.sender.queue(topic, partition, value)

    async def alert(self, alert: Alert) -> Awaitable[Any]:
        return await self._send_alert(self.alerts, alert)

    async def shadow_alert(self, alert: Alert) -> Awaitable[Any]:
        return await self._send_alert(self.shadow, alert)

    async def _send_alert(self, topic: Any, alert: Alert) -> Awaitable[Any]:
        headers = cloudevent_headers(alert, self.source)
        return await topic.send(  # type: ignore[no-any-return]
            key=alert.anchor_id.encode(), value=encode(alert), headers=headers
        )

    async def dead_letter(self, record: DeadLetter) -> Awaitable[Any]:
        return await self.deadletter.send(  # type: ignore[no-any-return]
            key=record.key, value=record.value, headers=record.headers()
        )

    async def send(self) -> list[Awaitable[Any]]:
        return await self.sender.send()
