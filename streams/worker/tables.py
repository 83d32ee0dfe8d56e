"""The worker's Faust tables and the changelog topics behind them.

`livewatch topics create` creates the changelogs up front, with the partitions and retention the
tables need: a worker that had to create them itself could write before the new topics' metadata
reached it, and Faust refuses that write (PartitionsMismatch).
"""

from __future__ import annotations

from streams.settings import Settings

ANCHOR_STATE = "anchor-state"
"""Per anchor: its head record (watermarks, history, episodes; see `AnchorState.head_dict`)."""
ANCHOR_BUCKETS = "anchor-buckets"
"""Per anchor and step: one bounded bucket record (see `bucket_key`)."""
ORDERS_BY_ID = "orders-by-id"
REFUNDS_WAITING = "refunds-waiting"
"""Per order id: a refund that arrived before its order."""
PARTITION_CLOCK = "partition-clock"
"""Per partition: its task's read times, active anchors and marks (see `core.partition`)."""
INDEX_ENTRIES = "index-entries"
"""Per order id hashing to the partition: the order's anchor (see `core.order_index`)."""
INDEX_WAITING = "index-waiting"
"""Per order id: refunds naming no anchor that wait for the order's entry."""
TABLES = (
    ANCHOR_STATE,
    ANCHOR_BUCKETS,
    ORDERS_BY_ID,
    REFUNDS_WAITING,
    PARTITION_CLOCK,
    INDEX_ENTRIES,
    INDEX_WAITING,
)


def changelog_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """Table name to the topic config of its changelog (all compacted, keyed like the inputs)."""
    # Kafka drops remembered orders past the horizon, so recovery reads only what is needed;
    # a refund never matched by its order is forgotten the same way.
    horizon = {
        "cleanup.policy": "compact,delete",
        "retention.ms": str(settings.order_horizon_s * 1000),
    }
    return {
        ANCHOR_STATE: {"cleanup.policy": "compact"},
        ANCHOR_BUCKETS: {"cleanup.policy": "compact"},
        ORDERS_BY_ID: horizon,
        REFUNDS_WAITING: dict(horizon),
        PARTITION_CLOCK: {"cleanup.policy": "compact"},
        INDEX_ENTRIES: dict(horizon),
        INDEX_WAITING: dict(horizon),
    }


def internal_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """Internal topic name to its config: the order index keeps entries for the order horizon
    (a refund may come that late); refunds on their way to their anchor are needed only until
    read, kept as long for a replay of a restarted group."""
    horizon = {"cleanup.policy": "delete", "retention.ms": str(settings.order_horizon_s * 1000)}
    return {name: dict(horizon) for name in settings.internal_topics.values()}


def changelog_topic(settings: Settings, table: str) -> str:
    """Faust's name for a table's changelog topic."""
    return f"{settings.app_id}-{table}-changelog"
