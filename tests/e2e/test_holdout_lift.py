"""The sample wedding timeline end to end with a 20% holdout: 150 brides sign up over HTTP,
the scheduler sends the treatment group's welcome emails and holds the holdout's, treatment
brides order thank-you cards more often by construction, and the lift report says so with
the numbers computed here independently."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.analytics.history import hold_out
from tests.analytics.reference import expected_lift
from tests.factories import FakeClock, event, make_settings, running_app

REPO = Path(__file__).parents[2]
JOURNEY = "bride-wedding-timeline"
BRIDES = 150
HOLDOUT_EVERY = 5  # every fifth bride is held out: 20%


def _revenue(index: int, held: bool) -> float | None:
    """What bride `index` spends on thank-you cards, or None when she never orders: two in
    five of the treatment group, one in five of the holdout."""
    place = index // HOLDOUT_EVERY if held else index - index // HOLDOUT_EVERY - 1
    rank = place % 5  # her place within her own group, in fives
    if rank >= (1 if held else 2):
        return None
    return 40.0 + 10 * (index % 4)


async def test_lift_of_the_wedding_timeline_with_a_holdout(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    journeys = tmp_path / "journeys"
    journeys.mkdir()
    shutil.copy(REPO / "journeys" / f"{JOURNEY}.yaml", journeys)
    settings = make_settings(
        database_url, tmp_path, journeys_dir=journeys, content_dir=REPO / "content"
    )
    emails = [f"bride{i}@example.com" for i in range(BRIDES)]
    held = {i for i in range(BRIDES) if i % HOLDOUT_EVERY == 0}
    async with running_app(settings, clock) as harness:
        signups = [
            event(
                "web.form_submitted",
                email=email,
                properties={"form": "wedding-signup"},
                attributes={"first_name": f"Bride {i}", "wedding_date": "2027-09-18"},
            )
            for i, email in enumerate(emails)
        ]
        assert (await harness.post_events(*signups)).status_code == 200
        runtime = harness.app.state.runtime
        for i in sorted(held):
            contact = await harness.contact(emails[i])
            hold_out(runtime, contact_id=contact["id"], journey_id=JOURNEY)
        report = await harness.run_scheduler()
        assert report.sent == BRIDES - len(held)
        clock.advance(days=1)
        orders = [
            event(
                "order.completed",
                email=emails[i],
                properties={"categories": ["thank-you-cards"], "revenue": revenue},
            )
            for i in range(BRIDES)
            if (revenue := _revenue(i, i in held)) is not None
        ]
        assert (await harness.post_events(*orders)).status_code == 200
        lift = (await harness.client.get(f"/journeys/{JOURNEY}/analytics/lift")).json()
        messages = (await harness.client.get(f"/journeys/{JOURNEY}/analytics/messages")).json()
        outbox = [json.loads(line)["to"] for line in harness.outbox_lines()]

    # Nothing of the holdout reached the channel; their welcomes are recorded as held.
    assert sorted(outbox) == sorted(emails[i] for i in range(BRIDES) if i not in held)
    welcome = next(m for m in messages if m["stage"] == "welcome")
    assert (welcome["sent"], welcome["held"]) == (120, 30)

    treatment = [_revenue(i, False) for i in range(BRIDES) if i not in held]
    holdout = [_revenue(i, True) for i in sorted(held)]
    assert (sum(v is not None for v in treatment), sum(v is not None for v in holdout)) == (48, 6)
    expected = expected_lift(treatment, holdout)
    assert lift["insufficient_data"] is False
    assert lift["treatment"] == {
        "contacts": 120,
        "conversions": 48,
        "conversion_rate": 0.4,
        "revenue": sum(v or 0 for v in treatment),
        "revenue_per_contact": pytest.approx(sum(v or 0 for v in treatment) / 120),
    }
    assert lift["holdout"] == {
        "contacts": 30,
        "conversions": 6,
        "conversion_rate": 0.2,
        "revenue": sum(v or 0 for v in holdout),
        "revenue_per_contact": pytest.approx(sum(v or 0 for v in holdout) / 30),
    }
    conversion = lift["conversion_rate_lift"]
    assert conversion["difference"] == pytest.approx(expected.difference) == pytest.approx(0.2)
    assert conversion["low"] == pytest.approx(expected.low)
    assert conversion["high"] == pytest.approx(expected.high)
    assert conversion["p_value"] == pytest.approx(expected.p_value)
    assert conversion["relative"] == pytest.approx(1.0)  # twice the holdout's rate
    revenue = lift["revenue_per_contact_lift"]
    assert revenue["difference"] == pytest.approx(expected.revenue_difference)
    assert revenue["low"] == pytest.approx(expected.revenue_low)
    assert revenue["high"] == pytest.approx(expected.revenue_high)
    assert revenue["p_value"] == pytest.approx(expected.revenue_p_value, abs=1e-9)
    assert expected.low > 0 and expected.revenue_low > 0  # the journey works, by construction
