"""What a real broker says of a topic's configs, for tests that check what was created."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.settings import Settings


async def topic_config(settings: Settings, topic: str, timeout_s: float = 30) -> dict[str, str]:
    """The topic's configs, once the broker asked knows the topic (a new topic
    reaches the other brokers' metadata a moment after the controller has created it)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while True:
            [resp] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
            [(error, *_, entries)] = resp.resources
            if (error == 0 and entries) or loop.time() > deadline:
                break
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    return {e[0]: e[1] for e in entries}
