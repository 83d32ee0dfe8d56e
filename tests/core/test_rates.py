"""Wilson lower bound, Beta smoothing and the Poisson tail."""

from __future__ import annotations

import math

import pytest

from streams.core.rates import poisson_tail, smoothed_rate, wilson_lower_bound


class TestWilsonLowerBound:
    @pytest.mark.parametrize(
        ("successes", "trials", "expected"),
        [
            (0, 0, 0.0),  # no evidence at all
            (2, 2, 0.3424),  # two of two is weak evidence, not 100%
            (0, 10, 0.0),
            (50, 100, 0.4038),
            (85, 100, 0.7672),
            (170, 200, 0.7939),  # the same rate with more orders is surer
        ],
    )
    def test_known_values(self, successes: int, trials: int, expected: float) -> None:
        """Matches the textbook Wilson score lower bound at z = 1.96 to four places."""
        assert wilson_lower_bound(successes, trials) == pytest.approx(expected, abs=5e-5)

    def test_never_above_the_raw_rate(self) -> None:
        """The bound is conservative for every count."""
        for n in range(1, 60):
            for k in range(n + 1):
                assert wilson_lower_bound(k, n) <= k / n + 1e-12

    def test_successes_above_trials_are_capped(self) -> None:
        """More refunds than orders (a data glitch) reads as 100%, not more."""
        assert wilson_lower_bound(12, 10) == wilson_lower_bound(10, 10)


def test_smoothed_rate_falls_back_to_prior_without_history() -> None:
    """A new anchor gets its category's rate; a long history dominates the prior."""
    assert smoothed_rate(0, 0, 0.4, 200) == pytest.approx(0.4)
    assert smoothed_rate(1000, 10_000, 0.4, 200) == pytest.approx((1000 + 80) / 10_200)


def test_poisson_tail_matches_the_distribution() -> None:
    # P(X >= 2) for a mean of 1: 1 - e^-1 (1 + 1)
    assert poisson_tail(2, 1.0) == pytest.approx(1 - 2 * math.exp(-1))
    assert poisson_tail(8, 1.0) == pytest.approx(1.0249e-5, rel=1e-3)
    assert poisson_tail(0, 3.0) == 1.0  # at least none: always
    assert poisson_tail(1, 0.0) == 0.0  # nothing expected, nothing comes


def test_poisson_tail_falls_with_the_count_and_rises_with_the_mean() -> None:
    tails = [poisson_tail(k, 0.5) for k in range(1, 9)]
    assert tails == sorted(tails, reverse=True)
    assert poisson_tail(6, 0.2) < poisson_tail(6, 0.4) < poisson_tail(6, 0.8)
