"""The worker's Faust tables and the changelog topics behind them.

`livewatch topics create` creates the changelogs up front, with the partitions and retention the
tables need: a worker that had to create them itself could write before the new topics' metadata
reached it, and Faust refuses that write (PartitionsMismatch).
"""

from __future__ import annotations

from streams.settings import Settings

ANCHOR_STATE = "anchor-state"
ORDERS_BY_ID = "orders-by-id"
PARTITION_CLOCK = "partition-clock"


def changelog_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """Table name to the topic config of its changelog (all compacted, keyed like the inputs)."""
    return {
        ANCHOR_STATE: {"cleanup.policy": "compact"},
        # Kafka drops remembered orders past the horizon, so recovery reads only what is needed.
        ORDERS_BY_ID: {
            "cleanup.policy": "compact,delete",
            "retention.ms": str(settings.order_horizon_s * 1000),
        },
        PARTITION_CLOCK: {"cleanup.policy": "compact"},
    }


def changelog_topic(settings: Settings, table: str) -> str:
    """Faust's name for a table's changelog topic."""
    return f"{settings.app_id}-{table}-changelog"
