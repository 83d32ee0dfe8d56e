"""Who judged, and whether a verdict form came from the board itself."""

from __future__ import annotations

import base64

import pytest

from streams.board.judging import NOBODY, Csrf, judge_of, same_origin


def basic(user: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:secret".encode()).decode()


@pytest.mark.parametrize(
    ("headers", "user_header", "judge"),
    [
        ({"Authorization": basic("alice")}, None, "alice"),  # the browser's login
        ({"Authorization": "Bearer t"}, None, NOBODY),  # a token names no one
        ({"Authorization": basic("alice"), "X-User": "bob"}, "X-User", "bob"),  # the proxy's
        ({"Authorization": basic("alice"), "X-User": "bob"}, None, "alice"),  # not trusted
        ({"Authorization": basic("alice")}, "X-User", "alice"),  # the proxy said nothing
        ({"Authorization": "Basic !!!"}, None, NOBODY),  # not base64
    ],
)
def test_judge(headers: dict[str, str], user_header: str | None, judge: str) -> None:
    """The proxy's header only when configured, then the basic-auth user."""
    assert judge_of(headers, user_header) == judge


@pytest.mark.parametrize(
    ("headers", "ok"),
    [
        ({"Sec-Fetch-Site": "same-origin", "Origin": "null"}, True),  # Chromium's form post
        ({"Sec-Fetch-Site": "cross-site"}, False),  # a page elsewhere
        ({"Origin": "http://board:8080", "Host": "board:8080"}, True),
        ({"Origin": "https://evil.example", "Host": "board:8080"}, False),
        ({}, True),  # a script (the CSRF token still decides)
    ],
)
def test_same_origin(headers: dict[str, str], ok: bool) -> None:
    assert same_origin(headers) is ok


def test_csrf_tokens_are_per_user_and_per_key() -> None:
    """A token is good for its user under the board's key only."""
    board, other = Csrf("k1"), Csrf("k2")
    token = board.token("alice")
    assert board.check("alice", token)
    assert not board.check("bob", token)
    assert not other.check("alice", token)
    assert Csrf("k1").check("alice", token)  # a restarted board with the same token
