"""Rate estimates that stay sober on small counts."""

from __future__ import annotations

import math


def wilson_lower_bound(successes: int, trials: int, z: float = 1.96) -> float:
    """Lower bound of the Wilson score interval for a proportion; 0 when there are no trials.

    2 refunds of 2 orders gives about 0.34 at z=1.96, not 1.0: small anchors need evidence.
    """
    if trials <= 0:
        return 0.0
    p = min(successes, trials) / trials
    z2 = z * z
    centre = p + z2 / (2 * trials)
    margin = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return max(0.0, (centre - margin) / (1 + z2 / trials))


def poisson_lower_bound(count: int, z: float = 1.96) -> float:
    """One-sided lower bound of a Poisson mean from an observed count (Wilson-Hilferty); 0 for
    none. 8 observed gives about 3.4 at z=2.576: a handful of events proves little."""
    if count <= 0:
        return 0.0
    n = float(count)
    return max(0.0, n * (1 - 1 / (9 * n) - z / (3 * math.sqrt(n))) ** 3)


def smoothed_rate(successes: float, trials: float, prior_rate: float, prior_weight: float) -> float:
    """Beta-smoothed rate: the observed rate pulled toward `prior_rate` by `prior_weight` trials."""
    return (successes + prior_rate * prior_weight) / (trials + prior_weight)


def poisson_tail(count: int, mean: float) -> float:
    """P(X >= count) for X ~ Poisson(mean): how often `count` or more events come by chance."""
    if count <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    term = math.exp(-mean)
    below = term
    for i in range(1, count):
        term *= mean / i
        below += term
    return max(0.0, 1.0 - below)
