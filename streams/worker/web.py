"""The worker's HTTP API on Faust's web server: metrics, health and read-only views.

Faust's own `/table` and `/router` pages are off (raw table data; which worker owns what,
outside the token); these views show what an operator or analyst needs instead.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from prometheus_client import CollectorRegistry, generate_latest
from yarl import URL

from streams.core.clock import from_ms, window_buckets
from streams.core.evaluate import Windows, orders_last_day, refund_threshold
from streams.core.rates import wilson_lower_bound
from streams.core.rules import RefundSpikeRule
from streams.core.state import AnchorState
from streams.core.windows import QUALITY_COMPLAINTS, figures, totals
from streams.http_common import EXPOSITION_TYPE, authorized
from streams.placement import owner
from streams.worker.snapshot import MAX_RISK_ROWS, Snapshot


def readiness(app: Any) -> tuple[bool, str]:
    """Ready once the first recovery completed and while no rebalance or recovery runs."""
    if getattr(app, "rebalancing", False):
        return False, "rebalancing"
    if getattr(app, "in_recovery", False):
        return False, "recovering tables"
    recovery = app.tables.recovery
    if not recovery.completed.is_set():
        return False, "waiting for partition assignment and table recovery"
    return True, "ready"


def _iso(ms: int | None) -> str | None:
    return from_ms(ms).isoformat() if ms is not None else None


def anchor_view(state: AnchorState, windows: Windows) -> dict[str, Any]:
    """An anchor's window figures at its last evaluated boundary, and its rule states."""
    end = state.evaluated_to_ms
    view: dict[str, Any] = {
        "anchor_id": state.anchor_id,
        "evaluated_to": _iso(end),
        "topic_times": {k: _iso(v) for k, v in sorted(state.topic_watermarks.items())},
        "windows": {},
        "baseline": {
            "orders": round(state.hist_orders, 2),
            "refunds": round(state.hist_refunds, 2),
            "early_refunds": round(state.hist_early, 2),
        },
        "pending_refunds": sum(state.waiting.values()),
        "rules": {
            rule: {
                "alert_id": e.alert_id,
                "status": e.status,
                "severity": e.severity,
                "started": _iso(e.started_ms),
                "calm_since": _iso(e.calm_since_ms),
                "ended": _iso(e.ended_ms),
            }
            for rule, e in sorted(state.episodes.items())
        },
    }
    if end is not None:
        for name, size in (("short", windows.short_ms), ("long", windows.long_ms)):
            fig = figures(state, end, size, windows.step_ms)
            view["windows"][name] = {
                "start": _iso(fig.start_ms),
                "end": _iso(fig.end_ms),
                "orders": fig.orders,
                "distinct_buyers": fig.distinct_buyers,
                "refunded_orders": fig.refunds,
                "refund_rate": round(fig.refund_rate, 4),
                "refunded_before_shipment": fig.refunded_unshipped,
                "unmatched_refunds": fig.unmatched_refunds,
                "complaints": dict(fig.complaints),
            }
        view["orders_last_24h"] = orders_last_day(state, end)
    return view


def anchor_minutes(state: AnchorState, windows: Windows, rule: RefundSpikeRule) -> dict[str, Any]:
    """An anchor's long window step by step, for a chart: orders; refunds by the step their
    orders were placed in and by the step they were requested in; complaints; and the long
    window's refund rate and its lower bound as they stood at each step's end, against the
    refund rule's threshold now."""
    end = state.evaluated_to_ms
    if end is None:
        return {"anchor_id": state.anchor_id, "evaluated_to": None, "steps": []}
    starts = list(window_buckets(end, windows.long_ms, windows.step_ms))
    requested = dict.fromkeys(starts, 0)
    for bucket in state.buckets.values():
        for step, tally in bucket.refunds.items():
            if step in requested:
                requested[step] += tally.refunds
    steps = []
    for start in starts:
        b = state.buckets.get(start)
        complaints = b.complaints if b is not None else {}
        orders, refunds, _ = totals(state, start + windows.step_ms, windows.long_ms,
                                    windows.step_ms)  # fmt: skip
        steps.append({
            "start": _iso(start),
            "orders": b.orders if b is not None else 0,
            "refunds_by_order_time": b.refunded_before(end) if b is not None else 0,
            "refunds_by_request_time": requested[start] + (b.unmatched_refunds if b else 0),
            "complaints": sum(complaints.values()),
            "quality_complaints": sum(
                n for cat, n in complaints.items() if cat in QUALITY_COMPLAINTS
            ),
            "long_refund_rate": round(refunds / orders, 4) if orders else None,
            "long_refund_rate_lower_bound": (
                round(wilson_lower_bound(refunds, orders, rule.z), 4) if orders else None
            ),
        })  # fmt: skip
    bar = refund_threshold(state, end, windows, rule)
    return {
        "anchor_id": state.anchor_id,
        "evaluated_to": _iso(end),
        "step_s": windows.step_ms // 1000,
        "refund_threshold": round(bar.rate, 4),
        "baseline_refund_rate": round(bar.baseline, 4),
        "steps": steps,
    }


Page = Callable[..., Awaitable[Any]]


def guard(token: str | None) -> Callable[[Page], Page]:
    """A page that answers 401 unless the request carries `token` (no token: every request).
    Outside `table_route`, so a request without it is refused before it is forwarded; a
    forwarded request keeps its headers (Faust's router sends them on)."""

    def wrap(handler: Page) -> Page:
        if token is None:
            return handler

        @functools.wraps(handler)
        async def guarded(web: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            if not authorized(request.headers, token):
                return web.json(
                    {"error": "this endpoint needs LIVEWATCH_API_TOKEN as a bearer token"},
                    status=401, headers={"WWW-Authenticate": 'Bearer realm="livewatch"'},
                )  # fmt: skip
            return await handler(web, request, *args, **kwargs)

        return guarded

    return wrap


ROUTED_HEADER = "X-Livewatch-Routed"
"""Set on a request one worker passes to another: the receiver answers it itself, so two
workers that disagree during a rebalance never pass a request back and forth."""


def owner_url(app: Any, table: str, partition: int) -> str | None:
    """The web URL of the worker that owns `partition` of `table` (Faust's assignment, shared
    by every member at each rebalance); None while no worker does."""
    for url, topics in app.router.table_metadata(table).items():
        if any(partition in partitions for partitions in topics.values()):
            return str(url)
    return None


def _ident(url: URL) -> tuple[str, int]:
    return (url.host or "", int(url.port or 80))


def owner_route(app: Any, table: str, owners: Callable[[str], int]) -> Callable[[Page], Page]:
    """A page about one anchor, answered by the worker that owns the anchor's partition (the
    worker's own ownership function, `placement.owner`); any other worker passes the request
    on, headers (the token) included. Faust's `table_route` hashes the JSON-encoded key, not
    the anchor id, and sent about half the requests of a two-worker group to the wrong one."""

    def wrap(handler: Page) -> Page:
        @functools.wraps(handler)
        async def routed(web: Any, request: Any, anchor_id: str) -> Any:
            if request.headers.get(ROUTED_HEADER):
                return await handler(web, request, anchor_id=anchor_id)
            partition = owners(anchor_id)
            url = owner_url(app, table, partition)
            if url is None:
                return web.json(
                    {"error": f"no worker owns partition {partition} yet (rebalancing)"},
                    status=503,
                )
            if _ident(URL(url)) == _ident(URL(str(app.conf.canonical_url))):
                return await handler(web, request, anchor_id=anchor_id)
            target = URL(url).join(URL(request.rel_url.path_qs.lstrip("/")))
            headers = {**request.headers, ROUTED_HEADER: "1"}
            headers.pop("Host", None)
            async with app.http_client.get(target, headers=headers) as resp:
                body = await resp.read()
                return web.bytes(body, status=resp.status, content_type=resp.content_type)

        return routed

    return wrap


def register(
    app: faust.App,
    registry: CollectorRegistry,
    anchor_table: Any,
    load_state: Callable[[str], AnchorState | None],
    summary: Snapshot,
    windows: Windows,
    ready: Callable[[], tuple[bool, str]],
    refund_rule: Callable[[], RefundSpikeRule],
    token: str | None = None,
    owners: Callable[[str], int] | None = None,
    details: Callable[[], dict[str, Any]] = dict,
) -> None:
    """Add `/metrics`, `/livez`, `/readyz`, `/anchors`, `/anchors/{anchor_id}`,
    `/anchors/{anchor_id}/minutes` and `/alerts/active`; with a `token`, all but the probes
    need it. `owners`: the partition of an anchor (default: `placement.owner` over the app's
    partitions). `details`: more for `/readyz` to say (the rule sets in force)."""
    guarded = guard(token)
    partitions = int(app.conf.topic_partitions)
    routed = owner_route(
        app, anchor_table.name, owners or (lambda anchor_id: owner(anchor_id, partitions))
    )

    @app.page("/metrics")
    @guarded
    async def metrics(web: Any, request: Any) -> Any:
        await summary.fresh()  # the state gauges read it
        # aiohttp wants the charset apart from the content type; the body is UTF-8 as declared.
        return web.bytes(generate_latest(registry), content_type=EXPOSITION_TYPE)

    @app.page("/livez")
    async def livez(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        is_ready, reason = ready()
        body = {"ready": is_ready, "reason": reason, **details()}
        return web.json(body, status=200 if is_ready else 503)

    @app.page("/anchors/{anchor_id}")
    @guarded
    @routed
    async def anchor(web: Any, request: Any, anchor_id: str) -> Any:
        state = load_state(anchor_id)
        if state is None:
            return web.json({"error": f"no state for anchor {anchor_id!r}"}, status=404)
        return web.json(anchor_view(state, windows))

    @app.page("/anchors/{anchor_id}/minutes")
    @guarded
    @routed
    async def anchor_series(web: Any, request: Any, anchor_id: str) -> Any:
        state = load_state(anchor_id)
        if state is None:
            return web.json({"error": f"no state for anchor {anchor_id!r}"}, status=404)
        return web.json(anchor_minutes(state, windows, refund_rule()))

    @app.page("/anchors")
    @guarded
    async def riskiest(web: Any, request: Any) -> Any:
        try:
            limit = max(1, min(MAX_RISK_ROWS, int(request.query.get("limit", "10"))))
        except ValueError:
            return web.json({"error": "limit must be a whole number"}, status=400)
        return web.json({"anchors": (await summary.fresh()).riskiest[:limit]})

    @app.page("/alerts/active")
    @guarded
    async def active_alerts(web: Any, request: Any) -> Any:
        return web.json({"alerts": (await summary.fresh()).active_alerts})
