"""The workers' HTTP APIs as one: the riskiest anchors of all, and any anchor's view.

Each worker ranks only the anchors of its partitions, so the board asks every worker for its
top rows and merges them by the same key. An anchor's pages are asked of any worker: each
routes the request to the worker that owns the anchor (Faust's table routing); the next URL
is tried only when one does not answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp


def rank_key(row: Mapping[str, Any]) -> tuple[int, float, str]:
    """The workers' ranking (`streams.worker.web.riskiest_anchors`): most firing rules first,
    then the highest lower bound of the long window's refund rate, then the anchor id."""
    return (-len(row.get("firing", ())), -float(row.get("refund_rate_lower_bound", 0.0)),
            str(row.get("anchor_id", "")))  # fmt: skip


@dataclass
class Answer:
    """What the workers said, and which of them could not be asked."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)


@dataclass
class AnchorAnswer:
    view: dict[str, Any] | None = None
    minutes: dict[str, Any] | None = None
    error: str | None = None
    """Why there is no view: no worker answered, or none holds the anchor."""


def merge_rankings(answers: Mapping[str, list[dict[str, Any]] | None], limit: int) -> Answer:
    """The workers' top rows (None: that worker did not answer) as one ranking."""
    out = Answer()
    rows: list[dict[str, Any]] = []
    for base, got in answers.items():
        if got is None:
            out.unreachable.append(base)
        else:
            rows.extend(got)
    seen: set[str] = set()
    for row in sorted(rows, key=rank_key):
        # During a rebalance two workers may both still hold an anchor: show it once.
        anchor_id = str(row.get("anchor_id"))
        if anchor_id not in seen and len(out.rows) < limit:
            seen.add(anchor_id)
            out.rows.append(row)
    return out


class Workers:
    def __init__(self, urls: Sequence[str], session: aiohttp.ClientSession,
                 timeout_s: float = 5.0, token: str | None = None) -> None:  # fmt: skip
        self.urls = [u.rstrip("/") for u in urls]
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        """The workers' `LIVEWATCH_API_TOKEN`, when they require one."""

    async def _get(self, url: str) -> tuple[int, Any]:
        async with self.session.get(url, timeout=self.timeout, headers=self.headers) as resp:
            body = await resp.json(content_type=None) if resp.status < 500 else None
            return resp.status, body

    async def riskiest(self, limit: int) -> Answer:
        """The top `limit` anchors over every worker (a worker that fails is named, not fatal)."""

        async def ask(base: str) -> list[dict[str, Any]] | None:
            try:
                status, body = await self._get(f"{base}/anchors?limit={limit}")
            except (aiohttp.ClientError, TimeoutError, ValueError):
                return None
            if status != 200 or not isinstance(body, dict):
                return None
            return [r for r in body.get("anchors", []) if isinstance(r, dict)]

        answers = await asyncio.gather(*(ask(u) for u in self.urls))
        return merge_rankings(dict(zip(self.urls, answers, strict=True)), limit)

    async def _first(self, path: str) -> tuple[int | None, Any]:
        """The first answer of a worker to `path` (any routes an anchor to its owner): its
        status and body, or (None, None) when none answers."""
        for base in self.urls:
            try:
                status, body = await self._get(base + path)
            except (aiohttp.ClientError, TimeoutError, ValueError):
                continue
            if status == 404 or status == 200:
                return status, body
        return None, None

    async def anchor(self, anchor_id: str) -> AnchorAnswer:
        """The anchor's view and its minutes."""
        path = f"/anchors/{quote(anchor_id, safe='')}"
        status, view = await self._first(path)
        if status is None:
            return AnchorAnswer(error="no worker answered")
        if status == 404:
            return AnchorAnswer(error="no worker holds state for this anchor")
        return AnchorAnswer(view, await self.minutes(anchor_id))

    async def minutes(self, anchor_id: str) -> dict[str, Any] | None:
        """The anchor's minutes alone (for its charts), or None."""
        status, body = await self._first(f"/anchors/{quote(anchor_id, safe='')}/minutes")
        return body if status == 200 and isinstance(body, dict) else None
