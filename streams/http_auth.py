"""The token every livewatch HTTP server may require: bearer, or a basic-auth password.

Compared in constant time; the health probes stay open (they tell nothing but up or not, and
an orchestrator's probe carries no secret).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping

OPEN_PATHS = frozenset({"/livez", "/readyz"})


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
