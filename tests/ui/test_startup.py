"""Building the app does the dashboard's first-visit work: the first operator to open a page
waits for its figures, not for templates to compile or routes to be worked out."""

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
