"""GET /journeys/{id}/analytics/lift over a shop history built through the API, checked
against a hand computation written out here: Wilson's intervals and Newcombe's difference,
the pooled z-test, and Welch's interval for revenue per contact."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.analytics.history import hold_out, shop_app
from tests.analytics.reference import t_975, t_cdf
from tests.factories import FakeClock, event

TREATED, HELD = 40, 30


def _signup(name: str) -> dict[str, object]:
    return event("web.form_submitted", email=f"{name}@example.com", properties={"form": "shop"})


def _order(name: str, total: int) -> dict[str, object]:
    return event("order.completed", email=f"{name}@example.com", properties={"total": total})


async def test_lift_matches_a_hand_computation(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    treated = [f"t{i}" for i in range(TREATED)]
    held = [f"h{i}" for i in range(HELD)]
    async with shop_app(database_url, tmp_path, clock) as harness:
        assert (await harness.post_events(*map(_signup, treated + held))).status_code == 200
        runtime = harness.app.state.runtime
        for name in held:
            contact = await harness.contact(f"{name}@example.com")
            hold_out(runtime, contact_id=contact["id"], journey_id="shop")
        await harness.run_scheduler()
        clock.advance(seconds=60)
        # Treatment: 20 of 40 order, ten for 30 and ten for 10; holdout: 6 of 30 for 20.
        orders = [_order(n, 30 if i < 10 else 10) for i, n in enumerate(treated[:20])]
        orders += [_order(n, 20) for n in held[:6]]
        assert (await harness.post_events(*orders)).status_code == 200
        answer = await harness.client.get("/journeys/shop/analytics/lift")
        lines = harness.outbox_lines()
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert len(lines) == TREATED  # one welcome each; nothing of the holdout went out

    assert found["insufficient_data"] is False
    assert found["treatment"] == {
        "contacts": 40,
        "conversions": 20,
        "conversion_rate": 0.5,
        "revenue": 400.0,
        "revenue_per_contact": 10.0,
    }
    assert found["holdout"] == {
        "contacts": 30,
        "conversions": 6,
        "conversion_rate": 0.2,
        "revenue": 120.0,  # attributed to their held welcome messages
        "revenue_per_contact": 4.0,
    }

    z = 1.959963984540054
    # Wilson for 20/40: centre (p + z^2/2n) / (1 + z^2/n), half z sqrt(p q/n + z^2/4n^2) / (...)
    c1 = (0.5 + z * z / 80) / (1 + z * z / 40)
    h1 = z * math.sqrt(0.5 * 0.5 / 40 + z * z / 6400) / (1 + z * z / 40)
    l1, u1 = c1 - h1, c1 + h1
    # Wilson for 6/30.
    c2 = (0.2 + z * z / 60) / (1 + z * z / 30)
    h2 = z * math.sqrt(0.2 * 0.8 / 30 + z * z / 3600) / (1 + z * z / 30)
    l2, u2 = c2 - h2, c2 + h2
    assert (round(l1, 4), round(u1, 4), round(l2, 4), round(u2, 4)) == (
        0.3520,
        0.6480,
        0.0951,
        0.3731,
    )
    # Newcombe: 0.3 - sqrt((p1 - l1)^2 + (u2 - p2)^2) to 0.3 + sqrt((u1 - p1)^2 + (p2 - l2)^2).
    low = 0.3 - math.sqrt((0.5 - l1) ** 2 + (u2 - 0.2) ** 2)
    high = 0.3 + math.sqrt((u1 - 0.5) ** 2 + (0.2 - l2) ** 2)
    # The pooled z-test: 26 of 70 converted.
    pooled = 26 / 70
    z_stat = 0.3 / math.sqrt(pooled * (1 - pooled) * (1 / 40 + 1 / 30))
    p_value = math.erfc(z_stat / math.sqrt(2))
    assert round(z_stat, 3) == 2.571 and round(p_value, 4) == 0.0101
    conversion = found["conversion_rate_lift"]
    assert conversion["difference"] == pytest.approx(0.3)
    assert conversion["low"] == pytest.approx(low) and conversion["high"] == pytest.approx(high)
    assert conversion["p_value"] == pytest.approx(p_value)
    assert conversion["relative"] == pytest.approx(0.3 / 0.2)
    assert conversion["relative_low"] == pytest.approx(low / 0.2)
    assert conversion["relative_high"] == pytest.approx(high / 0.2)

    # Welch: treatment revenue 10 x 30, 10 x 10, 20 x 0 (mean 10, sum of squares 10,000);
    # holdout 6 x 20, 24 x 0 (mean 4, sum of squares 2,400).
    s1 = (10000 - 40 * 10.0**2) / 39  # sample variances
    s2 = (2400 - 30 * 4.0**2) / 29
    v1, v2 = s1 / 40, s2 / 30
    df = (v1 + v2) ** 2 / (v1**2 / 39 + v2**2 / 29)
    t = t_975(df)
    assert 66.9 < df < 67.0 and 1.99 < t < 2.0
    half = t * math.sqrt(v1 + v2)
    revenue = found["revenue_per_contact_lift"]
    assert revenue["difference"] == pytest.approx(6.0)
    assert revenue["low"] == pytest.approx(6.0 - half)
    assert revenue["high"] == pytest.approx(6.0 + half)
    assert revenue["p_value"] == pytest.approx(2 * (1 - t_cdf(6.0 / math.sqrt(v1 + v2), df)))
