"""Posting alerts to one or several Alertmanagers (`POST /api/v2/alerts`).

Every Alertmanager of an HA pair is sent every alert (they share notification logs and
silences, not alerts). A batch counts as delivered once one of them accepted it, as Prometheus
counts it; the others get the firing ones again with the next resend. Until one accepts, the
batch is retried with capped exponential backoff and jitter (tenacity), and the notifier's
offsets wait, so nothing is committed that was not delivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter
from yarl import URL

from streams.settings import redacted

log = structlog.get_logger("livewatch.notify")

API_PATH = "/api/v2/alerts"


class Undelivered(Exception):
    """No Alertmanager accepted the batch (down, or answering 5xx): retried."""


class Rejected(Exception):
    """Every reachable Alertmanager refused the batch as invalid (4xx): retrying cannot help."""


class Login:
    """How the notifier proves itself to Alertmanager: basic auth or a bearer token, and the CA
    for https (Alertmanager's `--web.config.file`)."""

    def __init__(
        self,
        username: str | None = None,
        password: str | None = None,
        bearer_token: str | None = None,
        ssl: Any = None,
    ) -> None:
        self.auth = aiohttp.BasicAuth(username, password) if username and password else None
        self.headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else {}
        self.ssl = ssl


class Alertmanagers:
    """The Alertmanagers to post to, with counters for the notifier's metrics. URLs are shown
    (logs, metric labels) without credentials; a password in a URL is used as basic auth."""

    def __init__(
        self,
        urls: Sequence[str],
        session: aiohttp.ClientSession,
        on_result: Callable[[str, str, int], None],
        timeout_s: float = 10.0,
        max_backoff_s: float = 30.0,
        login: Login | None = None,
    ) -> None:
        if not urls:
            raise ValueError("at least one Alertmanager URL is needed")
        self.login = login or Login()
        self.urls = [redacted(u.rstrip("/")) for u in urls]
        self._auth = {redacted(u.rstrip("/")): _url_auth(u) or self.login.auth for u in urls}
        self.session = session
        self.on_result = on_result
        """(url, "sent" | "failed" | "rejected", alerts): counted per Alertmanager."""
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.max_backoff_s = max_backoff_s
        self.retrying = 0
        """Alerts in a batch that is waiting for a retry: the retry backlog."""

    async def post_once(self, alerts: list[dict[str, Any]]) -> None:
        """One attempt at every Alertmanager; raises unless one accepted."""
        results = await asyncio.gather(*(self._post(url, alerts) for url in self.urls))
        if "sent" in results:
            return
        if "failed" in results:
            raise Undelivered(f"no Alertmanager accepted {len(alerts)} alerts")
        raise Rejected(f"every Alertmanager rejected {len(alerts)} alerts")

    async def deliver(self, alerts: list[dict[str, Any]]) -> bool:
        """Post until one Alertmanager accepts (True) or all reject the batch (False, logged:
        a malformed alert must not hold up every later one). Cancellation stops the retries."""
        if not alerts:
            return True
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(Undelivered),
            wait=wait_exponential_jitter(initial=0.5, max=self.max_backoff_s),
            before_sleep=lambda state: self._waiting(len(alerts), state.attempt_number),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self.post_once(alerts)
        except Rejected as exc:
            log.error("alerts_rejected", error=str(exc), alerts=len(alerts))
            return False
        finally:
            self.retrying = 0
        return True

    def _waiting(self, alerts: int, attempt: int) -> None:
        self.retrying = alerts
        log.warning("alertmanager_unreachable", attempt=attempt, alerts=alerts, urls=self.urls)

    async def _post(self, url: str, alerts: list[dict[str, Any]]) -> str:
        try:
            async with self.session.post(
                url + API_PATH, json=alerts, timeout=self.timeout, auth=self._auth[url],
                headers=self.login.headers, ssl=self.login.ssl if self.login.ssl else True,
            ) as resp:  # fmt: skip
                body = await resp.text()
                if resp.status < 300:
                    outcome = "sent"
                elif 400 <= resp.status < 500:
                    outcome = "rejected"
                    log.error("alertmanager_rejected", url=url, status=resp.status, body=body[:500])
                else:
                    outcome = "failed"
        except (aiohttp.ClientError, TimeoutError) as exc:
            outcome = "failed"
            log.debug("alertmanager_post_failed", url=url, error=repr(exc))
        self.on_result(url, outcome, len(alerts))
        return outcome


def _url_auth(url: str) -> aiohttp.BasicAuth | None:
    parsed = URL(url)
    if parsed.user is None:
        return None
    return aiohttp.BasicAuth(parsed.user, parsed.password or "")
