"""What recording a verdict on the board needs beyond the token: who judged, and proof that
the form was the board's own (a page elsewhere cannot post it with the analyst's login)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from urllib.parse import urlsplit

NOBODY = "board"
"""Who is recorded when the request names no one (no token, no proxy header)."""


class Csrf:
    """Synchronizer tokens: an HMAC of the user under a key of the board's (its token, so a
    page loaded before a restart still posts; a random key without one)."""

    def __init__(self, secret: str | None) -> None:
        self.key = secret.encode() if secret else secrets.token_bytes(32)

    def token(self, user: str) -> str:
        return hmac.new(self.key, b"csrf\x1f" + user.encode(), hashlib.sha256).hexdigest()

    def check(self, user: str, given: str) -> bool:
        return hmac.compare_digest(self.token(user), given)


def judge_of(headers: Mapping[str, str], user_header: str | None) -> str:
    """The proxy's user header when one is configured and present, else the basic-auth user
    name, else `NOBODY`."""
    if user_header:
        named = headers.get(user_header, "").strip()
        if named:
            return named[:128]
    scheme, _, given = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(given.strip(), validate=True).partition(b":")[0]
        except (binascii.Error, ValueError):
            return NOBODY
        name = user.decode(errors="replace").strip()
        return name[:128] or NOBODY
    return NOBODY


def same_origin(headers: Mapping[str, str]) -> bool:
    """What a browser says of where the request comes from agrees with the board: its fetch
    metadata (`Sec-Fetch-Site`), else its `Origin` (which the board's no-referrer policy
    turns into `null` on a form post: that one proves nothing either way, and the CSRF token
    decides)."""
    site = headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = headers.get("Origin")
    if origin is None or origin == "null":
        return True
    return urlsplit(origin).netloc == headers.get("Host", "")
