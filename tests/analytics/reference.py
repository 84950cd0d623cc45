"""The lift statistics computed a second, independent way, for tests to check the service
against: Wilson and Newcombe by their formulas, the z-test from the normal tail, and Welch's
interval with Student's t integrated numerically (Simpson's rule), not by the service's
continued fraction."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

Z = 1.959963984540054  # the 97.5th percentile of the standard normal


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson's score interval of one proportion."""
    p = successes / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return centre - half, centre + half


def t_density(x: float, df: float) -> float:
    """Student's t probability density."""
    scale = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    return scale * (1 + x * x / df) ** (-(df + 1) / 2)


def t_cdf(t: float, df: float, steps: int = 4000) -> float:
    """P(T <= t): one half plus the density integrated from 0 to t by Simpson's rule."""
    h = t / steps
    inner = sum((4 if k % 2 else 2) * t_density(k * h, df) for k in range(1, steps))
    return 0.5 + h / 3 * (t_density(0.0, df) + inner + t_density(t, df))


def t_975(df: float) -> float:
    """The t value with 97.5% below it, by bisection on t_cdf."""
    low, high = 0.0, 50.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if t_cdf(middle, df) < 0.975 else (low, middle)
    return (low + high) / 2


@dataclass(frozen=True)
class Expected:
    """What a lift report should say for two groups given contact by contact."""

    difference: float
    low: float
    high: float
    p_value: float
    revenue_difference: float
    revenue_low: float
    revenue_high: float
    revenue_p_value: float


def expected_lift(treatment: list[float | None], holdout: list[float | None]) -> Expected:
    """Each list holds one entry per contact: the revenue she brought when she converted,
    None when she did not."""
    s1, n1 = sum(v is not None for v in treatment), len(treatment)
    s2, n2 = sum(v is not None for v in holdout), len(holdout)
    p1, p2 = s1 / n1, s2 / n2
    (l1, u1), (l2, u2) = wilson(s1, n1), wilson(s2, n2)
    pooled = (s1 + s2) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    r1 = [v or 0.0 for v in treatment]
    r2 = [v or 0.0 for v in holdout]
    v1, v2 = statistics.variance(r1) / n1, statistics.variance(r2) / n2
    df = (v1 + v2) ** 2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1))
    spread = math.sqrt(v1 + v2)
    gap = statistics.fmean(r1) - statistics.fmean(r2)
    return Expected(
        difference=p1 - p2,
        low=p1 - p2 - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        high=p1 - p2 + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
        p_value=math.erfc(abs(z) / math.sqrt(2)),
        revenue_difference=gap,
        revenue_low=gap - t_975(df) * spread,
        revenue_high=gap + t_975(df) * spread,
        revenue_p_value=2 * (1 - t_cdf(abs(gap) / spread, df)),
    )
