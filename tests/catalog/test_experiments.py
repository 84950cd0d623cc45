"""Split experiments: results per branch from the history, the z-test, and the winner rule
switching traffic only once the difference is significant."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from service.catalog.experiments import (
    BranchResult,
    Experiment,
    experiment,
    p_value,
    winner_of,
)
from service.catalog.views import journey_detail
from service.engine.model import Winner
from service.runtime import Runtime
from service.store.models import TransitionRecord
from tests.factories import (
    START,
    FakeClock,
    event,
    ingest,
    journeys_copy,
    make_settings,
    open_runtime,
    stored,
)

RULE = Winner(after="14d")
OFFER = """
journey: offer-test
entry:
  event: web.page_viewed
  when: "event.properties.page == 'offer'"
goal: {event: order.completed}
initial: offer
stages:
  offer:
    split:
      a: {weight: 50, to: offer_a}
      b: {weight: 50, to: offer_b}
    winner: {after: 14d, metric: conversion}
  offer_a:
    on:
      - after: 60d
        to: done
  offer_b:
    on:
      - after: 60d
        to: done
  done: {final: true}
"""


def _arm(branch: str, contacts: int, conversions: int) -> BranchResult:
    return BranchResult(branch=branch, contacts=contacts, conversions=conversions)


def test_two_proportion_z_test() -> None:
    assert p_value(_arm("a", 100, 20), _arm("b", 100, 20)) == pytest.approx(1.0)
    assert p_value(_arm("a", 200, 60), _arm("b", 200, 40)) == pytest.approx(
        0.0209, abs=1e-4
    )  # z = 2.31
    assert p_value(_arm("a", 50, 0), _arm("b", 50, 0)) == 1.0  # nobody converted


def test_a_winner_needs_time_samples_and_significance() -> None:
    decided = Experiment(
        branches={"a": _arm("a", 200, 60), "b": _arm("b", 200, 40)}, started_at=START
    )
    later = START + timedelta(days=14)
    assert winner_of(decided, branches=["a", "b"], rule=RULE, now=later) == "a"
    assert (
        winner_of(decided, branches=["a", "b"], rule=RULE, now=later - timedelta(hours=1)) is None
    )
    small = Experiment(branches={"a": _arm("a", 29, 20), "b": _arm("b", 30, 1)}, started_at=START)
    assert winner_of(small, branches=["a", "b"], rule=RULE, now=later) is None
    close = Experiment(
        branches={"a": _arm("a", 200, 50), "b": _arm("b", 200, 40)}, started_at=START
    )
    assert winner_of(close, branches=["a", "b"], rule=RULE, now=later) is None
    missing = Experiment(branches={"a": _arm("a", 200, 60)}, started_at=START)
    assert winner_of(missing, branches=["a", "b"], rule=RULE, now=later) is None
    three = Experiment(
        branches={"a": _arm("a", 300, 90), "b": _arm("b", 300, 40), "c": _arm("c", 300, 80)},
        started_at=START,
    )
    assert winner_of(three, branches=["a", "b", "c"], rule=RULE, now=later) is None  # a ~ c


def _enrol(runtime: Runtime, count: int, *, first: int = 0) -> dict[str, str]:
    """`count` contacts entering the split; their branch by email."""
    branches = {}
    for number in range(first, first + count):
        email = f"c{number}@example.com"
        result = ingest(
            runtime, event("web.page_viewed", email=email, properties={"page": "offer"})
        )  # type: ignore[arg-type]
        [move] = [m for m in result.moved if m.from_ == "offer"]
        branches[email] = move.trigger
    return branches


def test_the_winner_switches_traffic_only_after_significance(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    folder = journeys_copy(tmp_path, extra={"offer-test": OFFER})
    settings = make_settings(database_url, tmp_path, journeys_dir=folder)
    with open_runtime(settings, clock) as runtime:
        branches = _enrol(runtime, 120)  # contact ids are random: ~60 each, never under 30
        assert set(branches.values()) == {"split:a", "split:b"}
        counts = {label: list(branches.values()).count(label) for label in ("split:a", "split:b")}
        assert min(counts.values()) >= 30
        for email, label in branches.items():  # branch a converts, branch b does not
            if label == "split:a":
                ingest(runtime, event("order.completed", email=email, properties={"total": 9}))
        with runtime.db.session() as session:
            result = experiment(session, journey_id="offer-test", stage="offer")
        assert result.branches["a"].conversions == counts["split:a"]
        assert result.branches["b"].conversions == 0
        assert result.started_at == START

        clock.advance(days=13)
        runtime.journeys.refresh_winners(clock.now())  # significant, but too early
        assert runtime.journeys.current_of("offer-test").winners == {}
        assert set(_enrol(runtime, 20, first=1000).values()) == {"split:a", "split:b"}

        clock.advance(days=1)
        runtime.journeys.refresh_winners(clock.now())
        assert runtime.journeys.current_of("offer-test").winners == {"offer": "a"}
        with runtime.db.session() as session:
            detail = journey_detail(session, runtime.journeys, "offer-test")
        assert detail.winners == {"offer": "a"}
        assert set(_enrol(runtime, 20, first=2000).values()) == {"winner:a"}
        rows = stored(runtime, TransitionRecord, journey_id="offer-test", trigger="winner:a")
        assert len(rows) == 20


def test_no_winner_while_the_branches_convert_alike(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    folder = journeys_copy(tmp_path, extra={"offer-test": OFFER})
    settings = make_settings(database_url, tmp_path, journeys_dir=folder)
    with open_runtime(settings, clock) as runtime:
        branches = _enrol(runtime, 80)
        for label in ("split:a", "split:b"):  # a third of each branch converts
            mine = [email for email, taken in branches.items() if taken == label]
            for email in mine[: len(mine) // 3]:
                ingest(runtime, event("order.completed", email=email))
        clock.advance(days=30)
        runtime.journeys.refresh_winners(clock.now())
        assert runtime.journeys.current_of("offer-test").winners == {}
        assert "split:" in next(iter(_enrol(runtime, 1, first=500).values()))
