"""The rules topic on the broker: publishing rule sets, reading them all back, and following
them in a running worker (see `core.rulebook` for what the records mean)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams import topics
from streams.core.rulebook import RuleBook, RuleSet, decode_rule_set
from streams.core.rules import RulesError
from streams.kafka_config import client_options
from streams.settings import Settings

log = structlog.get_logger("livewatch.rules")

SKEW_MS = 10_000
"""Clock skew allowed between the publisher's host and the workers' (out of the lead)."""


def topic_of(settings: Settings) -> str:
    """The rules topic's name (raises RulesError when it is off)."""
    name = settings.rules_topic
    if name is None:
        raise RulesError("the rules topic is off (LIVEWATCH_TOPIC_RULES=off)")
    return name


async def ensure_topic(settings: Settings) -> None:
    """Create the rules topic if it is missing, as the worker declares its own topics."""
    await topics.ensure_topic(settings, topic_of(settings))


async def read_records(settings: Settings) -> list[dict[str, Any]]:
    """Every record of the rules topic, in order (its values as JSON objects; a value that is
    not one is given as `{"unreadable": text}`, which the book refuses)."""
    return [_value(v) for v in await topics.read_values(settings, topic_of(settings))]


def _value(raw: bytes | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"")
    except ValueError:
        return {"unreadable": (raw or b"")[:200].decode(errors="replace")}
    return value if isinstance(value, dict) else {"unreadable": repr(value)[:200]}


async def publish(settings: Settings, rule_set: RuleSet) -> None:
    """Append a rule set (validated already) and wait until every in-sync replica has it."""
    await ensure_topic(settings)
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        value = json.dumps(rule_set.to_record()).encode()
        await producer.send_and_wait(topic_of(settings), value, key=rule_set.key.encode())
    finally:
        await producer.stop()


class RulesFollower:
    """Reads the rules topic from its beginning, then follows it, into a running worker's
    book. A record that does not validate is refused (logged, counted, shown by `/readyz`):
    the sets already known stay in force.

    `horizon()` is how far the worker may evaluate: a set not read yet was published after
    the last poll that found the topic caught up, so its boundary lies at least the lead past
    that poll (less the allowed skew). None until the topic has been read to its end once."""

    def __init__(self, settings: Settings, book: RuleBook) -> None:
        self.settings = settings
        self.book = book
        self.refused: list[str] = []
        """Why each refused record was refused (latest last)."""
        self.caught_up_ms: int | None = None
        self._consumer: AIOKafkaConsumer | None = None

    def horizon(self) -> int | None:
        if self.caught_up_ms is None:
            return None
        return self.caught_up_ms - SKEW_MS + self.settings.rules_lead_s * 1000

    def take(self, value: bytes | None) -> None:
        """One record of the topic."""
        try:
            rule_set = decode_rule_set(_value(value))
        except RulesError as exc:
            self.refused.append(str(exc))
            log.error("rules_refused", error=str(exc), kept=self.describe())
            return
        if self.book.add(rule_set):
            log.info(
                "rules_published", version=rule_set.version, kind=rule_set.kind,
                effective_ms=rule_set.effective_ms, published_by=rule_set.published_by,
            )  # fmt: skip

    def describe(self) -> str:
        """The versions known, as `/readyz` and the logs say them."""
        live, shadow = self.book.latest("live"), self.book.latest("shadow")
        text = f"live v{live.version if live else 0}"
        if shadow is not None:
            text += f", shadow v{shadow.version}" if shadow.rules else ", shadow withdrawn"
        return text

    async def run(self) -> None:
        """Follow the topic until cancelled; a broker error is retried after a second."""
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker gone: the horizon stays where it was
                log.warning("rules_topic_unreadable", error=repr(exc))
                await self.stop()
                await asyncio.sleep(1.0)

    async def _follow(self) -> None:
        await ensure_topic(self.settings)
        tp = TopicPartition(topic_of(self.settings), 0)
        consumer = self._consumer = AIOKafkaConsumer(
            **client_options(self.settings), enable_auto_commit=False
        )
        await consumer.start()
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        while True:
            batch = await consumer.getmany(tp, timeout_ms=500)
            for message in batch.get(tp, []):
                self.take(message.value)
            # The end offset is as old as the fetch that told it (not the getmany's return).
            end, polled_ms = consumer.highwater(tp), consumer.last_poll_timestamp(tp)
            if end is not None and polled_ms and await consumer.position(tp) >= end:
                self.caught_up_ms = max(self.caught_up_ms or 0, int(polled_ms))

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
