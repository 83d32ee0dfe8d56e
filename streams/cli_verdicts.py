"""`livewatch verdicts ...`: analysts' verdicts from scripts and case management systems, and
each rule's precision from them (see `streams.verdicts`)."""

from __future__ import annotations

import asyncio
import getpass
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from schemas.verdict import Judgement, checked_note

verdicts_cli = typer.Typer(
    help="Analysts' verdicts on alert episodes: record one, report precision."
)


@verdicts_cli.command("add")
def verdicts_add(
    alert_id: Annotated[str, typer.Argument(help="The episode's alert_id.")],
    verdict: Annotated[Judgement, typer.Argument(help="confirmed, false_alarm or unsure.")],
    note: Annotated[str, typer.Option(help="A short note (500 characters at most).")] = "",
    by: Annotated[str | None, typer.Option(help="Who judged (default: the login name).")] = None,
) -> None:
    """Record a verdict on an episode of the alerts topic (the latest one stands)."""
    from streams.cli import load_settings
    from streams.verdicts.book import VerdictBook
    from streams.verdicts.report import episodes_of
    from streams.verdicts.topic import VerdictWriter, read_alerts, read_verdicts

    settings = load_settings()
    try:
        checked_note(note)
    except ValueError as exc:
        typer.echo(f"error: --{exc}", err=True)
        raise typer.Exit(2) from exc

    async def record() -> Any:
        alerts, _ = await read_alerts(settings)
        episode = episodes_of(alerts).get(alert_id)
        if episode is None:
            return None
        book = VerdictBook()
        for known in (await read_verdicts(settings))[0]:
            book.add(known)
        made = book.judge(
            alert_id, verdict, by or getpass.getuser(), datetime.now(UTC), note,
            rule=episode.rule, severity=episode.severity, anchor_id=episode.anchor_id,
            episode_started=episode.started,
        )  # fmt: skip
        writer = VerdictWriter(settings)
        try:
            await writer.send(made)
        finally:
            await writer.close()
        return made

    made = asyncio.run(record())
    if made is None:
        typer.echo(f"error: no episode {alert_id!r} on {settings.topic_alerts}", err=True)
        raise typer.Exit(1)
    before = f" (was {made.earlier[-1].verdict.value})" if made.earlier else ""
    typer.echo(f"{alert_id}: {made.verdict.value} by {made.by}{before}")


@verdicts_cli.command("report")
def verdicts_report(
    since: Annotated[
        str | None, typer.Option(help="Episodes started this recently (6h, 7d); default all.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Per rule and severity: episodes, judged, confirmed, false alarms, precision with its
    95% interval, median time to a verdict."""
    from streams.backtest import parse_duration
    from streams.cli import load_settings
    from streams.verdicts.book import VerdictBook
    from streams.verdicts.report import episodes_of, report
    from streams.verdicts.topic import read_alerts, read_verdicts

    settings = load_settings()
    start = None
    if since is not None:
        try:
            start = datetime.now(UTC) - timedelta(seconds=parse_duration(since))
        except ValueError as exc:
            typer.echo(f"error: --since: {exc}", err=True)
            raise typer.Exit(2) from exc

    async def read() -> dict[str, Any]:
        alerts, _ = await read_alerts(settings)
        book = VerdictBook()
        for verdict in (await read_verdicts(settings))[0]:
            book.add(verdict)
        return report(episodes_of(alerts), book.latest, start)

    found = asyncio.run(read())
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    _print(found)


def _print(found: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="precision from analysts' verdicts")
    for column in ("rule", "severity", "episodes", "judged", "confirmed", "false alarms",
                   "precision (95%)", "median wait"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("rule", "severity") else "right",
                         no_wrap=True)  # fmt: skip

    def row(rule: str, severity: str, r: dict[str, Any]) -> None:
        p = r["precision"]
        precision = (
            "-" if p is None else (f"{p:.2f} ({r['precision_low']:.2f}-{r['precision_high']:.2f})")
        )
        wait = r["median_time_to_verdict_s"]
        table.add_row(
            rule, severity, str(r["episodes"]), str(r["judged"]), str(r["confirmed"]),
            str(r["false_alarm"]), precision, "-" if wait is None else f"{wait / 60:.0f} min",
        )  # fmt: skip

    for rule, r in found["rules"].items():
        row(rule, "all", r)
        for severity, s in r["by_severity"].items():
            row("", severity, s)
    row("overall", "", found["overall"])
    console = Console()
    console.width = max(console.width, 110)
    console.print(table)
