"""Settings from the environment (prefix `LIVEWATCH_`); built once and passed down, never global."""

from __future__ import annotations

import ipaddress
import os
from datetime import tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from yarl import URL

from streams.core.partition import INTERNAL

SECRETS = (
    "sasl_password",
    "ssl_key_password",
    "api_token",
    "board_token",
    "alertmanager_password",
    "alertmanager_bearer_token",
)
"""Settings that are secrets: masked wherever settings are shown, readable from a file."""

SECTIONS: dict[str, tuple[str, ...]] = {
    "Kafka and topics (every program)": (
        "kafka_bootstrap", "app_id", "topic_orders", "topic_refunds", "topic_complaints",
        "topic_alerts", "topic_alerts_shadow", "topic_rules", "topic_verdicts", "topic_deadletter",
        "deadletter_retention_s", "partitions", "replication_factor", "isolation_level",
        "security_protocol", "sasl_mechanism", "sasl_username", "sasl_password", "ssl_cafile",
        "ssl_certfile", "ssl_keyfile", "ssl_key_password",
    ),
    "Detection (the worker and the replay)": (
        "rules_path", "rules_lead_s", "short_window_s", "long_window_s", "step_s", "grace_s",
        "order_horizon_s", "future_tolerance_s", "max_event_age_s", "max_record_bytes",
        "naive_time_zone", "routing",
    ),
    "Worker (`livewatch worker`)": (
        "group_instance_id", "session_timeout_s", "delivery_timeout_s", "fetch_max_wait_ms",
        "batch_max_records", "align_inputs", "broker_timeout_s", "gc_gen0_threshold", "store",
        "data_dir", "rocksdb_write_buffer_mb", "rocksdb_block_cache_mb", "web_port", "web_host",
        "advertised_url", "api_token", "api_snapshot_s",
    ),
    "Notifier (`livewatch notify`)": (
        "alertmanager_urls", "alertmanager_username", "alertmanager_password",
        "alertmanager_bearer_token", "alertmanager_cafile", "notify_port", "notify_resend_s",
        "runbook_url", "api_url", "board_url",
    ),
    "Board (`livewatch board`)": (
        "board_host", "board_port", "board_workers", "board_token", "board_refresh_s",
        "board_user_header",
    ),
    "Every program": ("insecure_http", "log_format", "log_level"),
}  # fmt: skip
"""The settings by the program that reads them, in the order docs/settings.md shows them."""


class Settings(BaseSettings):
    """Every knob of livewatch's programs, read once from the environment and never changed
    (frozen: a changed copy is `model_copy(update=...)`). `SECTIONS` groups them by program;
    docs/settings.md is generated from the fields and their docstrings."""

    model_config = SettingsConfigDict(
        env_prefix="LIVEWATCH_",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
        use_attribute_docstrings=True,
    )

    kafka_bootstrap: str = "127.0.0.1:9092"
    """Comma-separated `host:port` list of Kafka brokers."""
    app_id: str = Field(default="livewatch", pattern=r"^[A-Za-z0-9._-]{1,200}$")
    """Faust application id: the consumer group, the prefix of internal topics and the
    directory of the worker's tables under `LIVEWATCH_DATA_DIR`. Letters, digits, `.`, `_`
    and `-`, as Kafka allows in topic names."""

    topic_orders: str = "orders"
    """Input topic of orders."""
    topic_refunds: str = "refunds"
    """Input topic of refunds."""
    topic_complaints: str = "complaints"
    """Input topic of complaints."""
    topic_alerts: str = "alerts"
    """Where alerts are published (keyed by anchor, with CloudEvents headers)."""
    topic_alerts_shadow: str = "alerts-shadow"
    """Where the alerts of a shadow rule set go (`shadow: true`), never to the notifier."""
    topic_rules: str | None = None
    """Compacted, one partition: the rule sets published with `livewatch rules publish`
    (default `<app_id>-rules`; `off`: none are followed, the rules file alone holds)."""
    topic_verdicts: str = "livewatch-verdicts"
    """Compacted, keyed by `alert_id`: analysts' verdicts on episodes (the board, `livewatch
    verdicts add`); the latest of an episode stands and carries the earlier ones."""
    topic_deadletter: str = "livewatch-deadletter"
    """Where malformed input goes, with its source topic, partition, offset and error in headers."""
    deadletter_retention_s: int = Field(default=7 * 24 * 3600, gt=0)
    """How long the dead-letter topic keeps records (set when livewatch creates it): they are
    the producers' original bytes, buyer ids included."""
    partitions: int = Field(default=8, ge=1)
    """Partition count of every topic livewatch creates; the input and internal topics must all
    have it. Unset: the count the existing input and internal topics share (a platform's topics,
    or ones a producer's first write made with the broker's `num.partitions`), 8 when none
    exist yet (`topics.adopt_partitions`)."""
    replication_factor: int = Field(default=1, ge=1)
    """Replication of the topics livewatch creates (above 1, the worker keeps a standby replica
    of each table)."""
    isolation_level: Literal["read_committed", "read_uncommitted"] = "read_committed"
    """Which records of transactional producers the worker, the backtest and `doctor` read
    (Kafka's `isolation.level`). `read_committed`: only those of committed transactions, so
    orders a producer aborted and never sent again are not counted; while a transaction is
    open its partition's detection waits for it (at most the producer's
    `transaction.timeout.ms`, 60 s by default). Records of producers without transactions are
    read as they arrive either way. `read_uncommitted` (the Kafka consumer's default) counts
    aborted records too."""

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """How every program talks to the brokers."""
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    """SASL mechanism (SASL_PLAINTEXT, SASL_SSL)."""
    sasl_username: str | None = None
    """SASL user."""
    sasl_password: SecretStr | None = None
    """SASL password; never logged nor shown (pydantic masks it). Like every secret, it may
    come from a file instead: `LIVEWATCH_SASL_PASSWORD_FILE`."""
    ssl_cafile: Path | None = None
    """PEM file of the CA(s) that signed the brokers' certificates (SSL, SASL_SSL); unset: the
    system's trusted CAs."""
    ssl_certfile: Path | None = None
    """PEM client certificate, when the brokers require TLS client authentication."""
    ssl_keyfile: Path | None = None
    """PEM private key of `ssl_certfile`."""
    ssl_key_password: SecretStr | None = None
    """Password of an encrypted `ssl_keyfile`."""

    group_instance_id: str | None = None
    """Static group membership (e.g. the StatefulSet pod name): a restarted worker takes its
    partitions back without a rebalance."""
    session_timeout_s: float = Field(default=60.0, gt=0)
    """How long the group waits for a silent worker before its partitions move."""
    delivery_timeout_s: float = Field(default=120.0, gt=0)
    """How long one batch may take, its alerts, dead letters and changelog records acknowledged
    by the brokers included; past it the worker exits (code 70) for its supervisor, as Kafka
    Streams gives up after `delivery.timeout.ms`: a deleted output topic or brokers gone for
    minutes are not fixed by waiting, and a worker that waits looks alive while doing nothing."""
    fetch_max_wait_ms: int = Field(default=200, ge=1, le=60_000)
    """How long a broker may hold the worker's fetch when it finds nothing new (Kafka's
    `fetch.max.wait.ms`; Faust fixes it at 1,500). It bounds how long a partition with records
    waiting can go unfetched (see `faust_batches.BatchConsumerThread`), and a boundary's marks
    cross the internal topics twice, so it is part of the alert latency: at 4,000 events/s,
    p99 1.22 s with 1,500 and 0.69 s with 200, at the same backlog throughput."""
    batch_max_records: int = Field(default=5_000, ge=1, le=100_000)
    """Records per fetch, so per batch (Kafka's `max.poll.records`). The HTTP server (probes,
    `/metrics`) gets a turn every 500 records of a batch, so a larger cap no longer holds a
    probe for the whole batch: a catching-up worker answered `/livez` within 0.55 s at 15,000
    (up to 1.5 s before). Larger batches save per event what each batch costs (every anchor
    the batch touched is saved once, each partition ticks once); on 2026-12-03 a lone worker
    read the `mix` backlog at 6,000 events/s with 5,000 and 8,700 with 15,000 one afternoon,
    and at 11,500 to 12,200 with either that evening, so the default stays. A rebalance waits
    for the batch in hand. Live traffic's batches are smaller than either; with no cap, a
    catching-up worker's fetches held 28,000 records. A worker holding many partitions splits
    each batch over all of them, so what a batch costs per partition grows with them: with 48
    partitions a lone worker read the `mix` at 15,700 and 16,700 events/s with 15,000 against
    10,100 and 14,100 with 5,000 (2026-12-04, alternated; 8 partitions gained nothing from
    it). Raise it with the partitions a worker holds (see Performance)."""
    align_inputs: bool = False
    """Hand out each partition's input records side by side in time, as Kafka Streams does
    (record timestamps: a topic more than a minute ahead of its partition's slowest topic
    still being read waits; see `worker.input_alignment`). The results are the same either
    way; catching up on a backlog, unaligned reading ran `refunds` hours ahead of `orders`,
    so nearly every refund waited for its order: 2.73 changelog records per event on `mix`
    against 2.52 aligned. Off by default until its cost to live alert latency is measured: in
    interleaved latency runs on a slow day (2026-12-06) the aligned worker's p99 was 0.97 to
    3.6 s against 0.69 to 1.67 s unaligned, within that day's spread but all on one side."""
    broker_timeout_s: float = Field(default=15.0, gt=0)
    """Readiness fails once the brokers have not answered a metadata request for this long."""

    gc_gen0_threshold: int = Field(default=50_000, ge=0)
    """Allocations between collections of Python's youngest generation in the worker and the
    offline replays (`replay`, `backtest`, `quality`; 0: Python's 700). Raised, a worker
    catching up ran a fifth faster at the same peak RSS, and a replay of the `mix` a fifth
    sooner (see `streams.worker.gc_tuning`)."""

    store: str = "rocksdb://"
    """Faust table store: `rocksdb://` in production, `memory://` for tests."""
    data_dir: Path = Path("livewatch-data")
    """Where the worker keeps its RocksDB tables: in a directory per app id
    (`<data_dir>/<app_id>`, as Faust's own default keeps them), so a worker never recovers
    its tables over another app id's (a changed `LIVEWATCH_APP_ID` starts from its own
    changelogs, not from the stores of the old one)."""
    rocksdb_write_buffer_mb: int = Field(default=4, ge=1)
    """Memtable size of each RocksDB store (one per table and partition; two memtables each).
    Faust's default, 64 MB x 3, let memory grow by gigabytes before the first flush."""
    rocksdb_block_cache_mb: int = Field(default=8, ge=1)
    """Block cache of each RocksDB store (Faust's default is 2 GB each)."""
    web_port: int = Field(default=6066, ge=1, le=65535)
    """Port of the worker's HTTP API, `/metrics` and probes."""
    web_host: str = "127.0.0.1"
    """Address the worker's (and the notifier's) HTTP server binds: loopback unless set (the
    Kubernetes and compose files set 0.0.0.0, with a token)."""
    advertised_url: str | None = None
    """URL other workers use to reach this one's web server (table routing); default
    http://web_host:web_port."""
    api_token: SecretStr | None = None
    """When set, the worker's and the notifier's HTTP endpoints but /livez and /readyz need it
    (`Authorization: Bearer <token>`); the board sends it to the workers. Workers forward it
    when they route an anchor to its owner, so every worker must share it."""

    api_snapshot_s: float = Field(default=1.0, ge=0)
    """How old the summary of every live anchor behind `/metrics`' state gauges, `/anchors` and
    `/alerts/active` may be before a request recomputes it: one walk over all anchors per
    interval, however many requests come (0: every request)."""

    rules_path: Path | None = None
    """Rules YAML overriding the packaged defaults (`streams/rules/default.yaml`): version 0,
    in force until a rule set published to `topic_rules` takes over at its boundary."""
    rules_lead_s: int = Field(default=60, ge=0)
    """How far past the publisher's clock a published rule set's boundary lies (rounded up to
    a step): workers must have read it before they evaluate that boundary, and hold
    evaluation past the last time they knew the rules topic caught up plus this lead. Keep it
    above the clock skew between the publisher's host and the workers'."""
    short_window_s: int = Field(default=600, gt=0)
    """The short window; a whole number of steps."""
    long_window_s: int = Field(default=3600, gt=0)
    """The long window; a whole number of steps."""
    step_s: int = Field(default=60, gt=0)
    """The windows' hop: boundaries are evaluated every step."""
    grace_s: int = Field(default=300, ge=0)
    """How late an event may be (behind the partition's event-time watermark) and still count."""
    order_horizon_s: int = Field(default=7 * 24 * 3600, gt=0)
    """How long orders are remembered for joining their refunds."""
    future_tolerance_s: int = Field(default=900, ge=0)
    """How far an event time may be ahead of its record's Kafka timestamp (CreateTime: the
    producer's clock, or LogAppendTime: the broker's) before the record is dead-lettered as
    `future`. Device clocks drift by minutes; a record dated 2100, or written in local time
    with a UTC offset, would otherwise move its partition's time ahead and blind it."""
    max_event_age_s: int | None = Field(default=None, gt=0)
    """How far an event may be behind the latest event time of its topic on its partition
    before it is dead-lettered as `too_old` instead of counted as `late` (unset: the order
    horizon, the longest any window or the order memory can use). Events dated before 2000
    are always refused."""
    naive_time_zone: str | None = None
    """The IANA time zone (`Asia/Shanghai`) in which to read event times written without a UTC
    offset (`2026-11-11 20:00:00`), for producers that write local time. Unset: such events
    are dead-lettered as `invalid`, since the offset cannot be guessed. In a zone with daylight
    saving, a repeated hour is read as its first occurrence."""
    max_record_bytes: int = Field(default=65_536, gt=0, le=900_000)
    """Input record values larger than this are dead-lettered as `too_large` without being
    decoded (an event is well under 2 KB). At most 900,000: a dead letter must fit the
    producer's 1 MB request with its headers."""
    routing: Literal["any", "anchor"] = Field(
        default="any",
        validation_alias=AliasChoices("LIVEWATCH_ROUTING", "LIVEWATCH_REFUND_ROUTING"),
    )
    """`any`: records may be keyed by anything, by any partitioner, and refunds need not name
    their anchor; a record read on a partition other than its anchor's is sent on to it through
    the internal topics, and boundaries wait for every partition. `anchor`: every producer keys
    every record by its anchor with murmur2 (Kafka's Java default), so no internal topic, index
    or cross-partition wait: the lowest alert latency; a record found elsewhere is counted
    where it lands (`livewatch_records_forwarded_total{reason=...}` still says so).
    `LIVEWATCH_REFUND_ROUTING` is read too (its former name)."""

    alertmanager_urls: str = ""
    """`livewatch notify`: comma-separated Alertmanager base URLs (every one of an HA set)."""
    alertmanager_username: str | None = None
    """`livewatch notify`: HTTP basic auth user for every Alertmanager (with the password)."""
    alertmanager_password: SecretStr | None = None
    """`livewatch notify`: HTTP basic auth password (with the user name). A password in a URL
    is used the same way, with a warning; URLs are shown without credentials."""
    alertmanager_bearer_token: SecretStr | None = None
    """`livewatch notify`: sent as `Authorization: Bearer` (instead of basic auth)."""
    alertmanager_cafile: Path | None = None
    """`livewatch notify`: PEM CA file for https Alertmanagers (default: the system's CAs)."""
    notify_port: int = Field(default=6067, ge=1, le=65535)
    """`livewatch notify`: port of its `/metrics`, `/livez` and `/readyz` (on `web_host`)."""
    notify_resend_s: float = Field(default=60.0, gt=0)
    """`livewatch notify`: how often firing episodes are sent again (Alertmanager forgets an
    alert four intervals after the last send)."""
    runbook_url: str = "docs/runbook.md"
    """Where notifications' `runbook_url` points (the rule's section is appended as `#rule`);
    set it to where your team reads the runbook."""
    api_url: str | None = None
    """Base URL people open for an anchor (the workers' Service, or the board); notifications
    link `<api_url>/anchors/<anchor_id>`. Unset: no link."""

    board_host: str = "127.0.0.1"
    """`livewatch board`: the address it binds (loopback unless set: it shows abuse figures)."""
    board_port: int = Field(default=6068, ge=1, le=65535)
    """`livewatch board`: the port it serves."""
    board_workers: str = ""
    """`livewatch board`: comma-separated base URLs of the workers' HTTP APIs (each, or one
    Service in front of them); default `advertised_url`, else http://127.0.0.1:web_port."""
    board_token: SecretStr | None = None
    """`livewatch board`: when set, every page but /livez and /readyz needs it, as
    `Authorization: Bearer <token>` or as the password of HTTP basic auth (any user name)."""
    insecure_http: bool = False
    """Allow the worker, the notifier and the board to listen beyond loopback without a token
    (`web_host`/`board_host` not 127.0.0.1 while `api_token`/`board_token` are unset), for a
    network you trust to keep everyone else out. Without it they refuse to start so."""
    board_refresh_s: float = Field(default=2.0, gt=0)
    """`livewatch board`: how often an open page refreshes its lists and charts."""
    board_user_header: str | None = None
    """`livewatch board`: a header naming the signed-in user, set by a trusted proxy in
    front of the board (`X-Forwarded-User`, say), recorded as who gave a verdict. Set it only
    behind a proxy that sets it and drops it from clients' requests; unset, the basic-auth
    user name is recorded."""
    board_url: str | None = None
    """The board's address as on-call reaches it (`https://board.example/`): the notifier's
    alerts link to the episode's page there, where a verdict is recorded."""

    log_format: Literal["json", "console"] = "json"
    """`json` lines (for a log pipeline) or `console` (for a person)."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """The lowest level logged."""

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any) -> Any:
        """Every secret may come from a file (`LIVEWATCH_<NAME>_FILE`, as Kubernetes and Docker
        mount secrets), its trailing newline removed; both forms at once is an error."""
        if not isinstance(data, dict):
            return data
        for name in SECRETS:
            var = f"LIVEWATCH_{name.upper()}_FILE"
            path = os.environ.get(var)
            if not path:
                continue
            if data.get(name) not in (None, ""):
                raise ValueError(f"{var} and LIVEWATCH_{name.upper()} are both set: keep one")
            try:
                data[name] = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"{var}={path}: {exc.strerror}") from exc
        return data

    @field_validator("app_id")
    @classmethod
    def _not_a_relative_path(cls, value: str) -> str:
        if value in (".", ".."):
            raise ValueError("'.' and '..' are not app ids (Kafka refuses them as topic names)")
        return value

    @field_validator("naive_time_zone")
    @classmethod
    def _a_known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"{value!r} is no IANA time zone (such as Asia/Shanghai)") from exc
        return value

    @field_validator(*SECRETS, mode="before")
    @classmethod
    def _no_empty_secret(cls, value: object) -> object:
        """An empty secret (compose's `${LIVEWATCH_BOARD_TOKEN:-}`) means none, not ""."""
        return None if value == "" else value

    @model_validator(mode="after")
    def _windows_fit(self) -> Settings:
        if self.short_window_s % self.step_s or self.long_window_s % self.step_s:
            raise ValueError(
                f"windows must be whole multiples of step_s={self.step_s}, got "
                f"short_window_s={self.short_window_s}, long_window_s={self.long_window_s}"
            )
        if self.short_window_s > self.long_window_s:
            raise ValueError(
                f"short_window_s ({self.short_window_s}) must not exceed "
                f"long_window_s ({self.long_window_s})"
            )
        return self

    @model_validator(mode="after")
    def _one_alertmanager_login(self) -> Settings:
        if self.alertmanager_bearer_token is not None and self.alertmanager_password is not None:
            raise ValueError(
                "set LIVEWATCH_ALERTMANAGER_BEARER_TOKEN or LIVEWATCH_ALERTMANAGER_PASSWORD, "
                "not both"
            )
        if (self.alertmanager_username is None) != (self.alertmanager_password is None):
            raise ValueError(
                "LIVEWATCH_ALERTMANAGER_USERNAME and LIVEWATCH_ALERTMANAGER_PASSWORD go together"
            )
        return self

    def as_env(self) -> dict[str, str]:
        """These settings as `LIVEWATCH_*` variables, for a child process (the partition count
        only when it was set: the child finds the topics' own as this process would)."""
        return {
            f"LIVEWATCH_{name.upper()}": (
                value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            )
            for name, value in self.model_dump().items()
            if value is not None and (name != "partitions" or name in self.model_fields_set)
        }

    @property
    def naive_zone(self) -> tzinfo | None:
        """`naive_time_zone` as a time zone (None: unset)."""
        return None if self.naive_time_zone is None else ZoneInfo(self.naive_time_zone)

    @property
    def event_age_limit_s(self) -> int:
        """`max_event_age_s`, or the order horizon when it is unset."""
        return self.max_event_age_s if self.max_event_age_s is not None else self.order_horizon_s

    @property
    def topic_by_kind(self) -> dict[str, str]:
        """Input topic name by the kind of event it carries (orders, refunds, complaints)."""
        return {
            "orders": self.topic_orders,
            "refunds": self.topic_refunds,
            "complaints": self.topic_complaints,
        }

    @property
    def board_worker_urls(self) -> list[str]:
        given = [u.strip() for u in self.board_workers.split(",") if u.strip()]
        return given or [self.advertised_url or f"http://127.0.0.1:{self.web_port}"]

    @property
    def alertmanagers(self) -> list[str]:
        return [u.strip() for u in self.alertmanager_urls.split(",") if u.strip()]

    @property
    def input_topics(self) -> list[str]:
        return list(self.topic_by_kind.values())

    @property
    def internal_topics(self) -> dict[str, str]:
        """Internal topic name by kind (see `core.partition`), under the app id."""
        return {kind: f"{self.app_id}-{kind}" for kind in INTERNAL}

    @property
    def co_partitioned_topics(self) -> list[str]:
        """The input and internal topics: a partition task reads the same partition number of
        each, so they all have `partitions` partitions."""
        return [*self.input_topics, *self.internal_topics.values()]

    @property
    def rules_topic(self) -> str | None:
        """The rules topic's name, None when it is off."""
        if self.topic_rules == "off":
            return None
        return self.topic_rules or f"{self.app_id}-rules"

    @property
    def all_topics(self) -> list[str]:
        return [
            *self.input_topics,
            *self.internal_topics.values(),
            self.topic_alerts,
            self.topic_alerts_shadow,
            *([self.rules_topic] if self.rules_topic else []),
            self.topic_verdicts,
            self.topic_deadletter,
        ]

    def open_listeners(self, program: Literal["worker", "notify", "board"]) -> str | None:
        """Why `program` must not start as configured: listening beyond loopback with no token
        (anyone who reaches the port reads abuse figures and anchors), or None."""
        host, token, host_var, token_var = (
            (self.board_host, self.board_token, "BOARD_HOST", "BOARD_TOKEN")
            if program == "board"
            else (self.web_host, self.api_token, "WEB_HOST", "API_TOKEN")
        )
        if token is not None or self.insecure_http or is_loopback(host):
            return None
        return (
            f"LIVEWATCH_{host_var}={host} listens beyond loopback and LIVEWATCH_{token_var} is "
            f"not set: set a token (LIVEWATCH_{token_var}, or a file holding it in "
            f"LIVEWATCH_{token_var}_FILE; `python -c 'import secrets; "
            f"print(secrets.token_urlsafe(32))'` makes one), bind 127.0.0.1, or, on a network "
            f"you trust, set LIVEWATCH_INSECURE_HTTP=true"
        )

    def plaintext_warnings(self) -> list[str]:
        """Credentials that would cross the network readable by anyone on the path."""
        warnings = []
        if self.security_protocol == "SASL_PLAINTEXT" and self.sasl_mechanism == "PLAIN":
            warnings.append(
                "LIVEWATCH_SECURITY_PROTOCOL=SASL_PLAINTEXT with LIVEWATCH_SASL_MECHANISM=PLAIN "
                "sends the Kafka password in clear text: use SASL_SSL, or SCRAM"
            )
        login = self.alertmanager_password or self.alertmanager_bearer_token
        if login is not None and any(u.startswith("http://") for u in self.alertmanagers):
            warnings.append(
                "Alertmanager credentials are sent to an http:// URL in clear text: use https"
            )
        if any(URL(u).password is not None for u in self.alertmanagers):
            warnings.append(
                "an Alertmanager URL carries a password: set LIVEWATCH_ALERTMANAGER_USERNAME and "
                "LIVEWATCH_ALERTMANAGER_PASSWORD (or _FILE) instead; it is never shown"
            )
        return warnings


def redacted(url: str) -> str:
    """`url` without its user and password: safe for logs and metric labels."""
    parsed = URL(url)
    if parsed.user is None and parsed.password is None:
        return url
    return str(parsed.with_user(None))


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps a server to this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve anywhere
