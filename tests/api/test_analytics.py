"""Every analytics endpoint over the known shop history (tests/analytics/history.py): each
figure asserted exactly, the range and version filters, CSV equal to the JSON, and bad input
answered as JSON naming the field."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from service.analytics.report import cell, flatten
from tests.analytics.history import build, shop_app
from tests.factories import FakeClock, Harness

EMAIL = {
    "held": 0,
    "delivered": 0,
    "opened": 0,
    "clicked": 0,
    "bounced": 0,
    "complained": 0,
    "unsubscribed": 0,
    "failed": 0,
}
SUMMARY = {
    "entered": 7,
    "active": 1,  # Gus
    "completed": 1,  # Cat
    "converted": 3,  # Ann, Eve (held out) and Bob (his order is outside the window)
    "exited": {"total": 2, "exit_rule": 1, "operator": 1, "restart": 0, "erasure": 0},
    "conversion_rate": 3 / 7,
    "median_seconds_to_goal": 40.0,  # of 20 (Ann), 40 (Eve), 172800 (Bob)
    "revenue": 50.0,  # Ann's; Bob's is outside the window, Eve's earned a held message
    "revenue_per_contact": 50 / 6,  # over the six treatment contacts
    "messages_sent": 10,
    "revenue_per_message": 5.0,
    "holdout_entered": 1,
}
STAGES = [
    {
        "stage": "browse",
        "entered": 8,  # seven entries and Ann's second visit
        "moved_to": {"(exit)": 2, "(goal)": 2, "cart": 3},
        "still_here": 1,
        "exits_here": 2,
        "median_seconds": 30.0,  # of 3, 10, 10, 30, 40, 50, 172800
        "p90_seconds": 172800.0,
    },
    {
        "stage": "cart",
        "entered": 3,
        "moved_to": {"(goal)": 1, "browse": 1, "done": 1},
        "still_here": 0,
        "exits_here": 0,
        "median_seconds": 5.0,  # of 2, 5, 10
        "p90_seconds": 10.0,
    },
    {
        "stage": "never",
        "entered": 0,
        "moved_to": {},
        "still_here": 0,
        "exits_here": 0,
        "median_seconds": None,
        "p90_seconds": None,
    },
    {
        "stage": "done",
        "entered": 1,
        "moved_to": {"(completed)": 1},
        "still_here": 0,
        "exits_here": 0,
        "median_seconds": None,
        "p90_seconds": None,
    },
]
WELCOME = {
    **EMAIL,
    "queued": 8,
    "sent": 7,
    "held": 1,  # Eve's
    "delivered": 1,  # Bob's: delivered, opened and clicked, each counted
    "opened": 1,
    "clicked": 1,
    "bounced": 1,  # Cat's
    "unsubscribed": 1,  # Dan's
    "open_rate": 1.0,
    "click_rate": 1.0,
    "conversions": 2,  # both of Ann's; Bob's goal is two days after
    "revenue": 0.0,
    "revenue_per_message": 0.0,
}
CART = {
    **EMAIL,
    "queued": 3,
    "sent": 3,
    "open_rate": 0.0,  # no delivery reported: over sent
    "click_rate": 0.0,
    "conversions": 2,
    "revenue": 50.0,  # Ann's order, last touch her second cart email
    "revenue_per_message": 50 / 3,
}
MESSAGES = [
    {"stage": "browse", "template": "story/welcome", "channel": "email", **WELCOME},
    {"stage": "cart", "template": "story/favors", "channel": "email", **CART},
]
CHANNELS = [
    {
        "channel": "email",
        **EMAIL,
        "queued": 11,
        "sent": 10,
        "held": 1,
        "delivered": 1,
        "opened": 1,
        "clicked": 1,
        "bounced": 1,
        "unsubscribed": 1,
        "open_rate": 1.0,
        "click_rate": 1.0,
        "conversions": 4,
        "revenue": 50.0,
        "revenue_per_message": 5.0,
        "contacts_converted": 2,  # Ann and Bob; Eve was sent nothing
    }
]
BROWSE = {
    "path": ["browse"],
    "contacts": 4,  # Bob, Dan, Eve, Fay
    "converted": 2,
    "conversion_rate": 0.5,
    "median_seconds_to_goal": 86420.0,  # of 40 and 172800
    "revenue": 0.0,
}
ANN = {
    "path": ["browse", "cart"],  # her loop collapsed
    "contacts": 1,
    "converted": 1,
    "conversion_rate": 1.0,
    "median_seconds_to_goal": 20.0,
    "revenue": 50.0,
}
CAT = {
    "path": ["browse", "cart", "done"],
    "contacts": 1,
    "converted": 0,
    "conversion_rate": 0.0,
    "median_seconds_to_goal": None,
    "revenue": 0.0,
}
LIFT = {
    "treatment": {
        "contacts": 6,
        "conversions": 2,
        "conversion_rate": 2 / 6,
        "revenue": 50.0,
        "revenue_per_contact": 50 / 6,
    },
    "holdout": {
        "contacts": 1,
        "conversions": 1,
        "conversion_rate": 1.0,
        "revenue": 30.0,  # Eve's order, attributed to her held message
        "revenue_per_contact": 30.0,
    },
    "insufficient_data": True,
    "conversion_rate_lift": "insufficient_data",
    "revenue_per_contact_lift": "insufficient_data",
}
EXPECTED: dict[str, Any] = {
    "": SUMMARY,
    "/stages": STAGES,
    "/messages": MESSAGES,
    "/channels": CHANNELS,
    "/paths": [BROWSE, ANN, CAT],
    "/paths?sort=revenue": [ANN, BROWSE, CAT],
    "/paths?sort=speed": [ANN, BROWSE, CAT],
    "/paths?limit=1": [BROWSE],
    "/lift": LIFT,
}


@pytest.fixture
async def shop(database_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Harness]:
    async with shop_app(database_url, tmp_path, clock) as harness:
        await build(harness)
        yield harness


def rounded(value: Any) -> Any:
    """Floats to nine places, throughout, so computed shares compare with written ones."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


async def test_every_figure_of_every_endpoint(shop: Harness) -> None:
    for path, expected in EXPECTED.items():
        answer = await shop.client.get(f"/journeys/shop/analytics{path}")
        assert answer.status_code == 200, answer.text
        assert rounded(answer.json()) == rounded(expected), path


async def test_csv_has_the_same_rows_as_the_json(shop: Harness) -> None:
    for path in EXPECTED:
        joiner = "&" if "?" in path else "?"
        data = (await shop.client.get(f"/journeys/shop/analytics{path}")).json()
        table = await shop.client.get(f"/journeys/shop/analytics{path}{joiner}format=csv")
        assert table.status_code == 200 and table.headers["content-type"].startswith("text/csv")
        rows = [flatten(r) for r in (data if isinstance(data, list) else [data])]
        read = list(csv.DictReader(io.StringIO(table.text)))
        assert len(read) == len(rows), path
        for row, line in zip(rows, read, strict=True):
            assert line == {name: cell(row.get(name)) for name in line}, path


async def test_range_counts_each_figure_by_its_own_time(shop: Harness) -> None:
    window = {"since": "2026-03-02T15:00:11Z", "until": "2026-03-02T16:00:00+00:00"}
    answer = (await shop.client.get("/journeys/shop/analytics", params=window)).json()
    assert rounded(answer) == {
        "entered": 0,
        "active": 1,  # now, whatever the range
        "completed": 1,
        "converted": 2,  # Ann at 20 s, Eve at 40 s
        "exited": {"total": 2, "exit_rule": 1, "operator": 1, "restart": 0, "erasure": 0},
        "conversion_rate": None,
        "median_seconds_to_goal": 30.0,
        "revenue": 50.0,
        "revenue_per_contact": None,
        "messages_sent": 2,  # Ann's second welcome and second cart email
        "revenue_per_message": 25.0,
        "holdout_entered": 0,
    }
    stages = (await shop.client.get("/journeys/shop/analytics/stages", params=window)).json()
    assert [(s["stage"], s["entered"], s["moved_to"]) for s in stages] == [
        ("browse", 1, {"cart": 1}),
        ("cart", 1, {"(goal)": 1}),
        ("never", 0, {}),
        ("done", 1, {"(completed)": 1}),
    ]


async def test_version_filter(shop: Harness) -> None:
    same = await shop.client.get("/journeys/shop/analytics", params={"version": "1"})
    assert rounded(same.json()) == rounded(SUMMARY)
    missing = await shop.client.get("/journeys/shop/analytics", params={"version": "9"})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=yesterday", "since"),
        ("until=2026-03-02T15:00:00", "until"),  # no offset: not RFC 3339
        ("since=2026-03-03T00:00:00Z&until=2026-03-02T00:00:00Z", "since"),
        ("format=xml", "format"),
    ],
)
async def test_bad_filters_name_the_field(harness: Harness, query: str, field: str) -> None:
    answer = await harness.client.get(f"/journeys/wedding-story/analytics?{query}")
    assert answer.status_code == 422
    assert field in answer.text


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=many", "sort=cheapest"])
async def test_bad_path_options(harness: Harness, query: str) -> None:
    answer = await harness.client.get(f"/journeys/wedding-story/analytics/paths?{query}")
    assert answer.status_code == 422 and query.split("=")[0] in answer.text


@pytest.mark.parametrize("suffix", ["", "/stages", "/messages", "/channels", "/paths", "/lift"])
async def test_unknown_journey(harness: Harness, suffix: str) -> None:
    answer = await harness.client.get(f"/journeys/nope/analytics{suffix}")
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"


async def test_erasure_leaves_every_figure_unchanged(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    async with shop_app(database_url, tmp_path, clock) as harness:
        ids = await build(harness)
        for name in ("ann", "eve"):  # a conversion with revenue, and the held-out contact
            erased = await harness.client.delete(f"/contacts/{ids[name]}")
            assert erased.status_code in (200, 204), erased.text
        for path, expected in EXPECTED.items():
            answer = await harness.client.get(f"/journeys/shop/analytics{path}")
            assert rounded(answer.json()) == rounded(expected), path


async def test_erasing_an_active_contact_counts_as_an_erasure_exit(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    async with shop_app(database_url, tmp_path, clock) as harness:
        ids = await build(harness)
        assert (await harness.client.delete(f"/contacts/{ids['gus']}")).status_code in (200, 204)
        summary = (await harness.client.get("/journeys/shop/analytics")).json()
    exited = {"total": 3, "exit_rule": 1, "operator": 1, "restart": 0, "erasure": 1}
    assert rounded(summary) == rounded({**SUMMARY, "active": 0, "exited": exited})
