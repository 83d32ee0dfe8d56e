"""The verdicts topic on the broker (compacted, keyed by `alert_id`), and the alerts topic read
back for a report."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from schemas import Alert
from schemas.verdict import Verdict
from streams.codecs import encode
from streams.kafka_config import client_options
from streams.settings import Settings
from streams.topics import read_values


def parse_all(values: list[bytes], model: Any) -> tuple[list[Any], int]:
    """The values that validate as `model`, and how many did not."""
    found, bad = [], 0
    for value in values:
        try:
            found.append(model.model_validate_json(value))
        except (ValidationError, ValueError):
            bad += 1
    return found, bad


async def read_verdicts(settings: Settings) -> tuple[list[Verdict], int]:
    return parse_all(await read_values(settings, settings.topic_verdicts), Verdict)


async def read_alerts(settings: Settings) -> tuple[list[Alert], int]:
    return parse_all(await read_values(settings, settings.topic_alerts), Alert)


class VerdictWriter:
    """Appends verdicts, each acknowledged by every in-sync replica before it is reported
    recorded; idempotent, so a retried send is written once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None

    async def send(self, verdict: Verdict) -> None:
        if self._producer is None:
            producer = AIOKafkaProducer(
                **client_options(self.settings), acks="all", enable_idempotence=True
            )
            await producer.start()
            self._producer = producer
        await self._producer.send_and_wait(
            self.settings.topic_verdicts, encode(verdict), key=verdict.alert_id.encode()
        )

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
