"""Live reload: a changed file is a new version for new entries while enrolled contacts finish
on theirs, in the serving process and in every other process on the database; a broken file
changes nothing; a removed file stops new entries only."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from service.catalog.remote import run_reload
from service.runtime import build_runtime
from service.scheduler.loop import Scheduler
from service.store.models import Enrollment, JourneyCatalog, TransitionRecord
from tests.factories import (
    FIXTURES,
    FakeClock,
    Harness,
    event,
    journeys_copy,
    make_settings,
    release_story,
    running_app,
    signup,
    stored,
)

STORY = "wedding-story"
REPO = Path(__file__).parents[2]


def _versions(harness: Harness) -> dict[str, str]:
    runtime = harness.app.state.runtime
    return {e.contact_id: e.version for e in stored(runtime, Enrollment, journey_id=STORY)}


def _moves(runtime: Any, contact_id: str) -> list[tuple[str, str, str]]:
    rows = stored(runtime, TransitionRecord, contact_id=contact_id, journey_id=STORY)
    return [(r.version, r.to_stage, r.trigger) for r in sorted(rows, key=lambda r: r.seq)]


async def _contact_id(harness: Harness, email: str) -> str:
    return str((await harness.contact(email))["id"])


async def test_enrolled_contacts_finish_on_their_version_and_new_ones_enter_the_new_one(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    folder = journeys_copy(tmp_path)
    settings = make_settings(database_url, tmp_path, journeys_dir=folder)
    async with running_app(settings, clock) as app:
        await app.post_events(signup("ava@example.com"))
        release_story(folder, "2", after="1h")
        answer = await app.client.post("/journeys/reload")
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert report["changed"] is True
        assert [(v["journey"], v["version"], v["previous"]) for v in report["new_versions"]] == [
            (STORY, "2", "1")
        ]
        assert sorted(v["journey"] for v in report["unchanged"]) == [
            "promo-after-exit",
            "promo-always",
        ]
        assert report["removed"] == []
        await app.post_events(signup("bea@example.com"))
        ava, bea = (
            await _contact_id(app, "ava@example.com"),
            await _contact_id(app, "bea@example.com"),
        )
        assert _versions(app) == {ava: "1", bea: "2"}
        listed = (await app.client.get(f"/journeys/{STORY}")).json()
        assert listed["version"] == "2"
        assert {v["version"]: v["current"] for v in listed["versions"]} == {"1": False, "2": True}

        clock.advance(seconds=5)
        await app.run_scheduler()
        runtime = app.app.state.runtime
        assert _moves(runtime, ava)[-1] == ("1", "favors", "after:3s")  # the old 3s wait
        assert _moves(runtime, bea)[-1] == ("2", "welcome", "entry:web.form_submitted")
        clock.advance(hours=1)
        await app.run_scheduler()
        assert _moves(runtime, bea)[-1] == ("2", "favors", "after:1h")

        again = (await app.client.post("/journeys/reload")).json()
        assert again["changed"] is False and again["new_versions"] == []
        assert again["generation"] == report["generation"]


async def test_a_broken_file_changes_nothing_and_names_file_and_line(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    folder = journeys_copy(tmp_path)
    settings = make_settings(database_url, tmp_path, journeys_dir=folder)
    async with running_app(settings, clock) as app:
        runtime = app.app.state.runtime
        [before] = stored(runtime, JourneyCatalog)
        release_story(folder, "2", after="3 seconds")
        promo = folder / "promo-always.yaml"
        promo.write_text(promo.read_text().replace("to: done", "to: nowhere"))
        answer = await app.client.post("/journeys/reload")
        assert answer.status_code == 422
        body = answer.json()
        assert body["error"] == "invalid_journeys"
        story = folder / "wedding-story.yaml"
        bad_wait = f"{story}:24: stages.welcome.on.1.after: bad duration '3 seconds'"
        assert any(d.startswith(bad_wait) for d in body["detail"]), body["detail"]
        assert any(
            d.startswith(f"{promo}:11: stage 'looking' moves to unknown") for d in body["detail"]
        )
        assert stored(runtime, JourneyCatalog) == [before]
        await app.post_events(signup())
        assert set(_versions(app).values()) == {"1"}
        out = io.StringIO()
        transport = httpx.ASGITransport(app=app.app, client=("127.0.0.1", 50000))
        code = await _cli_reload(out, transport)
        assert code == 1
        assert f"{story}:24: stages.welcome.on.1.after: bad duration" in out.getvalue()
        assert "nothing reloaded (422 invalid_journeys)" in out.getvalue()


async def _cli_reload(out: io.StringIO, transport: httpx.ASGITransport) -> int:
    """`nurture reload` against the ASGI app (its client is sync, so it runs in a thread)."""
    import asyncio

    class Bridge(httpx.BaseTransport):
        def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
            self.loop = loop

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            async def call() -> httpx.Response:
                response = await transport.handle_async_request(request)
                content = await response.aread()
                return httpx.Response(
                    response.status_code, headers=response.headers, content=content
                )

            return asyncio.run_coroutine_threadsafe(call(), self.loop).result()

    loop = asyncio.get_running_loop()
    return await asyncio.to_thread(
        run_reload, url="http://nurture.test", api_key=None, out=out, transport=Bridge(loop)
    )


async def test_cli_reload_prints_what_changed(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    folder = journeys_copy(tmp_path)
    settings = make_settings(database_url, tmp_path, journeys_dir=folder)
    async with running_app(settings, clock) as app:
        release_story(folder, "2", after="1h")
        (folder / "promo-always.yaml").unlink()
        out = io.StringIO()
        transport = httpx.ASGITransport(app=app.app, client=("127.0.0.1", 50000))
        assert await _cli_reload(out, transport) == 0
        text = out.getvalue()
        assert f"  new version   {STORY}: 1 -> 2" in text
        assert "  unchanged     promo-after-exit:" in text
        assert "  removed       promo-always:" in text
    unreachable = io.StringIO()
    assert run_reload(url="http://127.0.0.1:9", api_key="k", out=unreachable) == 2
    assert "cannot reach the service" in unreachable.getvalue()


async def test_removing_a_file_stops_new_entries_while_enrolled_contacts_finish(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    folder = journeys_copy(tmp_path)
    settings = make_settings(database_url, tmp_path, journeys_dir=folder)
    promo = event("web.page_viewed", properties={"page": "promo"})
    async with running_app(settings, clock) as app:
        await app.post_events(promo)
        (folder / "promo-always.yaml").unlink()
        report = (await app.client.post("/journeys/reload")).json()
        assert [(r["journey"], r["active"]) for r in report["removed"]] == [("promo-always", 1)]
        assert "promo-always" not in [j["id"] for j in (await app.client.get("/journeys")).json()]
        answer = await app.post_events(event("web.page_viewed", properties={"page": "promo"}))
        assert answer.json()["enrolled"] == []
        clock.advance(days=1, seconds=1)
        await app.run_scheduler()
        runtime = app.app.state.runtime
        [only] = stored(runtime, Enrollment, journey_id="promo-always")
        assert (only.stage, only.status) == ("done", "completed")  # finished on its version


async def test_another_process_on_the_database_follows_the_reload(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    folder = journeys_copy(tmp_path)
    settings = make_settings(database_url, tmp_path, journeys_dir=folder, catalog_check_seconds=0)
    async with running_app(settings, clock) as app:
        other = build_runtime(settings, clock)  # a second process: its own registry
        try:
            await app.post_events(signup("ava@example.com"))
            assert other.journeys.current_of(STORY).version == "1"
            release_story(folder, "2", after="1h")
            assert (await app.client.post("/journeys/reload")).status_code == 200
            await app.post_events(signup("bea@example.com"))
            clock.advance(seconds=5)
            await Scheduler(other).run_once(clock.now())
            assert other.journeys.current_of(STORY).version == "2"  # no restart
            ava, bea = (
                await _contact_id(app, "ava@example.com"),
                await _contact_id(app, "bea@example.com"),
            )
            assert _moves(other, ava)[-1] == ("1", "favors", "after:3s")
            assert _moves(other, bea)[-1] == ("2", "welcome", "entry:web.form_submitted")
            clock.advance(hours=1)
            await Scheduler(other).run_once(clock.now())
            assert _moves(other, bea)[-1] == ("2", "favors", "after:1h")
        finally:
            other.close()


def _wait_for(check: Any, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


async def test_a_running_worker_fires_timers_of_a_version_published_after_it_started(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    folder = journeys_copy(tmp_path)
    settings = make_settings(database_url, tmp_path, journeys_dir=folder)
    env = {
        **os.environ,
        "NURTURE_DATABASE_URL": database_url,
        "NURTURE_JOURNEYS_DIR": str(folder),
        "NURTURE_CONTENT_DIR": str(FIXTURES / "content"),
        "NURTURE_OUTBOX_PATH": str(tmp_path / "worker-outbox.jsonl"),
        "NURTURE_SCHEDULER_INTERVAL": "0.2",
        "NURTURE_SECRET_KEY": "test-secret-key",
        "NURTURE_PUBLIC_BASE_URL": "http://nurture.test",
    }
    async with running_app(settings, clock) as app:
        worker = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "worker"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            runtime = app.app.state.runtime
            # The worker runs on the real clock, long after the test clock's start: every timer
            # is due for it at once, so what tells versions apart is which wait fired.
            await app.post_events(signup("ava@example.com"))
            ava = await _contact_id(app, "ava@example.com")
            _wait_for(lambda: len(_moves(runtime, ava)) >= 2, seconds=60)
            assert _moves(runtime, ava)[1] == ("1", "favors", "after:3s")
            release_story(folder, "2", after="1h")
            assert (await app.client.post("/journeys/reload")).status_code == 200
            await app.post_events(signup("bea@example.com"))
            bea = await _contact_id(app, "bea@example.com")
            _wait_for(lambda: len(_moves(runtime, bea)) >= 2, seconds=30)
            assert _moves(runtime, bea)[1] == ("2", "favors", "after:1h")
        finally:
            worker.send_signal(signal.SIGTERM)
            _, errors = worker.communicate(timeout=30)
        assert worker.returncode == 0, errors


async def test_watching_reloads_when_a_file_changes(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    import asyncio

    from service.catalog import repository as catalog_repo

    folder = journeys_copy(tmp_path)
    settings = make_settings(database_url, tmp_path, journeys_dir=folder, watch_journeys=True)
    async with running_app(settings, clock) as app:
        runtime = app.app.state.runtime

        def generation() -> int:
            with runtime.db.session() as session:
                return catalog_repo.catalog_generation(session)

        before = generation()
        await asyncio.sleep(0.5)  # the watcher started with the app is looking now
        release_story(folder, "2", after="1h")
        for _ in range(100):  # the catalog is stored first, then this process swaps it in
            if generation() > before and runtime.journeys.current_of(STORY).version == "2":
                break
            await asyncio.sleep(0.1)
        assert generation() == before + 1
        assert runtime.journeys.current_of(STORY).version == "2"
        broken = folder / "promo-always.yaml"
        broken.write_text("journey: [")
        await asyncio.sleep(2.5)  # an invalid edit is logged and changes nothing
        assert generation() == before + 1
