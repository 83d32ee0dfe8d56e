"""Failpoints: places in the worker where a fault test can make it die as a SIGKILL would, at
an exact step rather than at a random moment (FoundationDB and TiKV test the same way).

A random SIGKILL lands in a window a millisecond wide once in many runs; a failpoint lands in
it every run. Armed only by `LIVEWATCH_FAILPOINT=<name>@<n>` in the worker's environment: the
process kills itself at the n-th pass through the failpoint `name`. Unarmed, a failpoint is
None and costs its caller one comparison.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

ENV = "LIVEWATCH_FAILPOINT"

TABLE_APPLY = "table-apply"
"""Each local table write of a batch (see `table_writes`)."""

NAMES = (TABLE_APPLY,)


def failpoint(name: str, environ: dict[str, str] | None = None) -> Callable[[], None] | None:
    """The failpoint `name`, to call at each pass, if the environment arms it; else None."""
    if name not in NAMES:
        raise ValueError(f"unknown failpoint {name!r} (known: {', '.join(NAMES)})")
    spec = (os.environ if environ is None else environ).get(ENV, "")
    armed, _, count = spec.partition("@")
    if armed != name:
        return None
    if not count.isdigit() or int(count) < 1:
        raise ValueError(f"{ENV}={spec!r}: expected {name}@<passes>, a whole number from 1")
    left = int(count)

    def reached() -> None:
        nonlocal left
        left -= 1
        if left == 0:
            os.kill(os.getpid(), signal.SIGKILL)

    return reached
