"""`nurture report` prints the same figures as the API, from the database the service uses."""

from __future__ import annotations

import io
from pathlib import Path

from service.analytics.terminal import run_report
from tests.analytics.history import build, shop_app
from tests.factories import FakeClock


async def test_report_prints_every_table(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    async with shop_app(database_url, tmp_path, clock) as harness:
        await build(harness)
        settings = harness.settings
        out, err = io.StringIO(), io.StringIO()
        assert (
            run_report(settings, "shop", since=None, until=None, version="1", out=out, err=err) == 0
        )
    text = out.getvalue()
    for title in ("Journey", "Stages", "Messages", "Channels", "Top paths", "Lift against"):
        assert f"\n{title}" in f"\n{text}"
    assert "entered                 7\n" in text
    assert "exited.operator         1\n" in text
    assert "browse > cart > done" in text
    assert "conversion_rate_lift           insufficient_data" in text
    stages = text.split("Stages\n======\n")[1].split("\n\n")[0].splitlines()
    assert stages[1].split()[:2] == ["browse", "8"] and stages[3].split()[:2] == ["never", "0"]


async def test_report_refuses_bad_input(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    async with shop_app(database_url, tmp_path, clock) as harness:
        settings = harness.settings
    for kwargs, message in (
        ({"since": "yesterday"}, "--since"),
        ({"until": "2026-03-02T10:00:00"}, "--until"),
    ):
        err = io.StringIO()
        options = {"since": None, "until": None, "version": None, **kwargs}
        assert run_report(settings, "shop", out=io.StringIO(), err=err, **options) == 2
        assert message in err.getvalue()
    err = io.StringIO()
    assert (
        run_report(
            settings, "nope", since=None, until=None, version=None, out=io.StringIO(), err=err
        )
        == 2
    )
    assert "unknown journey 'nope'" in err.getvalue()
