"""The facts the stages and paths figures read are written with each move, through every
kind of move (entry, events, timers, a goal that does not end her, operator moves and exits,
a restart, a version migration, a final stage, erasure), and the migration that backfills
them from the history gives the same figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from sqlmodel import select

from service.runtime import Runtime
from service.store.migrate import alembic_config
from service.store.models import Enrollment, TransitionRecord
from tests.analytics.history import SHOP, build
from tests.factories import FakeClock, Harness, event, journeys_copy, make_settings, running_app

TOUR = """
journey: tour
version: "1"
entry:
  event: web.form_submitted
  when: "event.properties.form == 'tour'"
  reenter: always
goal:
  event: order.completed
  ends: false
initial: look
stages:
  look:
    on:
      - event: web.page_viewed
        when: "event.properties.page == 'cart'"
        to: cart
      - after: 10s
        to: wait
  cart:
    on:
      - event: web.page_viewed
        when: "event.properties.page == 'home'"
        to: look
  wait:
    on:
      - after: 5s
        to: done
  done: {final: true}
"""
FIGURES = ["", "/stages", "/paths", "/paths?sort=speed", "/lift"]


def _folder(tmp_path: Path) -> Path:
    return journeys_copy(tmp_path, extra={"tour": TOUR, "shop": SHOP})


def _signup(name: str) -> dict[str, Any]:
    return event("web.form_submitted", email=f"{name}@example.com", properties={"form": "tour"})


def _view(name: str, page: str) -> dict[str, Any]:
    return event("web.page_viewed", email=f"{name}@example.com", properties={"page": page})


async def _at(harness: Harness, second: float, *events: dict[str, Any]) -> None:
    """Move the fake clock to `second` after the start, post the events, run the scheduler."""
    harness.clock.advance(seconds=second - (harness.clock.now() - START).total_seconds())
    if events:
        assert (await harness.post_events(*events)).status_code == 200
    await harness.run_scheduler()


async def _operate(harness: Harness, name: str, action: str, **body: str) -> None:
    contact = await harness.contact(f"{name}@example.com")
    url = f"/contacts/{contact['id']}/enrollments/tour/{action}"
    answer = await harness.client.post(url, json=body or None)
    assert answer.status_code == 200, answer.text


async def build_tour(harness: Harness) -> None:
    """Ann orders at 2 s (a goal that does not end her), goes to the cart at 4, is moved back
    by an operator at 7, times out to wait at 17 and to done at 22; an operator exits Bob at
    3; Cat signs up again at 6 (a restart), times out to wait at 16 and done at 21; Dan goes
    to the cart at 1 and stays."""
    await _at(harness, 0, *(_signup(n) for n in ("ann", "bob", "cat", "dan")))
    await _at(harness, 1, _view("dan", "cart"))
    await _at(harness, 2, event("order.completed", email="ann@example.com"))
    await _at(harness, 3)
    await _operate(harness, "bob", "exit")
    await _at(harness, 4, _view("ann", "cart"))
    await _at(harness, 6, _signup("cat"))
    await _at(harness, 7)
    await _operate(harness, "ann", "move", stage="look")
    for second in (10, 16, 17, 21, 22):
        await _at(harness, second)


START = FakeClock().now()
LOOK = {
    "stage": "look",
    "entered": 6,  # Ann twice, Bob, Cat twice, Dan
    "moved_to": {"(exit)": 2, "cart": 2, "wait": 2},  # Ann's goal at 2 s is not a way out
    "still_here": 0,
    "exits_here": 2,  # Bob (operator) and Cat's first enrollment (restart)
    "median_seconds": 5.0,  # of 1, 3, 4, 6, 10, 10
    "p90_seconds": 10.0,
}
CART = {
    "stage": "cart",
    "entered": 2,
    "moved_to": {"look": 1},  # Ann, moved by the operator
    "still_here": 1,  # Dan
    "exits_here": 0,
    "median_seconds": 3.0,
    "p90_seconds": 3.0,
}
WAIT = {
    "stage": "wait",
    "entered": 2,
    "moved_to": {"done": 2},
    "still_here": 0,
    "exits_here": 0,
    "median_seconds": 5.0,
    "p90_seconds": 5.0,
}
DONE = {
    "stage": "done",
    "entered": 2,
    "moved_to": {"(completed)": 2},
    "still_here": 0,
    "exits_here": 0,
    "median_seconds": None,
    "p90_seconds": None,
}


async def _figures(harness: Harness, journey: str) -> dict[str, Any]:
    found = {}
    for path in FIGURES:
        answer = await harness.client.get(f"/journeys/{journey}/analytics{path}")
        assert answer.status_code == 200, answer.text
        found[path] = answer.json()
    return found


async def test_every_kind_of_move_keeps_the_stage_and_path_figures(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(database_url, tmp_path, journeys_dir=_folder(tmp_path))
    async with running_app(settings, clock) as harness:
        await build_tour(harness)
        figures = await _figures(harness, "tour")
    assert figures["/stages"] == [LOOK, CART, WAIT, DONE]
    summary = figures[""]
    assert (summary["entered"], summary["active"], summary["completed"]) == (5, 1, 2)
    assert (summary["converted"], summary["median_seconds_to_goal"]) == (1, 2.0)
    assert (summary["exited"]["operator"], summary["exited"]["restart"]) == (1, 1)
    paths = [(p["path"], p["contacts"], p["converted"]) for p in figures["/paths"]]
    assert paths == [
        (["look"], 2, 0),  # Bob and Cat's first enrollment
        (["look", "cart", "wait", "done"], 1, 1),  # Ann, her return to look collapsed
        (["look", "wait", "done"], 1, 0),
    ]
    assert figures["/paths?sort=speed"][0]["median_seconds_to_goal"] == 2.0


async def test_a_version_migration_keeps_her_visit_and_erasure_ends_it(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    folder = _folder(tmp_path)
    settings = make_settings(database_url, tmp_path, journeys_dir=folder)
    async with running_app(settings, clock) as harness:
        await build_tour(harness)
    tour = folder / "tour.yaml"
    tour.write_text(tour.read_text().replace('version: "1"', 'version: "2"'))
    async with running_app(settings, clock) as harness:
        await _at(harness, 30)
        migrated = await harness.client.post("/journeys/tour/migrate", json={"dry_run": False})
        assert migrated.json()["migrated"] == {"1:cart -> cart": 1}, migrated.text  # Dan
        await _at(harness, 40)
        await _operate(harness, "dan", "move", stage="look")
        stages = (await harness.client.get("/journeys/tour/analytics/stages")).json()
        moved = {**CART, "moved_to": {"look": 2}, "still_here": 0}
        assert stages[1] == {**moved, "median_seconds": 21.0, "p90_seconds": 39.0}  # 3, 39
        dan = await harness.contact("dan@example.com")
        await _at(harness, 45)
        assert (await harness.client.delete(f"/contacts/{dan['id']}")).status_code in (200, 204)
        stages = (await harness.client.get("/journeys/tour/analytics/stages")).json()
    # Dan's visit to look from 40 s ended when he was erased at 45 s.
    assert stages[0]["entered"] == 7 and stages[0]["moved_to"]["(exit)"] == 3
    assert (stages[0]["median_seconds"], stages[0]["p90_seconds"]) == (5.0, 10.0)


def _facts(runtime: Runtime) -> dict[str, Any]:
    with runtime.db.session() as session:
        moves = {
            t.id: (t.visit_end, t.next_stage, None if t.seconds is None else round(t.seconds, 3))
            for t in session.exec(select(TransitionRecord)).all()
        }
        enrollments = {e.id: (e.goal_at, e.path) for e in session.exec(select(Enrollment)).all()}
    return {"moves": moves, "enrollments": enrollments}


async def test_the_migration_backfills_the_facts_written_live(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(database_url, tmp_path, journeys_dir=_folder(tmp_path))
    async with running_app(settings, clock) as harness:
        await build_tour(harness)
        await build(harness)
        live = {name: await _figures(harness, name) for name in ("tour", "shop")}
        written = _facts(harness.app.state.runtime)
    assert any(v[0] == "open" for v in written["moves"].values())
    config = alembic_config(database_url)
    command.downgrade(config, "0007")
    command.upgrade(config, "head")
    async with running_app(settings, clock) as harness:
        assert _facts(harness.app.state.runtime) == written
        for name in ("tour", "shop"):
            assert await _figures(harness, name) == live[name], name
