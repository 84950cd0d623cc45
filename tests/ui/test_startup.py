"""Building the app does the dashboard's first-visit work: the first operator to open a page
waits for its figures, not for templates to compile, routes to be worked out or the figures'
SQL to be built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi.routing
import pytest

from service.ui import pages
from tests.factories import FakeClock, make_settings, running_app
from tests.ui.history import build

PAGES_OK = ("/ui/journeys", "/ui/journeys/wedding-story", "/ui/contacts", "/ui/preview")


async def test_no_template_is_compiled_on_a_request(
    database_url: str, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages.environment.cache.clear()  # type: ignore[union-attr]
    async with running_app(make_settings(database_url, tmp_path), clock) as harness:
        history = await build(harness)

        def refuse(*_args: Any) -> None:
            raise AssertionError("a template was read while answering a request")

        monkeypatch.setattr(pages.environment.loader, "get_source", refuse)
        ava = history.ids["ava"]
        for path in (
            *PAGES_OK,
            f"/ui/contacts/{ava}",
            f"/ui/contacts/{ava}/messages/{history.ava_welcome}",
        ):
            page = await harness.client.get(path)
            assert page.status_code == 200, (path, page.text)
        missing = await harness.client.get("/ui/journeys/no-such-journey")
        assert missing.status_code == 404 and "Not found" in missing.text


async def test_no_dashboard_route_is_worked_out_on_a_request(
    database_url: str, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    analysed: list[str] = []
    original = fastapi.routing.get_dependant

    def counting(*args: Any, **kwargs: Any) -> Any:
        call = kwargs.get("call")
        analysed.append(f"{getattr(call, '__module__', '')}.{getattr(call, '__name__', '')}")
        return original(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "get_dependant", counting)
    async with running_app(make_settings(database_url, tmp_path), clock) as harness:
        history = await build(harness)
        before = len(analysed)
        for path in (*PAGES_OK, f"/ui/contacts/{history.ids['ava']}"):
            assert (await harness.client.get(path)).status_code == 200, path
        on_requests = [name for name in analysed[before:] if name.startswith("service.ui.")]
        assert on_requests == []


async def _built_on_first_visit(
    database_url: str, tmp_path: Path, clock: FakeClock, *, warm: bool
) -> int:
    async with running_app(
        make_settings(database_url, tmp_path), clock, warm_dashboard=warm
    ) as app:
        await build(app)
        compiled = app.app.state.runtime.db.engine._compiled_cache
        before = len(compiled)
        for path in ("/ui/journeys", "/ui/journeys/wedding-story"):
            assert (await app.client.get(path)).status_code == 200, path
        return len(compiled) - before


async def test_serve_builds_the_figures_sql_before_the_first_visit(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    # The second run finds the first's history already there: its events are duplicates.
    cold = await _built_on_first_visit(database_url, tmp_path, clock, warm=False)
    warm = await _built_on_first_visit(database_url, tmp_path, clock, warm=True)
    assert cold >= 5  # the control: each figure's statements, built on the visit
    # At most the percentiles' pick of ranks, whose shape follows how many visits there are.
    assert warm <= 1, warm
