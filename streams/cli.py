"""The `livewatch` command: local Kafka, topics, schemas and the worker."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from streams.settings import Settings

cli = typer.Typer(help="livewatch: live-commerce abuse monitor on Kafka.", no_args_is_help=True)
kafka_cli = typer.Typer(help="A local single-node Apache Kafka (KRaft) for demo and tests.")
topics_cli = typer.Typer(help="Kafka topics livewatch reads and writes.")
schemas_cli = typer.Typer(help="JSON Schema files of the wire contracts.")
cli.add_typer(kafka_cli, name="kafka")
cli.add_typer(topics_cli, name="topics")
cli.add_typer(schemas_cli, name="schemas")

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


def _local(state_dir: Path | None, port: int | None = None):  # type: ignore[no-untyped-def]
    from streams.kafka_local import DEFAULT_STATE_DIR, KafkaLocal

    return KafkaLocal(state_dir=state_dir or DEFAULT_STATE_DIR, port=port)


@kafka_cli.command("up")
def kafka_up(
    state_dir: StateDir = None,
    port: Annotated[
        int | None, typer.Option(help="Client port; default 9092 or a free one.")
    ] = None,
) -> None:
    """Start the broker (if not running) and print its bootstrap address once it answers."""
    from streams.kafka_local import KafkaLocalError

    try:
        typer.echo(_local(state_dir, port).up())
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

    try:
        reports = asyncio.run(create_topics(load_settings()))
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
    """Run the detection worker (the same app as `faust -A streams.app worker`)."""
    import faust

    from streams.app import create_app
    from streams.core.rules import RulesError
    from streams.logs import configure

    settings = load_settings()
    configure(settings.log_format, settings.log_level)
    try:
        app = create_app(settings)
    except RulesError as exc:
        typer.echo(f"error: rules file refused:\n{exc}", err=True)
        raise typer.Exit(2) from exc
    faust.Worker(
        app, loglevel=settings.log_level.lower(), override_logging=False
    ).execute_from_commandline()


def main() -> None:
    cli()
