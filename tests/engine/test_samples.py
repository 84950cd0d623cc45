"""The shipped campaigns: they validate, and each scenario in tests/scenarios runs end to end."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from service.engine.loader import compile_text
from service.engine.render import ContentLibrary
from service.engine.simulate import Simulation, parse_scenario
from service.engine.validate import validate

REPO = Path(__file__).parents[2]
SAMPLES = ["bride-wedding-timeline", "bride-friend", "b2b-buyer", "post-purchase"]


def _timeline(journey: str) -> list[tuple[str, str, str]]:
    compiled = compile_text((REPO / "journeys" / f"{journey}.yaml").read_text(), path=journey)
    scenario_path = REPO / "tests" / "scenarios" / f"{journey}.yaml"
    scenario = parse_scenario(scenario_path.read_text(), path=str(scenario_path))
    entries = Simulation(compiled, content=ContentLibrary(REPO / "content")).run(scenario)
    return [(f"{e.at:%Y-%m-%d %H:%M}", e.kind, e.text) for e in entries]


def test_console_script_validates_the_shipped_samples() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "service.cli", "validate"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for journey in SAMPLES:
        assert f"{journey} (version" in proc.stdout
    assert "4 journey(s) valid" in proc.stdout


@pytest.mark.parametrize("today", [date(2026, 1, 1), date(2027, 9, 18), date(2030, 6, 1)])
def test_samples_render_whatever_the_date(today: date) -> None:
    result = validate([REPO / "journeys"], content_dir=REPO / "content", today=today)
    assert not result.errors, [e.message for e in result.errors]


def test_bride_timeline_follows_her_wedding_date() -> None:
    timeline = _timeline("bride-wedding-timeline")
    moves = [(at, text.split(" (")[0]) for at, kind, text in timeline if kind in ("enter", "move")]
    assert moves == [
        ("2027-01-04 15:00", "welcome"),
        ("2027-01-06 15:00", "welcome -> save_the_dates"),
        ("2027-01-19 15:00", "save_the_dates -> wait_invitations"),
        ("2027-03-25 15:00", "wait_invitations -> invitations"),
        ("2027-05-20 15:00", "invitations -> wait_favors"),
        ("2027-08-04 14:00", "wait_favors -> favors"),  # 45 days before, 10:00 EDT
        ("2027-08-06 15:00", "favors -> wait_last_month"),
        ("2027-08-19 14:00", "wait_last_month -> last_month"),
        ("2027-09-11 14:00", "last_month -> wedding_week"),
        ("2027-09-21 14:00", "wedding_week -> thank_you"),  # thank-you cards after the date
        ("2027-10-01 14:00", "thank_you -> thank_you_reminder"),
    ]
    sends = [(at, text.split(" at ")[0]) for at, kind, text in timeline if kind == "send"]
    assert sends[:2] == [
        ("2027-01-04 15:00", "email bride/welcome"),
        ("2027-01-06 15:00", "email bride/save-the-dates"),
    ]
    assert ("2027-09-11 14:00", "sms bride/wedding-week") in sends
    favors = sends.index(("2027-08-04 14:00", "email bride/favors"))
    thanks = sends.index(("2027-09-21 14:00", "email bride/thank-you-cards"))
    assert favors < thanks
    assert timeline[-1][1:] == ("converted", "in thank_you_reminder (goal:order.completed)")


@pytest.mark.parametrize("journey", SAMPLES)
def test_every_sample_scenario_reaches_its_goal(journey: str) -> None:
    timeline = _timeline(journey)
    assert any(kind == "converted" for _, kind, _ in timeline), timeline[-5:]
    assert any(kind == "send" for _, kind, _ in timeline)
    assert not any(kind == "note" for _, kind, _ in timeline), [
        t for t in timeline if t[1] == "note"
    ]


def test_bride_signing_up_late_skips_the_seasons_that_are_over() -> None:
    compiled = compile_text(
        (REPO / "journeys" / "bride-wedding-timeline.yaml").read_text(), path="timeline"
    )
    scenario = parse_scenario(
        """
start: "2027-08-09T15:00:00Z"
contact:
  timezone: America/New_York
  attributes: {first_name: Ava, wedding_date: "2027-09-18"}
events:
  - "+0d web.form_submitted {form: wedding-signup}"
until: 20d
""",
        path="late.yaml",
    )
    timeline = Simulation(compiled, content=ContentLibrary(REPO / "content")).run(scenario)
    moves = [e.text.split(" (")[0] for e in timeline if e.kind == "move"]
    assert moves[:4] == [
        "welcome -> wait_save_the_dates",
        "wait_save_the_dates -> wait_invitations",
        "wait_invitations -> wait_favors",
        "wait_favors -> favors",
    ]
    notes = [e.text for e in timeline if e.kind == "note"]
    assert any("stage 'wait_save_the_dates': 'at wedding_date-270d' skipped" in n for n in notes)
    assert any("stage 'wait_invitations': 'at wedding_date-150d' skipped" in n for n in notes)
    sends = [e.text.split(" at ")[0] for e in timeline if e.kind == "send"]
    assert "email bride/save-the-dates" not in sends
    assert "email bride/favors" in sends
