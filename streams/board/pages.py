"""The board's HTML, rendered on the server by Jinja2 with autoescaping on for every template.

Anchor and session ids come from producers: they reach the page only through `{{ }}`, which
escapes them, and through `urlencode` in links. The page's script only swaps in HTML rendered
here, so there is no second place where escaping could be forgotten.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jinja2 import ChainableUndefined, Environment, PackageLoader

from streams.board.ledger import Episode


def when(value: datetime | str | None) -> str:
    """A time in UTC to the second (ISO strings from the workers' API too)."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            return when(datetime.fromisoformat(value))
        except ValueError:
            return value
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def crossed(e: Episode) -> list[tuple[str, float, float]]:
    """The figures the rule compared with a threshold: those with a threshold of the same name,
    and for the refund rule's early path its early refunds against factor x expected."""
    found = [(k, v, e.threshold[k]) for k, v in e.observed.items() if k in e.threshold]
    early = e.observed.get("early_refunds_lower_bound")
    if early is not None and "early_factor" in e.threshold:
        bar = e.threshold["early_factor"] * e.observed.get("early_refunds_expected", 0.0)
        found.insert(0, ("early_refunds_lower_bound", early, round(bar, 2)))
    return found


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("streams.board", "templates"),
        autoescape=True,
        # A field a worker's answer lacks shows as nothing, not as an error page.
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, duration=duration, pct=pct, num=num, crossed=crossed)
    return env


class Pages:
    def __init__(self) -> None:
        self.env = environment()

    def render(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(**context)
