"""A/B splits: stable assignment by weight, the winner rule as data, and the checks."""

from __future__ import annotations

import io
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from service.engine.core import CompiledJourney, ContactView, EventView, split_point
from service.engine.diagram import mermaid
from service.engine.loader import compile_text
from service.engine.render import ContentLibrary
from service.engine.simulate import Simulation, parse_scenario
from service.engine.validate import run_validate
from service.errors import JourneyErrors
from tests.engine.conftest import utc

FIXTURES = Path(__file__).parent / "fixtures"
NOW = utc(2027, 1, 4, 15)

OFFERS = """
journey: offers
entry: {event: web.form_submitted}
sample_contact: {attributes: {first_name: Ava, wedding_date: "2027-09-18"}}
goal: {event: order.completed}
initial: welcome
stages:
  welcome:
    on:
      - after: 1d
        to: offer
  offer:
    split:
      a: {weight: 50, to: offer_a}
      b: {weight: 50, to: offer_b}
    winner: {after: 14d, metric: conversion}
  offer_a:
    send: {channel: email, template: mini/welcome}
    on:
      - after: 5d
        to: done
  offer_b:
    send: {channel: email, template: mini/thank_you}
    on:
      - after: 5d
        to: done
  done: {final: true}
"""


@pytest.fixture
def offers() -> CompiledJourney:
    return compile_text(OFFERS, path="offers.yaml")


def _contact(number: int) -> ContactView:
    return ContactView(id=f"contact-{number:05d}", email=f"c{number}@example.com")


def test_entering_a_split_routes_her_at_once_and_records_the_branch(
    offers: CompiledJourney,
) -> None:
    her = _contact(1)
    start = offers.start(her, now=NOW)
    moved = offers.on_clock(start.state, her, now=utc(2027, 1, 5, 15))
    branch, label = offers.branch_for("offer", her)
    assert [(c.from_stage, c.to_stage, c.trigger) for c in moved.changes] == [
        ("welcome", "offer", "after:1d"),
        ("offer", f"offer_{branch}", f"split:{branch}"),
    ]
    assert label == f"split:{branch}"
    assert [m.stage for m in moved.messages] == [f"offer_{branch}"]  # the split sends nothing
    assert moved.state.stage == f"offer_{branch}"


def test_assignment_is_stable_per_contact_and_journey(offers: CompiledJourney) -> None:
    her = _contact(7)
    again = compile_text(OFFERS, path="offers.yaml")
    assert {offers.branch_for("offer", her) for _ in range(5)} == {again.branch_for("offer", her)}
    # Pinned values: the hash is sha256 of contact id, journey id and stage, so every process,
    # run and release assigns her the same branch.
    assert split_point("contact-00007", "offers", "offer") == pytest.approx(0.5531, abs=1e-4)
    assert [offers.branch_for("offer", _contact(n))[0] for n in range(1, 9)] == list("baaabbbb")


@pytest.mark.parametrize("weights", [(50, 50), (70, 20, 10), (1, 3)])
def test_weights_hold_within_one_point_over_ten_thousand_contacts(
    weights: tuple[int, ...],
) -> None:
    arms = "\n".join(
        f"      {name}: {{weight: {w}, to: offer_{'ab'[i % 2]}}}"
        for i, (name, w) in enumerate(zip("abc", weights, strict=False))
    )
    text = OFFERS.replace(
        "      a: {weight: 50, to: offer_a}\n      b: {weight: 50, to: offer_b}", arms
    )
    journey = compile_text(text, path="offers.yaml")
    counts = Counter(journey.branch_for("offer", _contact(n))[0] for n in range(10_000))
    rerun = Counter(journey.branch_for("offer", _contact(n))[0] for n in range(10_000))
    assert counts == rerun
    for name, weight in zip("abc", weights, strict=False):
        share = counts[name] / 10_000
        assert abs(share - weight / sum(weights)) < 0.01, (name, share)


def test_a_named_winner_takes_every_later_contact(offers: CompiledJourney) -> None:
    offers.winners = {"offer": "b"}
    routed = {offers.branch_for("offer", _contact(n)) for n in range(200)}
    assert routed == {("b", "winner:b")}
    offers.winners = {"offer": "gone"}  # a branch this version no longer has is ignored
    assert {offers.branch_for("offer", _contact(n))[1][:6] for n in range(50)} == {"split:"}


def test_an_operator_move_onto_a_split_routes_too(offers: CompiledJourney) -> None:
    her = _contact(3)
    start = offers.start(her, now=NOW)
    moved = offers.move_to(start.state, her, "offer", now=NOW)
    assert moved.state.stage.startswith("offer_")
    resting = offers.adopt(start.state, her, stage="offer", now=NOW)  # a migration onto it
    assert resting.next_due_at == NOW
    assert offers.on_clock(resting.state, her, now=NOW).state.stage.startswith("offer_")


def test_a_split_leading_back_through_events_is_fine(offers: CompiledJourney) -> None:
    her = _contact(2)
    state = offers.on_clock(offers.start(her, now=NOW).state, her, now=utc(2027, 1, 5, 15)).state
    event = EventView(type="order.completed", time=utc(2027, 1, 6))
    assert offers.on_event(state, her, event, now=event.time).state.status == "converted"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("weight: 50, to: offer_b", "offers.yaml:15: stages.offer.split.b.weight: weight must be"),
        ("to: offer_b}", "offers.yaml:15: stage 'offer' splits to unknown stage 'nowhere'"),
        ("    winner: {after: 14d", "offers.yaml:12: stages.offer: a split stage routes at once"),
        ("b: {weight: 50, to: offer_b}", "offers.yaml:13: stages.offer.split: a split needs"),
        ("metric: conversion", "offers.yaml:16: stages.offer.winner.metric: Input should be"),
    ],
)
def test_split_checks_name_file_and_line(change: str, message: str) -> None:
    broken = {
        "weight: 50, to: offer_b": "weight: 0, to: offer_b",
        "to: offer_b}": "to: nowhere}",
        "    winner: {after: 14d": (
            "    send: {channel: email, template: x}\n    winner: {after: 14d"
        ),
        "b: {weight: 50, to: offer_b}": "",
        "metric: conversion": "metric: revenue",
    }[change]
    with pytest.raises(JourneyErrors) as err:
        compile_text(OFFERS.replace(change, broken, 1), path="offers.yaml")
    assert any(e.message.startswith(message) for e in err.value.errors), err.value.message


def test_a_winner_without_a_split_and_a_split_loop_are_refused() -> None:
    stray = OFFERS.replace("  offer_a:\n", "  offer_a:\n    winner: {after: 1d}\n", 1)
    with pytest.raises(JourneyErrors, match="'winner' applies to a split stage only"):
        compile_text(stray, path="offers.yaml")
    loop = OFFERS.replace("a: {weight: 50, to: offer_a}", "a: {weight: 50, to: offer}")
    with pytest.raises(JourneyErrors, match="zero-delay cycle offer -> offer"):
        compile_text(loop, path="offers.yaml")


def test_validate_diagram_and_simulate_show_the_split(tmp_path: Path) -> None:
    path = tmp_path / "offers.yaml"
    path.write_text(OFFERS)
    out = io.StringIO()
    code = run_validate([path], content_dir=FIXTURES / "content", today=date(2027, 1, 4), out=out)
    assert code == 0, out.getvalue()
    assert "0 event and 3 timer transitions, 1 split(s), sends: 2 email" in out.getvalue()
    assert "split a 50% -> offer_a, split b 50% -> offer_b, winner after 2w" in out.getvalue()
    journey = compile_text(OFFERS, path="offers.yaml")
    diagram = mermaid(journey.journey, moves={("offer", "offer_a", "split:a"): 3})
    assert '  s_offer{{"offer"}}' in diagram
    assert '  s_offer -.->|"a 50% (3x)"| s_offer_a' in diagram
    scenario = """
start: "2027-01-04T15:00:00Z"
contact: {id: contact-00001, attributes: {first_name: Ava, wedding_date: "2027-09-18"}}
events: ["+0d web.form_submitted"]
winners: {offer: a}
until: 10d
"""
    timeline = Simulation(journey, content=ContentLibrary(FIXTURES / "content")).run(
        parse_scenario(scenario, path="s.yaml")
    )
    assert "offer -> offer_a (winner:a)" in [e.text for e in timeline if e.kind == "move"]
