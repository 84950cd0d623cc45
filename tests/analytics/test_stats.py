"""The lift statistics against hand computations and published values."""

from __future__ import annotations

import math

import pytest

from service.analytics.figures import Group
from service.analytics.stats import newcombe, t_cdf, t_quantile, welch, wilson


def test_wilson_interval_of_newcombes_example() -> None:
    # Newcombe (1998) table I: 81/263 gives 0.2553 to 0.3662.
    low, high = wilson(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)


def test_newcombe_difference_and_z_test() -> None:
    """Newcombe (1998), example (a): 56/70 against 48/80 gives +0.0524 to +0.3339."""
    found = newcombe(56, 70, 48, 80)
    assert found.estimate == pytest.approx(0.2)
    assert (round(found.low, 4), round(found.high, 4)) == (0.0524, 0.3339)
    pooled = (56 + 48) / 150
    z = 0.2 / math.sqrt(pooled * (1 - pooled) * (1 / 70 + 1 / 80))
    assert found.p_value == pytest.approx(math.erfc(z / math.sqrt(2)))


@pytest.mark.parametrize(
    ("df", "t"),  # published two-sided 95% critical values of Student's t
    [(1, 12.706), (2, 4.303), (5, 2.571), (10, 2.228), (30, 2.042), (120, 1.980)],
)
def test_t_quantile_matches_the_table(df: int, t: float) -> None:
    assert round(t_quantile(0.975, df), 3) == t
    assert t_cdf(t_quantile(0.975, df), df) == pytest.approx(0.975, abs=1e-12)


def test_welch_interval_by_hand() -> None:
    # Treatment: 40 contacts, 20 spent 10 and 20 nothing; holdout: 30, 6 spent 10.
    treatment = Group(contacts=40, conversions=20, revenue=200.0, revenue_squares=2000.0)
    holdout = Group(contacts=30, conversions=6, revenue=60.0, revenue_squares=600.0)
    v1 = (2000 - 40 * 5.0**2) / 39 / 40  # s1^2 / n1
    v2 = (600 - 30 * 2.0**2) / 29 / 30
    df = (v1 + v2) ** 2 / (v1**2 / 39 + v2**2 / 29)
    half = t_quantile(0.975, df) * math.sqrt(v1 + v2)
    found = welch(treatment, holdout)
    assert found.estimate == pytest.approx(3.0)
    assert (found.low, found.high) == (pytest.approx(3.0 - half), pytest.approx(3.0 + half))
    assert 66 < df < 68 and 1.99 < t_quantile(0.975, df) < 2.0
    assert found.p_value == pytest.approx(2 * (1 - t_cdf(3.0 / math.sqrt(v1 + v2), df)))
    assert found.p_value < 0.05
