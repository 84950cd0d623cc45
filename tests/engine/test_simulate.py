"""`nurture simulate`: the timeline a scenario produces, through the real CLI."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from service.cli import main
from service.engine.groups import in_holdout
from service.engine.loader import compile_text
from service.engine.simulate import Simulation, parse_scenario
from service.errors import JourneyError
from tests.engine.conftest import utc

FIXTURES = Path(__file__).parent / "fixtures"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(["simulate", *args, "--content", str(FIXTURES / "content")])
    return code, capsys.readouterr().out.splitlines()


def test_simulate_prints_stages_and_send_dates(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _run(
        capsys,
        str(FIXTURES / "valid" / "mini.yaml"),
        "--scenario",
        str(FIXTURES / "mini-scenario.yaml"),
        "--until",
        "270d",
    )
    assert code == 0, lines
    expected = [
        "2027-01-04 03:00 UTC  enter     welcome (entry:web.form_submitted)",
        "2027-01-04 14:00 UTC  send      email mini/welcome at 2027-01-04 09:00 EST: "
        '"Welcome, Ava!"',
        "2027-01-06 03:00 UTC  move      welcome -> favors (event:email.clicked)",
        "2027-01-06 14:00 UTC  send      sms mini/favors at 2027-01-06 09:00 EST: "
        '"Ava, favors for Sep 18: Kraft favor boxes. Reply STOP to opt out"',
        "2027-08-19 14:00 UTC  move      favors -> last_month (at:wedding_date-30d)",
        "2027-09-21 14:00 UTC  move      last_month -> thank_you (at:wedding_date+3d)",
        "2027-09-21 14:00 UTC  send      email mini/thank_you at 2027-09-21 10:00 EDT: "
        '"Thank-you cards for Ava"',
    ]
    for line in expected:
        assert line in lines
    positions = [lines.index(line) for line in expected]
    assert positions == sorted(positions)
    # --until 270d stops the clock before the goal order at +300d.
    assert not any("converted" in line for line in lines)
    assert sum("send      email mini/thank_you" in line for line in lines) == 2


def test_simulate_reaches_goal_and_stops_timers(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _run(
        capsys,
        str(FIXTURES / "valid" / "mini.yaml"),
        "--scenario",
        str(FIXTURES / "mini-scenario.yaml"),
    )
    assert code == 0
    assert lines[-1] == "2027-10-31 03:00 UTC  converted in thank_you (goal:order.completed)"


def test_message_waiting_for_window_is_cancelled_when_stage_is_left() -> None:
    journey = compile_text((FIXTURES / "valid" / "mini.yaml").read_text(), path="mini.yaml")
    scenario = parse_scenario(
        """
start: "2027-01-04T03:00:00Z"
contact: {timezone: America/New_York, attributes: {first_name: Ava, wedding_date: "2027-09-18"}}
events:
  - "+0h web.form_submitted {form: wedding-signup}"
  - "+1h email.unsubscribed"
""",
        path="s.yaml",
    )
    timeline = Simulation(journey, content=None).run(scenario)
    kinds = [(e.kind, e.at) for e in timeline]
    assert ("exited", utc(2027, 1, 4, 4)) in kinds
    assert ("cancel", utc(2027, 1, 4, 4)) in kinds
    assert not any(e.kind == "send" for e in timeline)


def test_reenter_after_exit_in_simulation() -> None:
    journey = compile_text((FIXTURES / "valid" / "mini.yaml").read_text(), path="mini.yaml")
    scenario = parse_scenario(
        """
start: "2027-01-04T15:00:00Z"
contact: {timezone: UTC, attributes: {first_name: Ava, wedding_date: "2027-09-18"}}
events:
  - "+0h web.form_submitted {form: wedding-signup}"
  - "+1h web.form_submitted {form: wedding-signup}"
  - "+2h email.unsubscribed"
  - "+3h web.form_submitted {form: wedding-signup}"
""",
        path="s.yaml",
    )
    enters = [e.at for e in Simulation(journey, content=None).run(scenario) if e.kind == "enter"]
    # after_exit: the second signup is ignored while active, the third re-enrols.
    assert enters == [utc(2027, 1, 4, 15), utc(2027, 1, 4, 18)]


def test_bad_scenario_line_names_file_and_line() -> None:
    with pytest.raises(JourneyError) as err:
        parse_scenario(
            'start: "2027-01-04T15:00:00Z"\nevents:\n  - "+2x email.clicked"\n', path="bad.yaml"
        )
    assert err.value.message.startswith("bad.yaml:3: events[0]: bad duration '+2x'")


def test_unknown_journey_id_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _run(
        capsys,
        "nope",
        "--scenario",
        str(FIXTURES / "mini-scenario.yaml"),
        "--journeys",
        str(FIXTURES / "valid"),
    )
    assert code == 1
    assert lines == [f"{FIXTURES / 'valid'}: no journey with id 'nope' in {FIXTURES / 'valid'}"]


def test_journey_found_by_id(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _run(
        capsys,
        "mini-wedding",
        "--scenario",
        str(FIXTURES / "mini-scenario.yaml"),
        "--journeys",
        str(FIXTURES / "valid"),
        "--until",
        "1d",
    )
    assert code == 0
    assert lines[1] == "2027-01-04 03:00 UTC  enter     welcome (entry:web.form_submitted)"


HOLDOUT_JOURNEY = """
journey: gift-guide
holdout: 10%
entry: {event: web.form_submitted}
initial: guide
stages:
  guide:
    send: {channel: email, template: mini/welcome}
    on:
      - after: 1d
        to: done
  done: {final: true}
"""


ATTRIBUTES = "{first_name: Ava, wedding_date: 2027-09-18}"


def test_ten_thousand_simulated_contacts_hold_ten_percent() -> None:
    journey = compile_text(HOLDOUT_JOURNEY, path="gift-guide.yaml")
    kinds: Counter[str] = Counter()
    for number in range(10_000):
        scenario = parse_scenario(
            f"contact: {{id: sim-{number}}}\nevents: ['+0d web.form_submitted']\nuntil: 2d\n",
            path="scenario.yaml",
        )
        timeline = Simulation(journey, content=None).run(scenario)
        kinds.update(e.kind for e in timeline)
        held = [e for e in timeline if e.kind == "held"]
        assert bool(held) == any(", holdout)" in e.text for e in timeline if e.kind == "enter")
        assert [e.kind for e in timeline if e.kind in {"move", "completed"}] == [
            "move",
            "completed",
        ]
    assert kinds["enter"] == 10_000
    assert 900 <= kinds["held"] <= 1_100
    assert kinds["send"] + kinds["held"] == 10_000


def test_simulate_shows_a_holdout_contact_and_her_held_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journey = tmp_path / "gift-guide.yaml"
    journey.write_text(HOLDOUT_JOURNEY.replace("10%", "50%"))
    held, sent = (
        next(f"c-{n}" for n in range(100) if in_holdout(f"c-{n}", "gift-guide", 0.5) is group)
        for group in (True, False)
    )
    outputs = {}
    for contact in (held, sent):
        scenario = tmp_path / f"{contact}.yaml"
        scenario.write_text(
            f"start: '2027-01-04T15:00:00Z'\n"
            f"contact: {{id: {contact}, attributes: {ATTRIBUTES}}}\n"
            "events: ['+0d web.form_submitted']\nuntil: 2d\n"
        )
        code, lines = _run(capsys, str(journey), "--scenario", str(scenario))
        assert code == 0, lines
        outputs[contact] = lines
    mail = 'email mini/welcome at 2027-01-04 15:00 UTC: "Welcome, Ava!"'
    assert outputs[held][1:4] == [
        "2027-01-04 15:00 UTC  enter     guide (entry:web.form_submitted, holdout)",
        "2027-01-04 15:00 UTC  wait      next timer 2027-01-05 15:00 UTC",
        f"2027-01-04 15:00 UTC  held      {mail}",
    ]
    assert outputs[sent][1:4] == [
        "2027-01-04 15:00 UTC  enter     guide (entry:web.form_submitted)",
        "2027-01-04 15:00 UTC  wait      next timer 2027-01-05 15:00 UTC",
        f"2027-01-04 15:00 UTC  send      {mail}",
    ]
    assert outputs[held][4:] == outputs[sent][4:]  # the same moves, timers and end
