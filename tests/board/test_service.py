"""The board's HTTP side without Kafka: its ledger is fed directly and its worker URL answers
nothing (the pages with live workers, Kafka and a browser are in tests/e2e/test_board.py)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from streams.board.pages import Pages
from streams.board.service import Board, web_app
from streams.board.workers import Workers
from streams.devtools.kafka_local import free_port
from streams.settings import Settings
from tests.board.alerts import alert

HOSTILE = '<script>alert("x")</script>'
TOKEN = "board-token-1"


@pytest.fixture
async def board_url() -> AsyncIterator[str]:
    nobody = f"http://127.0.0.1:{free_port()}"
    settings = Settings(board_token=SecretStr(TOKEN), board_workers=nobody)
    board = Board(settings)
    board.ledger.apply(alert(0, anchor_id=HOSTILE, session_id="<b>s</b>"))
    quality = {"quality_complaints": 12}
    board.ledger.apply(alert(5, alert_id="other", anchor_id="calm", rule="quality_complaints",
                             observed=quality, threshold={"quality_complaints": 8}))  # fmt: skip
    board.shadow.apply(alert(5, alert_id="shadow-1", anchor_id="calm", shadow=True,
                             rules_version=2))  # fmt: skip
    async with aiohttp.ClientSession() as session:
        runner = web.AppRunner(web_app(board, Workers([nobody], session, 1.0), Pages()))
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()


BEARER = {"Authorization": f"Bearer {TOKEN}"}


def basic(user: str) -> dict[str, str]:
    """What a browser sends for the board's login (any user name, the token as password)."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{TOKEN}".encode()).decode()}


async def test_every_page_but_the_probes_needs_the_token(board_url: str) -> None:
    basic = base64.b64encode(f"analyst:{TOKEN}".encode()).decode()
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/api/episodes", "/anchor?id=calm", "/static/board.js", "/metrics"):
            async with http.get(board_url + path) as resp:
                assert resp.status == 401, path
                assert resp.headers["WWW-Authenticate"].startswith("Basic")
            async with http.get(board_url + path, headers={"Authorization": "Bearer nope"}) as r:
                assert r.status == 401, path
        for path in ("/livez", "/readyz"):
            async with http.get(board_url + path) as resp:
                assert resp.status in (200, 503), path
        async with http.get(board_url + "/", headers=BEARER) as resp:
            assert resp.status == 200
        async with http.get(board_url + "/", headers={"Authorization": f"Basic {basic}"}) as r:
            assert r.status == 200
        async with http.get(board_url + "/metrics", headers=BEARER) as resp:
            assert "livewatch_board_requests_refused_total 10.0" in await resp.text()


async def test_ids_are_escaped_and_scripts_only_come_from_the_board(board_url: str) -> None:
    async with aiohttp.ClientSession(headers=BEARER) as http:
        async with http.get(board_url + "/") as resp:
            page = await resp.text()
            csp = resp.headers["Content-Security-Policy"]
        async with http.get(board_url + "/anchor", params={"id": HOSTILE}) as resp:
            anchor_page = await resp.text()
        async with http.get(board_url + "/fragments/overview") as resp:
            fragment = await resp.text()
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    for html in (page, anchor_page, fragment):
        assert HOSTILE not in html and "<b>s</b>" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert page.count("<script") == 1  # the board's own, from /static
    # Links carry the id URL-encoded.
    assert "/anchor?id=%3Cscript%3Ealert%28%22x%22%29%3C%2Fscript%3E" in page
    assert "Episodes" in anchor_page and "no worker answered" in anchor_page


async def test_the_workers_anchor_path_leads_to_the_anchor_page(board_url: str) -> None:
    async with aiohttp.ClientSession(headers=BEARER) as http:
        url = board_url + "/anchors/%3Cscript%3Ealert(%22x%22)%3C%2Fscript%3E"
        async with http.get(url, allow_redirects=False) as resp:
            assert resp.status == 302
            assert resp.headers["Location"] == (
                "/anchor?id=%3Cscript%3Ealert(%22x%22)%3C/script%3E"
            )


async def test_filters_narrow_the_episodes_and_bad_ones_are_refused(board_url: str) -> None:
    async with aiohttp.ClientSession(headers=BEARER) as http:
        async with http.get(board_url + "/api/episodes?rule=quality_complaints") as resp:
            episodes = (await resp.json())["episodes"]
        async with http.get(board_url + "/?severity=loud") as resp:
            assert resp.status == 400
            assert "unknown severity" in await resp.text()
        async with http.get(board_url + "/anchor") as resp:
            assert resp.status == 400
        async with http.get(board_url + "/") as resp:
            assert "did not answer" in await resp.text()  # the worker is named, not hidden
    assert [(e["anchor_id"], e["observed"]) for e in episodes] == [
        ("calm", {"quality_complaints": 12})
    ]


async def test_a_shadow_episode_is_shown_apart_and_never_as_active(board_url: str) -> None:
    """A shadow rule set's episode is on its anchor's page under its own heading, marked with
    its rule set, and not among the active alerts of the overview."""
    async with aiohttp.ClientSession(headers=BEARER) as http:
        async with http.get(board_url + "/anchor?id=calm") as resp:
            page = await resp.text()
        async with http.get(board_url + "/") as resp:
            overview = await resp.text()
    shadow = page[page.index("Shadow episodes") :]
    assert 'data-alert-id="shadow-1"' in shadow and "rules v2" in shadow
    assert 'data-alert-id="shadow-1"' not in page[: page.index("Shadow episodes")]
    assert "shadow-1" not in overview and "other" in overview


async def test_an_episode_page_offers_the_verdict_form(board_url: str) -> None:
    """The episode's page shows it unjudged with the three choices, a CSRF token and the
    judge's name (the basic-auth user); the review queue lists it."""
    async with aiohttp.ClientSession(headers=basic("alice")) as http:
        async with http.get(board_url + "/episode?id=other") as resp:
            assert resp.status == 200
            page = await resp.text()
        async with http.get(board_url + "/review") as resp:
            review = await resp.text()
        async with http.get(board_url + "/episode?id=nope") as resp:
            assert resp.status == 404
    assert 'data-verdict=""' in page and 'name="csrf"' in page and "Record as alice" in page
    for choice in ("confirmed", "false_alarm", "unsure"):
        assert f'value="{choice}"' in page
    assert 'data-alert-id="other"' in review


async def test_a_post_without_the_boards_token_or_from_elsewhere_is_refused(
    board_url: str,
) -> None:
    """A form posted with a wrong CSRF token, or from another origin, records nothing (403,
    before anything is sent)."""
    async with aiohttp.ClientSession(headers=basic("alice")) as http:
        async with http.get(board_url + "/episode?id=other") as resp:
            page = await resp.text()
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        form = {"alert_id": "other", "verdict": "confirmed", "csrf": "0" * 64}
        async with http.post(board_url + "/episode/verdict", data=form) as resp:
            assert resp.status == 403
        elsewhere = {"Origin": "https://evil.example"}
        async with http.post(board_url + "/episode/verdict", data={**form, "csrf": csrf},
                             headers=elsewhere) as resp:  # fmt: skip
            assert resp.status == 403
    async with (
        aiohttp.ClientSession(headers=basic("mallory")) as http,
        http.post(board_url + "/episode/verdict", data={**form, "csrf": csrf}) as resp,
    ):
        assert resp.status == 403  # alice's token is not mallory's
