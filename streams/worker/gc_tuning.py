"""The garbage collector's settings for a long-running worker, and for the offline replays
(`replay`, `backtest`, `quality`), which run the same core over a whole file.

CPython collects its youngest generation every 700 net allocations of container objects, and
each collection walks every young object. A worker allocates several dicts, lists and tuples
per event (decoded values, table records, tallies), so at Python's default the collector's
cost showed in a profile on whichever lines allocate; collecting every 50,000 allocations made
a worker catching up a fifth faster at the same peak RSS (docs/performance-history.md). The worker's
cycles are few (its state is trees of dicts): collecting less often frees the same memory a
little later, not less of it.
"""

from __future__ import annotations

import gc


def tune_gc(gen0_threshold: int) -> None:
    """Move everything allocated so far (imports, the app) out of the collector's sight and
    collect the youngest generation every `gen0_threshold` allocations (0: Python's default)."""
    if gen0_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)
