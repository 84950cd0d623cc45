"""The dashboard keeps a page's figures for a minute, says since when, and recomputes them
after."""

from __future__ import annotations

from tests.factories import Harness, signup
from tests.ui.history import figure, part


async def test_figures_are_kept_for_a_minute_and_say_as_of_when(harness: Harness) -> None:
    assert (await harness.post_events(signup("ann@example.com"))).status_code == 200
    for path, within in [("/ui/journeys/wedding-story", "summary"), ("/ui/journeys", "journeys")]:
        row = {"row": "wedding-story"} if within == "journeys" else {}
        first = await harness.client.get(path)
        assert figure(first, "entered", within=within, **row) == "1"
        assert "Figures as of 15:00 UTC" in part(first, "as-of")
    assert (await harness.post_events(signup("bea@example.com"))).status_code == 200
    harness.clock.advance(seconds=59)
    kept = await harness.client.get("/ui/journeys/wedding-story")
    assert figure(kept, "entered", within="summary") == "1"  # as of 15:00, a minute not gone
    listed = await harness.client.get("/ui/journeys")
    assert figure(listed, "entered", within="journeys", row="wedding-story") == "1"
    harness.clock.advance(seconds=2)
    fresh = await harness.client.get("/ui/journeys/wedding-story")
    assert figure(fresh, "entered", within="summary") == "2"
    assert "Figures as of 15:01 UTC" in part(fresh, "as-of")
