"""`livewatch rules ...` and `livewatch backtest`: rule sets changed while the workers run, and
tried on recorded traffic first (see `core.rulebook`, `backtest`)."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from schemas.verdict import Judgement
    from streams.core.rulebook import Kind, RuleBook, RuleSet
    from streams.settings import Settings

rules_cli = typer.Typer(
    help="Rule sets for running workers: publish (live or shadow), show, roll back, export."
)

By = Annotated[str | None, typer.Option("--by", help="Who publishes (default: the login name).")]
At = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="The event-time boundary it holds from (RFC 3339; default: the next step at least "
        "LIVEWATCH_RULES_LEAD_S from now). A boundary the workers have passed is applied "
        "from their next one, unlike in the replay.",
    ),
]

Partitions = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="The input topics' partition count, which the workers adopt from the topics "
        "(default: LIVEWATCH_PARTITIONS, 8 unless set). Lateness is judged per partition, "
        "so a file replayed to compare with the workers' alerts needs theirs.",
    ),
]
"""`--partitions` of the offline replays of a file (`replay`, `backtest`)."""


def _settings() -> Settings:
    from streams.cli import load_settings

    return load_settings()


def _book(settings: Settings) -> tuple[RuleBook, list[str]]:
    from streams.cli import load_rules_or_exit
    from streams.core.rulebook import book_from_records

    base = load_rules_or_exit(settings.rules_path)
    return book_from_records(base, _records(settings))


def _records(settings: Settings) -> list[dict[str, Any]]:
    """The rules topic's records (none before anything was published)."""
    from streams.core.rules import RulesError
    from streams.rules_topic import read_records

    try:
        return asyncio.run(read_records(settings))
    except RulesError as exc:  # the topic is off
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _boundary(settings: Settings, at: str | None) -> int:
    """The boundary a new set holds from: given, or the next step past the lead."""
    step = settings.step_s * 1000
    if at is None:
        ms = time.time_ns() // 1_000_000 + settings.rules_lead_s * 1000
    else:
        try:
            when = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError as exc:
            typer.echo(f"error: --at: not an RFC 3339 time: {at!r}", err=True)
            raise typer.Exit(2) from exc
        if when.tzinfo is None:
            typer.echo("error: --at: give the UTC offset (say 2026-12-03T10:00:00Z)", err=True)
            raise typer.Exit(2)
        ms = int(when.timestamp() * 1000)
    return -(-ms // step) * step


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _publish(
    settings: Settings, kind: Kind, text: str | None, source: str, by: str | None, at: str | None
) -> RuleSet:
    from streams.core.rulebook import RuleSet, decode_rule_set
    from streams.core.rules import RulesError
    from streams.rules_topic import publish

    book, _ = _book(settings)
    rule_set = RuleSet(
        book.next_version(), kind, _boundary(settings, at), None, text, source,
        by or getpass.getuser(), time.time_ns() // 1_000_000,
    )  # fmt: skip
    try:  # what the workers will check, checked before it reaches them
        rule_set = decode_rule_set(rule_set.to_record())
    except RulesError as exc:
        typer.echo(f"error: rules file refused:\n{exc}", err=True)
        raise typer.Exit(2) from exc
    asyncio.run(publish(settings, rule_set))
    what = "withdrawn" if text is None else f"v{rule_set.version}"
    typer.echo(
        f"{kind} rules {what} published by {rule_set.published_by}; in force from "
        f"{_iso(rule_set.effective_ms)} (event time)"
    )
    return rule_set


@rules_cli.command("publish")
def rules_publish(
    file: Annotated[Path, typer.Argument(help="Rules YAML, validated as the rules file is.")],
    shadow: Annotated[
        bool, typer.Option(help="Run it beside the live set; its alerts go to the shadow topic.")
    ] = False,
    by: By = None,
    at: At = None,
) -> None:
    """Publish a rule set to the rules topic; the workers switch to it at its boundary."""
    from streams.cli import load_rules_or_exit

    load_rules_or_exit(file)  # errors name the line and field, before anything is sent
    text = file.read_text(encoding="utf-8")
    _publish(_settings(), "shadow" if shadow else "live", text, file.name, by, at)


@rules_cli.command("withdraw-shadow")
def rules_withdraw_shadow(by: By = None, at: At = None) -> None:
    """Stop the shadow set at a boundary (its open episodes resolve there)."""
    _publish(_settings(), "shadow", None, "", by, at)


@rules_cli.command("rollback")
def rules_rollback(
    shadow: Annotated[bool, typer.Option(help="Roll back the shadow set instead.")] = False,
    by: By = None,
    at: At = None,
) -> None:
    """Publish the set before the latest again, as a new version (before the first published
    live set: the rules file this command is configured with)."""
    settings = _settings()
    book, _ = _book(settings)
    kind: Kind = "shadow" if shadow else "live"
    known = book.sets[kind]
    if not known:
        typer.echo(f"error: no {kind} rule set has been published", err=True)
        raise typer.Exit(1)
    latest = known[-1]
    earlier = [s for s in known if s.text != latest.text]
    if earlier:
        previous = earlier[-1]
        text, source = previous.text, f"rollback of v{latest.version} to v{previous.version}"
    elif shadow:
        text, source = None, f"rollback of v{latest.version}: no shadow set"
    else:
        path = settings.rules_path
        from streams.core.rules import DEFAULT_RULES_PATH

        text = (path or DEFAULT_RULES_PATH).read_text(encoding="utf-8")
        source = f"rollback of v{latest.version} to the rules file"
    _publish(settings, kind, text, source, by, at)


def _describe(rule_set: RuleSet | None, now_ms: int) -> dict[str, Any] | None:
    if rule_set is None:
        return None
    return {
        "version": rule_set.version,
        "withdrawn": rule_set.rules is None,
        "from": _iso(rule_set.effective_ms),
        "in_force": rule_set.effective_ms <= now_ms,
        "published_by": rule_set.published_by,
        "published_at": _iso(rule_set.published_at_ms),
        "source": rule_set.source,
    }


@rules_cli.command("show")
def rules_show(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """The live and shadow rule sets: latest versions, who published them and when."""
    settings = _settings()
    book, refused = _book(settings)
    now = time.time_ns() // 1_000_000
    history = sorted((s for sets in book.sets.values() for s in sets), key=lambda s: s.version)
    latest_live = _describe(book.latest("live"), now)
    shown: dict[str, Any] = {
        "live": latest_live or {"version": 0, "source": "rules file"},
        "shadow": _describe(book.latest("shadow"), now),
        "history": [{**(_describe(s, now) or {}), "kind": s.kind} for s in history],
        "refused": refused,
    }
    if as_json:
        typer.echo(json.dumps(shown, indent=2))
        return
    for kind in ("live", "shadow"):
        info = shown[kind]
        if info is None:
            typer.echo(f"{kind}: none")
        elif info["version"] == 0:
            typer.echo(f"{kind}: v0 (the workers' rules file)")
        else:
            state = "in force" if info["in_force"] else "from"
            typer.echo(
                f"{kind}: v{info['version']}{' (withdrawn)' if info['withdrawn'] else ''} "
                f"{state} {info['from']}, published by {info['published_by']} at "
                f"{info['published_at']} ({info['source']})"
            )
    for reason in refused:
        typer.echo(f"refused record: {reason}", err=True)


@rules_cli.command("export")
def rules_export() -> None:
    """Print the rules topic's records as JSON lines: the history `livewatch replay
    --rules-history` judges each boundary by, as the workers did."""
    for record in _records(_settings()):
        sys.stdout.write(json.dumps(record) + "\n")


def read_history(path: Path) -> list[dict[str, Any]]:
    """Records of a rules history file (`livewatch rules export`)."""
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError as exc:
                typer.echo(f"error: {path}:{number}: not JSON: {exc}", err=True)
                raise typer.Exit(2) from exc
    return records


def backtest_command(
    events: Annotated[
        str | None, typer.Argument(help="JSONL replay lines ('-': stdin); or --from-topics.")
    ] = None,
    rules: Annotated[Path, typer.Option("--rules", help="The candidate rules file.")] = Path(),
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="The rules to compare with (default: with --from-topics, the live sets the "
            "rules topic recorded; else the configured rules file)."
        ),
    ] = None,
    from_topics: Annotated[
        bool, typer.Option(help="Read the events back from the input topics.")
    ] = False,
    since: Annotated[str, typer.Option(help="With --from-topics: how far back (6h, 2d).")] = "1h",
    verdicts: Annotated[
        Path | None,
        typer.Option(
            help="Analysts' verdicts (JSON lines of verdict records) to score the judged "
            "episodes by; with --from-topics, the verdicts topic's."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
    partitions: Partitions = None,
) -> None:
    """Replay recorded events under the candidate and the baseline rules; per rule, the
    episodes of each, those only in one, the change in time to detect, and what becomes of
    the episodes analysts judged (confirmed abuse lost, false alarms saved)."""
    from streams.backtest import backtest, parse_duration
    from streams.cli import load_rules_or_exit, open_input
    from streams.core.rulebook import RuleBook
    from streams.replay import Line, read_jsonl
    from streams.worker.gc_tuning import tune_gc

    settings = _settings()
    tune_gc(settings.gc_gen0_threshold)
    if (events is None) == (not from_topics):
        typer.echo("error: give an EVENTS file or --from-topics (one of them)", err=True)
        raise typer.Exit(2)
    if rules == Path():
        typer.echo("error: --rules CANDIDATE is required", err=True)
        raise typer.Exit(2)
    if partitions is not None:
        if from_topics:
            typer.echo("error: --partitions is for a file; the topics give their own", err=True)
            raise typer.Exit(2)
        settings = settings.model_copy(update={"partitions": partitions})
    candidate = RuleBook(load_rules_or_exit(rules))
    lines: list[Line]
    unread = 0

    def skip(line: int, reason: str) -> None:
        typer.echo(f"line {line}: skipped: {reason}", err=True)

    def not_a_line(line: int, reason: str) -> None:
        nonlocal unread
        unread += 1
        skip(line, reason)

    if from_topics:
        from streams.cli import settle_layout_or_exit
        from streams.topic_history import read_since

        try:
            seconds = parse_duration(since)
        except ValueError as exc:
            typer.echo(f"error: --since: {exc}", err=True)
            raise typer.Exit(2) from exc
        settings = settle_layout_or_exit(settings, log=False)  # the partitions to read
        began = time.monotonic()
        lines = asyncio.run(read_since(settings, seconds))
        took = time.monotonic() - began
        typer.echo(
            f"read {len(lines)} records from the input topics in {took:.1f} s "
            f"({len(lines) / max(took, 1e-9):,.0f}/s)", err=True,
        )  # fmt: skip
        if baseline is None:
            book, _ = _book(settings)
        else:
            book = RuleBook(load_rules_or_exit(baseline))
    else:
        book = RuleBook(load_rules_or_exit(baseline or settings.rules_path))
        assert events is not None
        with open_input(events) as handle:
            lines = list(read_jsonl(handle, not_a_line))
    judged = _verdicts(settings, verdicts, from_topics)
    result = backtest(
        lines, settings, book, candidate, on_error=skip, verdicts=judged, unread=unread
    )
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    _print_backtest(result.to_json())


def _verdicts(settings: Settings, path: Path | None, from_topics: bool) -> dict[str, Judgement]:
    """The latest verdict per alert id: from a file, or the verdicts topic."""
    from schemas.verdict import Verdict
    from streams.verdicts.book import VerdictBook
    from streams.verdicts.topic import parse_all, read_verdicts

    if path is not None:
        lines = [line.encode() for line in path.read_text(encoding="utf-8").splitlines()]
        found, bad = parse_all([line for line in lines if line.strip()], Verdict)
        if bad:
            typer.echo(f"{path}: {bad} lines are not verdict records; skipped", err=True)
    elif from_topics:
        found, _ = asyncio.run(read_verdicts(settings))
    else:
        return {}
    book = VerdictBook()
    for verdict in found:
        book.add(verdict)
    return {alert_id: v.verdict for alert_id, v in book.latest.items()}


def _print_backtest(found: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from streams.backtest import JUDGED

    table = Table(title=f"backtest: {found['events']} events ({found['skipped']} skipped)")
    # Short headings: the table fits 80 columns.
    for column in ("rule", "base", "cand", "both", "-base", "+cand", "TTD Δ", "sooner", "later"):
        table.add_column(column, justify="left" if column == "rule" else "right", no_wrap=True)
    for rule, row in found["rules"].items():
        change = row["median_detect_change_s"]
        table.add_row(
            rule, str(row["baseline"]), str(row["candidate"]), str(row["both"]),
            str(row["only_baseline"]), str(row["only_candidate"]),
            "-" if change is None else f"{change / 60:+.1f} min",
            str(row["detected_earlier"]), str(row["detected_later"]),
        )  # fmt: skip
    console = Console()
    console.width = max(console.width, 104)  # the table whole, not squeezed into 80
    console.print(table)
    judged = {rule: {k: row[k] for k in JUDGED if row[k]} for rule, row in found["rules"].items()}
    for rule, counts in judged.items():
        if counts:
            said = ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in counts.items())
            console.print(f"judged {rule}: {said}")
    console.print(
        "base/cand: episodes under each; -base: only the baseline's (gone with the candidate); "
        "+cand: only the candidate's (new); TTD Δ: median change in time to detect of the "
        "episodes in both (sooner, later: how many)."
    )
