"""The `livewatch` command: local Kafka, topics, schemas and the worker."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TextIO

import typer
from pydantic import ValidationError

from streams.cli_rules import Partitions, backtest_command, rules_cli
from streams.cli_verdicts import verdicts_cli
from streams.settings import Settings

if TYPE_CHECKING:
    from rich.console import Console

    from streams.core.rules import Rules
    from streams.devtools.sim.evaluation import Report, RuleScore
    from streams.placement import Placement

cli = typer.Typer(help="livewatch: live-commerce abuse monitor on Kafka.", no_args_is_help=True)
kafka_cli = typer.Typer(help="A local single-node Apache Kafka (KRaft) for demo and tests.")
topics_cli = typer.Typer(help="Kafka topics livewatch reads and writes.")
schemas_cli = typer.Typer(help="JSON Schema files of the wire contracts.")
cli.add_typer(kafka_cli, name="kafka")
cli.add_typer(topics_cli, name="topics")
cli.add_typer(schemas_cli, name="schemas")
cli.add_typer(rules_cli, name="rules")
cli.command("backtest")(backtest_command)
cli.add_typer(verdicts_cli, name="verdicts")

StateDir = Annotated[
    Path | None, typer.Option(help="State directory of the local broker (config, data, pid).")
]


def load_settings() -> Settings:
    """Settings from the environment; a bad value exits 2 naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            field = ".".join(str(p) for p in error["loc"])
            name = f"LIVEWATCH_{field.upper()}" if field else "settings"
            typer.echo(f"error: {name}: {error['msg']}", err=True)
        raise typer.Exit(2) from exc


def refuse_open_or_exit(settings: Settings, program: Literal["worker", "notify", "board"]) -> None:
    """Exit 2 before anything starts when `program` would serve its HTTP API to the network
    without a token; warn of credentials sent in clear text."""
    problem = settings.open_listeners(program)
    if problem is not None:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2)
    import structlog

    for warning in settings.plaintext_warnings():
        structlog.get_logger("livewatch").warning("plaintext_credentials", detail=warning)


def check_login_or_exit(settings: Settings) -> None:
    """Exit 2 with the reason when the brokers refuse the configured TLS or SASL login."""
    from streams.kafka_config import LoginRefused, check_login

    try:
        asyncio.run(check_login(settings))
    except LoginRefused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def settle_layout_or_exit(settings: Settings, log: bool = True) -> Settings:
    """The settings with the partition count of the topics as they are (`adopt_partitions`);
    exit 2 with the reason when the input or internal topics do not all have it: a worker
    reading them would exit at the first record of a partition its tables do not have, or
    never read it. A count taken from the topics is logged (`log`), else said on stderr."""
    from streams.topics import TopicLayoutError, settle_layout

    try:
        settled = asyncio.run(settle_layout(settings))
    except TopicLayoutError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if settled.partitions == settings.partitions:
        return settled
    if log:
        import structlog

        structlog.get_logger("livewatch").info(
            "partitions_adopted", partitions=settled.partitions,
            detail="LIVEWATCH_PARTITIONS is unset: the count the input topics have",
        )  # fmt: skip
    else:
        typer.echo(f"partitions: {settled.partitions}, the count the input topics have "
                   "(LIVEWATCH_PARTITIONS is unset)", err=True)  # fmt: skip
    return settled


def load_rules_or_exit(path: Path | None) -> Rules:
    """The rules file (the packaged one when None); a bad one exits 2 naming line and field."""
    from streams.core.rules import RulesError, load_rules

    try:
        return load_rules(path)
    except RulesError as exc:
        typer.echo(f"error: rules file refused:\n{exc}", err=True)
        raise typer.Exit(2) from exc


@contextmanager
def open_input(name: str) -> Iterator[TextIO]:
    """A file to read, or standard input for `-` (left open)."""
    if name == "-":
        yield sys.stdin
        return
    with open(name, encoding="utf-8") as handle:
        yield handle


def _local(state_dir: Path | None, port: int | None = None, brokers: int = 1):  # type: ignore[no-untyped-def]
    """The local broker of this state directory, or its cluster (made with `--brokers N`)."""
    from streams.devtools.kafka_local import DEFAULT_STATE_DIR, KafkaCluster, KafkaLocal

    directory = state_dir or DEFAULT_STATE_DIR
    if brokers > 1 or KafkaCluster.is_cluster(directory):
        return KafkaCluster(state_dir=directory, brokers=brokers)
    return KafkaLocal(state_dir=directory, port=port)


@kafka_cli.command("up")
def kafka_up(
    state_dir: StateDir = None,
    port: Annotated[
        int | None, typer.Option(help="Client port; default 9092 or a free one.")
    ] = None,
    brokers: Annotated[
        int,
        typer.Option(
            min=1,
            max=5,
            help="Nodes (broker and controller each) forming one "
            "cluster on free ports; the bootstrap list is printed.",
        ),
    ] = 1,
) -> None:
    """Start the broker (if not running) and print its bootstrap address once it answers."""
    from streams.devtools.kafka_local import KafkaLocalError

    try:
        typer.echo(_local(state_dir, port, brokers).up())
    except KafkaLocalError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@kafka_cli.command("down")
def kafka_down(state_dir: StateDir = None) -> None:
    """Stop the broker started from this state directory."""
    stopped = _local(state_dir).down()
    typer.echo("stopped" if stopped else "not running")


@kafka_cli.command("status")
def kafka_status(state_dir: StateDir = None) -> None:
    """Say whether the broker runs and answers; exit 3 when it is stopped."""
    status = _local(state_dir).status()
    typer.echo(status)
    if status == "stopped":
        raise typer.Exit(3)


@topics_cli.command("create")
def topics_create() -> None:
    """Create the input, alerts and dead-letter topics (idempotent)."""
    from streams.topics import TopicLayoutError, create_topics

    settings = load_settings()
    check_login_or_exit(settings)
    try:
        reports = asyncio.run(create_topics(settings))
    except TopicLayoutError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for report in reports:
        state = "created" if report.created else "exists"
        typer.echo(f"{report.name}\tpartitions={report.partitions}\t{state}")


@schemas_cli.command("export")
def schemas_export(
    out: Annotated[Path | None, typer.Option(help="Directory; default schemas/json.")] = None,
) -> None:
    """Write schemas/json/*.schema.json from the pydantic models."""
    from schemas.export import JSON_DIR, export

    for path in export(out or JSON_DIR):
        typer.echo(str(path))


@cli.command("worker")
def worker() -> None:
    """Run the detection worker (the same app as `faust -A streams.worker.app worker`)."""
    import faust

    from streams.core.rules import RulesError
    from streams.logs import configure
    from streams.worker.app import create_app
    from streams.worker.gc_tuning import tune_gc

    settings = load_settings()
    configure(settings.log_format, settings.log_level)
    refuse_open_or_exit(settings, "worker")
    check_login_or_exit(settings)
    settings = settle_layout_or_exit(settings)
    try:
        app = create_app(settings)
    except RulesError as exc:
        typer.echo(f"error: rules file refused:\n{exc}", err=True)
        raise typer.Exit(2) from exc
    tune_gc(settings.gc_gen0_threshold)
    faust.Worker(
        app, loglevel=settings.log_level.lower(), override_logging=False
    ).execute_from_commandline()


@cli.command("notify")
def notify(
    alertmanager: Annotated[
        list[str] | None,
        typer.Option(
            "--alertmanager",
            help="Alertmanager base URL (repeatable: every one of an HA set). "
            "Default: LIVEWATCH_ALERTMANAGER_URLS, comma-separated.",
        ),
    ] = None,
) -> None:
    """Send the abuse alerts of the alerts topic to Alertmanager (`POST /api/v2/alerts`)."""
    import asyncio

    from streams.logs import configure
    from streams.notify.service import serve

    settings = load_settings()
    configure(settings.log_format, settings.log_level)
    urls = alertmanager or settings.alertmanagers
    settings = settings.model_copy(update={"alertmanager_urls": ",".join(urls)})
    refuse_open_or_exit(settings, "notify")
    check_login_or_exit(settings)
    if not urls:
        typer.echo("error: no Alertmanager: give --alertmanager URL or set "
                   "LIVEWATCH_ALERTMANAGER_URLS", err=True)  # fmt: skip
        raise typer.Exit(2)
    asyncio.run(serve(settings, urls))


@cli.command("board")
def board(
    port: Annotated[
        int | None,
        typer.Option(
            min=1, max=65535, help="Port to serve on. Default: LIVEWATCH_BOARD_PORT (6068)."
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(help="Address to bind. Default: LIVEWATCH_BOARD_HOST (127.0.0.1)."),
    ] = None,
    worker_url: Annotated[
        list[str] | None,
        typer.Option(
            "--worker",
            help="Base URL of a worker's HTTP API (repeatable). Default: "
            "LIVEWATCH_BOARD_WORKERS, comma-separated, else this machine's worker.",
        ),
    ] = None,
) -> None:
    """Serve the risk board: active episodes, riskiest anchors and anchor pages (read-only)."""
    import asyncio

    from streams.board.service import serve
    from streams.logs import configure

    settings = load_settings()
    update: dict[str, object] = {}
    if port is not None:
        update["board_port"] = port
    if host is not None:
        update["board_host"] = host
    if worker_url:
        update["board_workers"] = ",".join(worker_url)
    settings = settings.model_copy(update=update)
    configure(settings.log_format, settings.log_level)
    refuse_open_or_exit(settings, "board")
    check_login_or_exit(settings)
    asyncio.run(serve(settings))


class ReportFormat(StrEnum):
    table = "table"
    json = "json"


Format = Annotated[ReportFormat, typer.Option(help="A table for people, JSON for scripts.")]

Scenario = Annotated[
    list[str] | None,
    typer.Option(
        "--scenario",
        help="normal, brushing, complaint_storm, attack, high_refund_category, late, duplicates "
        "or mix (all of them); repeatable. Default: mix.",
    ),
]


OrdersBy = Annotated[
    str,
    typer.Option(
        "--orders-by",
        help="What the orders' producer keys them by: anchor (the contract), order_id, "
        "event_id, buyer_id, session_id or none.",
    ),
]
RefundsBy = Annotated[
    str,
    typer.Option(
        "--refunds-by",
        help="What refunds are keyed by: anchor (anchor_id, else order_id), order_id, "
        "refund_id, event_id, session_id or none.",
    ),
]
ComplaintsBy = Annotated[
    str,
    typer.Option(
        "--complaints-by",
        help="What complaints are keyed by: anchor, complaint_id, order_id, event_id, "
        "session_id or none.",
    ),
]
PartitionerOption = Annotated[
    str,
    typer.Option(
        "--partitioner",
        help="The producers' partitioner: murmur2 (Java, aiokafka), crc32 (librdkafka's "
        "default: confluent-kafka, kcat), fnv1a (Sarama) or kafkajs_legacy (KafkaJS's "
        "LegacyPartitioner). Records without a key go to "
        "seeded random partitions.",
    ),
]


def _placement(orders_by: str, refunds_by: str, complaints_by: str, partitioner: str) -> Placement:
    """The producers these options describe; a bad choice exits 2 naming it."""
    from streams.placement import Placement

    try:
        return Placement.of(
            partitioner,  # type: ignore[arg-type]
            orders=orders_by,  # type: ignore[arg-type]
            refunds=refunds_by,  # type: ignore[arg-type]
            complaints=complaints_by,  # type: ignore[arg-type]
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@cli.command("simulate")
def simulate(
    scenario: Scenario = None,
    seed: Annotated[int, typer.Option(help="Same seed, same events.")] = 1,
    anchors: Annotated[int, typer.Option(min=1, help="Anchors in the population.")] = 200,
    hours: Annotated[float, typer.Option(min=0.5, help="Event-time span.")] = 6.0,
    start: Annotated[
        str | None,
        typer.Option(
            help="Event time of the start (RFC 3339); default 2026-11-28T14:00Z for "
            "files, HOURS before now for Kafka (the span ends now)."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write JSONL replay lines here ('-': stdout), not Kafka.")
    ] = None,
    labels: Annotated[Path | None, typer.Option(help="Write the ground truth here.")] = None,
    rate: Annotated[float | None, typer.Option(help="Events per second to Kafka (max).")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    events: Annotated[int | None, typer.Option(help="Stop after this many events.")] = None,
    orders_by: OrdersBy = "anchor",
    refunds_by: RefundsBy = "anchor",
    complaints_by: ComplaintsBy = "anchor",
    partitioner: PartitionerOption = "murmur2",
    refund_anchor: Annotated[
        bool,
        typer.Option(help="Refunds name their anchor and session (off: only the order)."),
    ] = True,
    refund_delay: Annotated[
        str, typer.Option(help="How long refunds trail orders: minutes, tens, slow or mixed.")
    ] = "minutes",
) -> None:
    """Realistic live-commerce traffic, with ground-truth labels, to Kafka or to a file."""
    import itertools
    import json
    from datetime import datetime

    from rich.progress import Progress

    from streams.devtools.sim.generator import DEFAULT_START, SCENARIOS, SimConfig, Simulation

    chosen = tuple(scenario or ["mix"])
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        typer.echo(
            f"error: unknown scenario {unknown}; choose from {', '.join(SCENARIOS)}", err=True
        )
        raise typer.Exit(2)
    if start is not None:
        begin = datetime.fromisoformat(start)
        if begin.tzinfo is None:
            typer.echo(
                "error: --start needs a UTC offset, e.g. 2026-11-28T14:00:00+00:00", err=True
            )
            raise typer.Exit(2)
    elif out is None:
        # The simulated span ends now: records are stamped with their event time, and a
        # broker refuses timestamps more than an hour ahead of its clock (Kafka 4's
        # log.message.timestamp.after.max.ms), as livewatch refuses events far ahead of theirs.
        from streams.devtools.sim.generator import live_start

        begin = live_start(hours)
    else:
        begin = DEFAULT_START
    delays = _delays(refund_delay)
    if len(delays) != 1:
        raise typer.BadParameter("one refund-delay profile per simulation")
    placement = _placement(orders_by, refunds_by, complaints_by, partitioner)
    sim = Simulation(SimConfig(seed, anchors, hours, begin, chosen, refund_anchor, delays[0]))
    stream = itertools.islice(sim.events(), events)
    total = min(len(sim.buffer), events or len(sim.buffer))
    if labels is not None:
        labels.write_text(sim.truth().model_dump_json(indent=2) + "\n")
    with Progress(transient=True, console=_stderr_console(), disable=total < 10_000) as bar:
        task = bar.add_task("events", total=total)
        if out is not None:
            handle = sys.stdout if str(out) == "-" else out.open("w", encoding="utf-8")
            try:
                for n, (kind, value) in enumerate(stream, 1):
                    handle.write(json.dumps({"topic": kind, "value": value}) + "\n")
                    if n % 1000 == 0:
                        bar.update(task, completed=n)
            finally:
                if handle is not sys.stdout:
                    handle.close()
            typer.echo(f"wrote {total} events to {out}", err=True)
            return
        from streams.devtools.sim.kafka import send_events

        settings = load_settings()
        sent = asyncio.run(send_events(
            settings, stream, rate, duration, lambda n: bar.update(task, completed=n),
            placement=placement,
        ))  # fmt: skip
        typer.echo(f"sent {sent} events to {settings.kafka_bootstrap}", err=True)


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


@cli.command("replay")
def replay(
    file: Annotated[str, typer.Argument(help="JSONL lines {topic, value}; '-' for stdin.")],
    rules: Annotated[Path | None, typer.Option(help="Rules file (default: packaged).")] = None,
    rules_history: Annotated[
        Path | None,
        typer.Option(
            help="The rules topic's records (`livewatch rules export`): each boundary is "
            "judged under the set the workers used there."
        ),
    ] = None,
    flush: Annotated[
        bool, typer.Option(help="Run time on past the last event so open episodes resolve.")
    ] = False,
    orders_by: OrdersBy = "anchor",
    refunds_by: RefundsBy = "anchor",
    complaints_by: ComplaintsBy = "anchor",
    partitioner: PartitionerOption = "murmur2",
    partitions: Partitions = None,
) -> None:
    """Run the worker's detection offline; print each alert as a JSON line on stdout.

    Lines that carry a "partition" are read there; the others are placed as the producers the
    --*-by and --partitioner options describe would place them (default: the contract)."""
    from streams.codecs import encode
    from streams.replay import read_jsonl, replay_records
    from streams.worker.gc_tuning import tune_gc

    settings = load_settings()
    if partitions is not None:
        settings = settings.model_copy(update={"partitions": partitions})
    tune_gc(settings.gc_gen0_threshold)
    loaded = load_rules_or_exit(rules or settings.rules_path)
    book = None
    if rules_history is not None:
        from streams.cli_rules import read_history
        from streams.core.rulebook import book_from_records

        book, refused = book_from_records(loaded, read_history(rules_history))
        for reason in refused:
            typer.echo(f"rules record refused (as the workers refuse it): {reason}", err=True)
    placement = _placement(orders_by, refunds_by, complaints_by, partitioner)
    problems = 0

    def report(line: int, reason: str) -> None:
        nonlocal problems
        problems += 1
        typer.echo(f"line {line}: skipped: {reason}", err=True)

    count = 0
    with open_input(file) as handle:
        records = read_jsonl(handle, report)
        alerts = replay_records(
            records, settings, loaded, report, flush=flush, placement=placement, book=book
        )
        for alert in alerts:
            sys.stdout.write(encode(alert).decode() + "\n")
            count += 1
    typer.echo(f"{count} alerts, {problems} lines skipped", err=True)


@cli.command("doctor")
def doctor(
    sample: Annotated[
        int, typer.Option(min=1, help="Latest records to read per partition of each topic.")
    ] = 500,
    format: Format = ReportFormat.table,
) -> None:
    """Sample the input topics and report how their producers key and partition records, how
    many land on their anchor's partition, event-time skew against record timestamps, and
    what to change at the producer."""
    import json

    from streams.doctor import diagnose, render, sample_topics
    from streams.topics import adopt_partitions

    settings = load_settings()
    check_login_or_exit(settings)
    sampled = asyncio.run(sample_topics(settings, sample))
    reports = [
        diagnose(kind, settings.topic_by_kind[kind], partitions, records, settings.naive_zone)
        for kind, (partitions, records) in sampled.items()
    ]
    settings = adopt_partitions(settings, {r.topic: r.partitions for r in reports if r.partitions})
    if format is ReportFormat.json:
        typer.echo(json.dumps({r.kind: r.to_json() for r in reports}, indent=2))
    else:
        typer.echo(render(reports, settings.partitions))
    if any(r.partitions == 0 for r in reports):
        typer.echo("error: an input topic does not exist (livewatch topics create)", err=True)
        raise typer.Exit(1)


@cli.command("evaluate")
def evaluate_alerts(
    alerts: Annotated[str, typer.Argument(help="JSONL of alerts (replay output); '-': stdin.")],
    labels: Annotated[Path, typer.Option(help="Ground truth from `livewatch simulate --labels`.")],
    format: Format = ReportFormat.table,
) -> None:
    """Precision, recall and time-to-detect per rule and overall."""
    import json

    from schemas import Alert, RuleName
    from streams.devtools.sim.evaluation import evaluate
    from streams.devtools.sim.labels import Truth

    truth = Truth.model_validate_json(labels.read_text())
    with open_input(alerts) as handle:
        parsed = [Alert.model_validate_json(line) for line in handle if line.strip()]
    report = evaluate(truth, parsed, tuple(r.value for r in RuleName))
    if format is ReportFormat.json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    _print_report(report)


def _score_table(title: str, rows: list[tuple[str, RuleScore]]) -> Any:
    from rich.table import Table

    table = Table(title=title)
    for column in ("rule", "alerts", "true", "labels", "detected", "precision", "recall",
                   "median TTD", "90th pct TTD", "max TTD"):  # fmt: skip
        table.add_column(column, justify="right" if column != "rule" else "left")

    def cell(value: float | None, unit: str = "") -> str:
        if value is None:
            return "n/a"
        return f"{value / 60:.1f} min" if unit == "s" else f"{value:.3f}"

    for name, score in rows:
        summary = score.summary()
        table.add_row(
            name, str(score.alerts), str(score.true_alerts), str(score.labels),
            str(score.detected), cell(score.precision), cell(score.recall),
            cell(summary["ttd_median_s"], "s"), cell(summary["ttd_p90_s"], "s"),
            cell(summary["ttd_max_s"], "s"),
        )  # fmt: skip
    return table


def _print_report(report: Report, title: str = "detection quality", details: bool = True) -> None:
    """The quality table on stdout, then (with `details`) recall and time to detect per
    injected behaviour, each false alert and each missed label on a line."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    rows = [*sorted(report.rules.items()), ("overall", report.overall)]
    console.print(_score_table(title, rows))
    if not details:
        return
    if report.behaviours:
        console.print(_score_table("by behaviour", sorted(report.behaviours.items())))
    for alert in report.false_alerts:
        seed = f" (seed {alert['seed']}, {alert.get('shape', 'mix')})" if "seed" in alert else ""
        typer.echo(f"false alert: {alert['rule']} {alert['anchor_id']} {alert['alert_id']}{seed}")
    for label in report.missed:
        typer.echo(f"missed: {label.scenario} {label.anchor_id} from {label.start.isoformat()}")


def _seeds(text: str) -> tuple[int, ...]:
    """'1-10,15' -> (1, ..., 10, 15)."""
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _, high = part.partition("-")
        try:
            seeds.extend(range(int(low), int(high or low) + 1))
        except ValueError:
            raise typer.BadParameter(f"not a seed or a range of seeds: {part!r}") from None
    return tuple(seeds)


def _shapes(text: str) -> tuple[str, ...]:
    from streams.devtools.sim.generator import SHAPES

    chosen = tuple(SHAPES) if text == "all" else tuple(p.strip() for p in text.split(","))
    unknown = [p for p in chosen if p not in SHAPES]
    if unknown or not chosen:
        raise typer.BadParameter(f"shapes are {', '.join(SHAPES)} or all, got {text!r}")
    return chosen


def _delays(text: str) -> tuple[str, ...]:
    from streams.devtools.sim.generator import REFUND_DELAYS

    chosen = REFUND_DELAYS if text == "all" else tuple(p.strip() for p in text.split(","))
    unknown = [p for p in chosen if p not in REFUND_DELAYS]
    if unknown or not chosen:
        raise typer.BadParameter(
            f"refund delays are {', '.join(REFUND_DELAYS)} or all, got {text!r}"
        )
    return chosen


@cli.command("quality")
def quality(
    seeds: Annotated[str, typer.Option(help="Seeds of the mix runs: '1-10', '1,4,7'.")] = "1-10",
    anchors: Annotated[int, typer.Option(min=1, help="Anchors per mix run.")] = 300,
    hours: Annotated[float, typer.Option(min=0.5, help="Event time per mix run.")] = 8.0,
    normal_days: Annotated[
        str, typer.Option(help="Seeds of normal days (1,000 anchors, 24 h) that must stay quiet.")
    ] = "",
    rules: Annotated[
        Path | None,
        typer.Option(
            help="Rules file to judge; default: LIVEWATCH_RULES_PATH or the packaged one."
        ),
    ] = None,
    format: Format = ReportFormat.table,
    orders_by: OrdersBy = "anchor",
    refunds_by: RefundsBy = "anchor",
    complaints_by: ComplaintsBy = "anchor",
    partitioner: PartitionerOption = "murmur2",
    refund_anchor: Annotated[
        bool, typer.Option(help="The mix's refunds name their anchor (off: only the order).")
    ] = True,
    refund_delay: Annotated[
        str,
        typer.Option(
            help="Refund-delay profiles to pool, comma-separated: minutes, tens, slow, mixed, "
            "or all."
        ),
    ] = "minutes",
    burst_scale: Annotated[
        float,
        typer.Option(
            min=0.01, help="Share of their usual orders the mix's brushing and attack bursts take."
        ),
    ] = 1.0,
    shape: Annotated[
        str,
        typer.Option(
            help="Traffic shapes to pool, comma-separated: mix; rings (small brushing rings on "
            "busy anchors) and fresh (attacks by fresh buyers), both on a sales day of flash "
            "sales, impulse cancellations and regulars' carts; or all."
        ),
    ] = "mix",
) -> None:
    """The detection-quality suite: simulate, replay and evaluate several seeds, pooled, so a
    rules file is judged on more than one sample of traffic. Exits 1 on a normal-day alert."""
    import json

    from rich.progress import Progress

    from streams.devtools.sim.suite import SuiteConfig, run_suite
    from streams.worker.gc_tuning import tune_gc

    settings = load_settings()
    tune_gc(settings.gc_gen0_threshold)
    loaded = load_rules_or_exit(rules or settings.rules_path)
    config = SuiteConfig(
        _seeds(seeds),
        anchors,
        hours,
        _seeds(normal_days),
        placement=_placement(orders_by, refunds_by, complaints_by, partitioner),
        refund_anchor=refund_anchor,
        refund_delays=_delays(refund_delay),
        burst_scale=burst_scale,
        shapes=_shapes(shape),
    )
    runs = config.runs()
    with Progress(transient=True, console=_stderr_console()) as bar:
        task = bar.add_task("runs", total=runs)
        result = run_suite(config, loaded, settings, lambda _: bar.advance(task))
    if format is ReportFormat.json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        if len(result.shapes) > 1:
            for name, report in result.shapes.items():
                _print_report(report, f"shape {name}", details=False)
        _print_report(result.report)
        for seed, count in result.normal_day_alerts.items():
            typer.echo(f"normal day {seed}: {count} alerts")
    if any(result.normal_day_alerts.values()):
        raise typer.Exit(1)


@cli.command("demo")
def demo(
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    rate: Annotated[float, typer.Option(help="Simulated events per second.")] = 500.0,
    anchors: Annotated[int, typer.Option(min=1)] = 200,
    hours: Annotated[float, typer.Option(min=0.5, help="Event time to simulate.")] = 24.0,
    seed: Annotated[int, typer.Option()] = 1,
    kafka_state_dir: Annotated[
        Path | None, typer.Option(help="State directory of the local broker to use or start.")
    ] = None,
) -> None:
    """The whole thing on this machine: local Kafka, topics, a worker and the simulator (mix),
    with a live view of event rates, the riskiest anchors and alerts. Ctrl-C stops it all."""
    from streams.devtools.demo import DemoOptions, run_demo

    settings = load_settings()
    options = DemoOptions(duration, rate, anchors, hours, seed, kafka_state_dir, settings.data_dir)
    raise typer.Exit(run_demo(options, settings))


def main() -> None:
    cli()
