"""The statistics of the lift report, in plain Python (no scipy): Wilson and Newcombe
intervals, the two-proportion z-test, Student's t distribution and Welch's interval."""

from __future__ import annotations

import math

from service.analytics.figures import Group, Interval

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal


def normal_two_sided_p(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z."""
    return math.erfc(abs(z) / math.sqrt(2))


def wilson(successes: int, total: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of one proportion."""
    p = successes / total
    z2 = z * z
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / (1 + z2 / total)
    return centre - half, centre + half


def newcombe(s1: int, n1: int, s2: int, n2: int) -> Interval:
    """Difference p1 - p2 with Newcombe's hybrid score interval (method 10) and the pooled
    two-proportion z-test's two-sided p-value."""
    p1, p2 = s1 / n1, s2 / n2
    l1, u1 = wilson(s1, n1)
    l2, u2 = wilson(s2, n2)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    pooled = (s1 + s2) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p_value = normal_two_sided_p(difference / spread) if spread else 1.0
    return Interval(difference, low, high, p_value)


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, m = 1e-300, 1
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return result


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1 - math.exp(log_front) * _beta_fraction(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with df degrees of freedom."""
    tail = 0.5 * regularized_beta(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t value below which a share p of Student's t lies (bisection on the CDF)."""
    low, high = -1e3, 1e3
    for _ in range(200):
        middle = (low + high) / 2
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _variance(group: Group) -> float:
    """The sample variance of revenue per contact, from the sum and the sum of squares."""
    n = group.contacts
    mean = group.revenue / n
    return max(group.revenue_squares - n * mean * mean, 0.0) / (n - 1)


def welch(treatment: Group, holdout: Group) -> Interval:
    """Difference in mean revenue per contact with Welch's t interval and two-sided p-value."""
    n1, n2 = treatment.contacts, holdout.contacts
    difference = treatment.revenue / n1 - holdout.revenue / n2
    v1, v2 = _variance(treatment) / n1, _variance(holdout) / n2
    spread = math.sqrt(v1 + v2)
    if spread == 0:
        return Interval(difference, difference, difference, 1.0 if difference == 0 else 0.0)
    df = (v1 + v2) ** 2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1))
    t = t_quantile(0.975, df)
    p_value = 2 * (1 - t_cdf(abs(difference) / spread, df))
    return Interval(difference, difference - t * spread, difference + t * spread, p_value)
