"""What every livewatch HTTP server shares: the token check, the probes, the metrics format.

The token is a bearer token or a basic-auth password, compared in constant time; the health
probes stay open (they tell nothing but up or not, and an orchestrator's probe carries no
secret). The worker's server is Faust's; the notifier's and the board's are plain aiohttp,
which `add_probes` serves.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable, Mapping

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

OPEN_PATHS = frozenset({"/livez", "/readyz"})
EXPOSITION_TYPE = "text/plain; version=0.0.4"
"""Prometheus text format 0.0.4 (prometheus_client's CONTENT_TYPE_LATEST without charset)."""


def authorized(headers: Mapping[str, str], token: str) -> bool:
    """Whether `Authorization` carries `token`: `Bearer <token>`, or basic auth with it as the
    password (any user name; what a browser can send for a page)."""
    expected = token.encode()
    scheme, _, given = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return hmac.compare_digest(given.strip().encode(), expected)
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(given.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(decoded.partition(b":")[2], expected)
    return False


def add_probes(
    app: web.Application, registry: CollectorRegistry, ready: Callable[[], tuple[bool, str]]
) -> None:
    """`/metrics` of `registry`, `/livez`, and `/readyz` answering 503 with the reason until
    `ready()` says so."""

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry),
                            headers={"Content-Type": EXPOSITION_TYPE})  # fmt: skip

    async def livez(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        is_ready, reason = ready()
        return web.json_response({"ready": is_ready, "reason": reason},
                                 status=200 if is_ready else 503)  # fmt: skip

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
