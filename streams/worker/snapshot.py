"""One summary of the live anchor states for every reader that wants all of them.

`/metrics` (the window gauges), `/anchors` (the riskiest) and `/alerts/active` each used to walk
every active anchor per request on the event loop: with 100,000 anchors a scrape, or a flood of
requests (open to anyone when no token is set), stalled the worker's batches. They read this
summary instead, computed in one pass at most once every `max_age_s`, whatever the request rate.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from schemas import AlertStatus
from streams.core.clock import from_ms
from streams.core.evaluate import Windows
from streams.core.rates import wilson_lower_bound
from streams.core.state import AnchorState
from streams.core.windows import figures, totals

RANKING_Z = 1.645
MAX_RISK_ROWS = 100
"""The riskiest anchors a summary keeps (`/anchors?limit=` is capped at it)."""
KINDS = ("orders", "refunds", "complaints")


@dataclass(slots=True)
class StateSummary:
    anchors: int = 0
    window_events: dict[tuple[str, str], int] = field(default_factory=dict)
    """(window size, topic kind) -> events in that window of every anchor."""
    firing: dict[str, int] = field(default_factory=dict)
    """Firing episodes by rule."""
    top: list[AnchorState] = field(default_factory=list)
    """The `MAX_RISK_ROWS` riskiest anchors, riskiest first (see `Summary`)."""
    active_alerts: list[dict[str, Any]] = field(default_factory=list)
    windows: Windows | None = None
    rows: list[dict[str, Any]] | None = None
    """`riskiest`, once read."""

    @property
    def riskiest(self) -> list[dict[str, Any]]:
        """The rows of `top` (see `risk_row`), made on the first read: `/metrics`, scraped far
        more often than `/anchors` is read, needs none of them, and with 1,000 anchors a
        hundred rows were 43% of a summary. Each row reads its anchor as it is then."""
        if self.rows is None:
            windows = self.windows
            self.rows = [] if windows is None else [risk_row(s, windows) for s in self.top]
        return self.rows


def summarize(states: Iterable[AnchorState], windows: Windows) -> StateSummary:
    """The summary of `states`, each at its last evaluated boundary (see `Summary`)."""
    acc = Summary(windows)
    for state in states:
        acc.add(state)
    return acc.result()


class Summary:
    """A summary built one anchor at a time, so the worker can interleave its batches. Anchors
    rank by firing episodes, then by the lower bound of their long window's refund rate (a
    rate on few orders proves little)."""

    def __init__(self, windows: Windows) -> None:
        self.windows = windows
        self.events = {(size, kind): 0 for size in ("short", "long") for kind in KINDS}
        self.firing: dict[str, int] = {}
        self.ranked: list[tuple[tuple[int, float, str], AnchorState]] = []
        self.alerts: list[dict[str, Any]] = []
        self.anchors = 0

    def add(self, state: AnchorState) -> None:
        self.anchors += 1
        on = 0
        for rule, episode in sorted(state.episodes.items()):
            if episode.status != AlertStatus.FIRING:
                continue
            on += 1
            self.firing[rule] = self.firing.get(rule, 0) + 1
            self.alerts.append({"anchor_id": state.anchor_id, "rule": rule,
                                "alert_id": episode.alert_id, "severity": episode.severity,
                                "started": _iso(episode.started_ms)})  # fmt: skip
        if state.evaluated_to_ms is None:
            return
        w = self.windows
        long_counts = (0, 0)
        for size, size_ms in (("short", w.short_ms), ("long", w.long_ms)):
            orders, refunds, complaints = totals(state, state.evaluated_to_ms, size_ms, w.step_ms)
            self.events[(size, "orders")] += orders
            self.events[(size, "refunds")] += refunds
            self.events[(size, "complaints")] += complaints
            long_counts = (orders, refunds)
        bound = wilson_lower_bound(long_counts[1], long_counts[0], RANKING_Z)
        self.ranked.append(((-on, -bound, state.anchor_id), state))

    def result(self) -> StateSummary:
        top = heapq.nsmallest(MAX_RISK_ROWS, self.ranked, key=lambda item: item[0])
        alerts = sorted(self.alerts, key=lambda a: (a["started"] or "", a["anchor_id"]))
        states = [state for _, state in top]
        return StateSummary(self.anchors, self.events, self.firing, states, alerts, self.windows)


def risk_row(state: AnchorState, windows: Windows) -> dict[str, Any]:
    assert state.evaluated_to_ms is not None
    fig = figures(state, state.evaluated_to_ms, windows.long_ms, windows.step_ms, samples=0)
    return {
        "anchor_id": state.anchor_id,
        "category": fig.top_category,
        "orders": fig.orders,
        "refunded_orders": fig.refunds,
        "refund_rate": round(fig.refund_rate, 4),
        "refund_rate_lower_bound": round(wilson_lower_bound(fig.refunds, fig.orders, RANKING_Z), 4),
        "refunded_before_shipment": fig.refunded_unshipped,
        "orders_per_buyer": (
            round(fig.orders / fig.distinct_buyers, 2) if fig.distinct_buyers else None
        ),
        "quality_complaints": fig.quality_complaints,
        "firing": sorted(r for r, e in state.episodes.items() if e.status == AlertStatus.FIRING),
    }


def _iso(ms: int | None) -> str | None:
    return from_ms(ms).isoformat() if ms is not None else None


class Snapshot:
    """The summary of the live states, shared by every reader. `fresh()` recomputes it when it
    is older than `max_age_s`, or than ten times its last computation took (so the walk never
    takes more than about a tenth of the event loop however many anchors there are), yielding
    to the loop every `CHUNK` anchors; concurrent readers wait for the same computation.
    Calling it returns the latest summary without computing (Prometheus' collectors are
    synchronous: `/metrics` awaits `fresh()` first)."""

    CHUNK = 200

    def __init__(
        self,
        states: Callable[[], Iterable[AnchorState]],
        windows: Windows,
        max_age_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.states = states
        self.windows = windows
        self.max_age_s = max_age_s
        self.clock = clock
        self.computed = 0
        """How many summaries were computed (tests, and the benchmark)."""
        self.latest = StateSummary()
        self._taken: float | None = None
        self._took = 0.0
        self._running: asyncio.Future[StateSummary] | None = None

    def __call__(self) -> StateSummary:
        return self.latest

    def stale(self) -> bool:
        return self._taken is None or self.clock() - self._taken >= max(
            self.max_age_s, 10 * self._took
        )

    async def fresh(self) -> StateSummary:
        if not self.stale():
            return self.latest
        if self._running is not None:
            return await asyncio.shield(self._running)
        self._running = asyncio.get_running_loop().create_future()
        try:
            began = self.clock()
            acc = Summary(self.windows)
            for i, state in enumerate(list(self.states())):
                acc.add(state)
                if i % self.CHUNK == self.CHUNK - 1:
                    await asyncio.sleep(0)
            self.latest = acc.result()
            self._taken = self.clock()
            self._took = self._taken - began
            self.computed += 1
            self._running.set_result(self.latest)
            return self.latest
        except BaseException as exc:
            self._running.set_exception(exc)
            self._running.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            self._running = None
