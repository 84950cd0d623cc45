"""Calendar waits (`at` a weekday, a campaign date, a contact's date), their windows, and goals
that let a contact go on."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from service.engine.core import CompiledJourney, ContactView, EventView, Status
from service.engine.loader import compile_text
from service.engine.model import Transition
from service.engine.moments import AtTrigger, DateTrigger, WeekdayTrigger
from service.engine.render import ContentLibrary
from service.engine.simulate import Simulation, parse_scenario
from service.engine.validate import run_validate
from service.errors import JourneyErrors
from tests.engine.conftest import utc

FIXTURES = Path(__file__).parent / "fixtures"
NY = ZoneInfo("America/New_York")


def _way(**keys: Any) -> Transition:
    return Transition.model_validate({"to": "next", **keys})


def _fire(way: Transition, entered: datetime, zone: str, **attributes: Any) -> datetime | None:
    contact = ContactView(id="c1", attributes=attributes, timezone=zone)
    return way.trigger.moment(entered, contact, ZoneInfo(zone))


# ----- weekday waits ------------------------------------------------------------------------


TUESDAY_10 = {"at": {"weekday": "tue", "time": "10:00"}}


@pytest.mark.parametrize(
    ("zone", "entered", "fires"),
    [
        # New York springs forward on Sunday 2027-03-14: Tuesday 10:00 is EDT (UTC-4).
        ("America/New_York", utc(2027, 3, 9, 16), utc(2027, 3, 16, 14)),
        ("America/New_York", utc(2027, 3, 5, 16), utc(2027, 3, 9, 15)),  # still EST before
        # ... and falls back on Sunday 2027-11-07: Tuesday 10:00 is EST (UTC-5) again.
        ("America/New_York", utc(2027, 11, 5, 14), utc(2027, 11, 9, 15)),
        # Paris moves to CEST (UTC+2) on Sunday 2027-03-28.
        ("Europe/Paris", utc(2027, 3, 26, 9), utc(2027, 3, 30, 8)),
        ("Europe/Paris", utc(2027, 3, 19, 9), utc(2027, 3, 23, 9)),
        # Sydney leaves AEDT (UTC+11) for AEST (UTC+10) on Sunday 2027-04-04 ...
        ("Australia/Sydney", utc(2027, 4, 1, 23), utc(2027, 4, 6, 0)),
        # ... and returns to AEDT on Sunday 2027-10-03.
        ("Australia/Sydney", utc(2027, 9, 30, 23), utc(2027, 10, 4, 23)),
    ],
)
def test_weekday_wait_keeps_the_local_hour_across_dst(
    zone: str, entered: datetime, fires: datetime
) -> None:
    way = _way(**TUESDAY_10)
    assert isinstance(way.trigger, WeekdayTrigger)
    moment = _fire(way, entered, zone)
    assert moment == fires
    local = moment.astimezone(ZoneInfo(zone))
    assert (local.strftime("%a"), local.hour, local.minute) == ("Tue", 10, 0)


def test_weekday_wait_is_the_next_such_moment_after_entering() -> None:
    way = _way(**TUESDAY_10)
    tuesday_9am = utc(2027, 1, 5, 14)  # 09:00 in New York
    assert _fire(way, tuesday_9am, "America/New_York") == utc(2027, 1, 5, 15)
    # Entering at that very moment waits a week, so a weekly loop never fires twice at once.
    assert _fire(way, utc(2027, 1, 5, 15), "America/New_York") == utc(2027, 1, 12, 15)
    days = _way(at={"weekday": ["thu", "tue"], "time": "10:00"})
    assert _fire(days, utc(2027, 1, 5, 16), "America/New_York") == utc(2027, 1, 7, 15)
    midnight = _way(at={"weekday": "saturday"})
    assert _fire(midnight, tuesday_9am, "America/New_York") == utc(2027, 1, 9, 5)


def test_weekday_time_skipped_by_dst_moves_forward_by_the_gap() -> None:
    way = _way(at={"weekday": "sun", "time": "02:30"})
    moment = _fire(way, utc(2027, 3, 12, 15), "America/New_York")
    assert moment == utc(2027, 3, 14, 7, 30)  # 03:30 EDT: 02:30 does not exist that night


def test_weekday_labels_and_summary() -> None:
    way = _way(at={"weekday": ["tue", "thu"], "time": "10:00", "not_before": "2027-03-01"})
    assert way.key() == "at:tue,thu"
    assert way.describe() == "at tue,thu 10:00"
    assert way.summary() == {
        "to": "next",
        "at": {"weekday": ["tue", "thu"], "time": "10:00", "not_before": "2027-03-01"},
        "if_past": "now",
    }
    assert not way.trigger.fires_on_entry()
    assert way.trigger.date_attributes() == frozenset()


# ----- campaign dates -----------------------------------------------------------------------


def test_date_wait_is_that_day_at_her_local_time() -> None:
    way = _way(at={"date": date(2027, 2, 14), "time": "09:00"})
    assert isinstance(way.trigger, DateTrigger)
    assert way.key() == "at:2027-02-14"
    assert way.describe() == "at 2027-02-14 09:00"
    assert _fire(way, utc(2027, 1, 4), "America/New_York") == utc(2027, 2, 14, 14)
    assert _fire(way, utc(2027, 1, 4), "Europe/Paris") == utc(2027, 2, 14, 8)
    assert _fire(way, utc(2027, 1, 4), "Australia/Sydney") == utc(2027, 2, 13, 22)
    after = utc(2027, 3, 1)
    assert _fire(way, after, "America/New_York") == after  # past on entry: at once
    skip = _way(at={"date": "2027-02-14", "time": "09:00"}, if_past="skip")
    assert _fire(skip, after, "America/New_York") is None


# ----- windows ------------------------------------------------------------------------------


WAIT_FAVORS = """
journey: favors-season
entry: {event: web.form_submitted}
initial: wait_favors
stages:
  wait_favors:
    on:
      - at: {attribute: wedding_date, offset: -45d, time: "10:00", not_after: -30d}
        to: favors
      - at: {attribute: wedding_date, offset: -30d, time: "10:00"}
        to: last_month
  favors:
    on:
      - at: {attribute: wedding_date, offset: -30d, time: "10:00"}
        to: last_month
  last_month: {final: true}
"""


@pytest.fixture
def season() -> CompiledJourney:
    return compile_text(WAIT_FAVORS, path="season.yaml")


def _bride() -> ContactView:
    return ContactView(id="c1", attributes={"wedding_date": "2027-09-18"}, timezone=NY.key)


def _moves(decision: Any) -> list[tuple[str | None, str, str]]:
    return [(c.from_stage, c.to_stage, c.trigger) for c in decision.changes]


def test_not_after_skips_a_season_already_over(season: CompiledJourney) -> None:
    twenty_days_out = utc(2027, 8, 29, 14)
    start = season.start(_bride(), now=twenty_days_out)
    assert _moves(start) == [
        (None, "wait_favors", "entry"),
        ("wait_favors", "last_month", "at:wedding_date-30d"),
    ]
    assert start.notes == (
        "stage 'wait_favors': 'at wedding_date-45d' skipped: 2027-08-29 14:00 UTC is past its"
        " window (not_after -30d)",
    )


def test_inside_the_window_the_season_runs(season: CompiledJourney) -> None:
    forty_days_out = utc(2027, 8, 9, 14)
    start = season.start(_bride(), now=forty_days_out)
    assert _moves(start)[-1] == ("wait_favors", "favors", "at:wedding_date-45d")
    assert start.notes == ()
    early = season.start(_bride(), now=utc(2027, 1, 4))
    assert early.state.stage == "wait_favors"
    assert early.next_due_at == utc(2027, 8, 4, 14)  # 45 days before, 10:00 EDT


def test_the_window_needs_no_file_order(season: CompiledJourney) -> None:
    swapped = WAIT_FAVORS.replace(
        """      - at: {attribute: wedding_date, offset: -45d, time: "10:00", not_after: -30d}
        to: favors
      - at: {attribute: wedding_date, offset: -30d, time: "10:00"}
        to: last_month
""",
        """      - at: {attribute: wedding_date, offset: -30d, time: "10:00"}
        to: last_month
      - at: {attribute: wedding_date, offset: -45d, time: "10:00", not_after: -30d}
        to: favors
""",
    )
    journey = compile_text(swapped, path="season.yaml")
    for entered in (utc(2027, 8, 29, 14), utc(2027, 8, 9, 14)):
        assert _moves(journey.start(_bride(), now=entered)) == _moves(
            season.start(_bride(), now=entered)
        )


def test_absolute_windows() -> None:
    weekday = _way(at={"weekday": "tue", "time": "10:00", "not_before": "2027-03-01"})
    assert _fire(weekday, utc(2027, 1, 4), NY.key) == utc(2027, 3, 2, 15)
    over = _way(at={"weekday": "tue", "time": "10:00", "not_after": date(2027, 1, 4)})
    wednesday = utc(2027, 1, 6, 15)
    assert _fire(over, wednesday, NY.key) is None
    reason = over.trigger.skip_reason(wednesday, ContactView(id="c1"), NY)
    assert reason == (
        "'at tue 10:00' skipped: 2027-01-12 15:00 UTC is past its window (not_after 2027-01-04)"
    )
    # The last day of the window counts whole, in her timezone.
    last_day = _way(at={"weekday": "mon", "time": "23:00", "not_after": "2027-01-04"})
    assert _fire(last_day, utc(2027, 1, 1), NY.key) == utc(2027, 1, 5, 4)


def test_a_moment_before_the_window_waits_for_it() -> None:
    way = _way(
        at={"attribute": "signup", "offset": "1d", "time": "09:00", "not_before": "2027-03-01"}
    )
    assert isinstance(way.trigger, AtTrigger)
    assert _fire(way, utc(2027, 1, 4), NY.key, signup="2027-01-04") == utc(2027, 3, 1, 14)
    relative = _way(at={"date": "2027-02-14", "time": "09:00", "not_after": "3d"})
    assert _fire(relative, utc(2027, 2, 16), NY.key) == utc(2027, 2, 16)
    assert _fire(relative, utc(2027, 2, 20), NY.key) is None


def test_window_summary_and_label_of_the_attribute_form() -> None:
    way = _way(at={"attribute": "wedding_date", "offset": "-45d", "not_after": "-30d"})
    assert way.key() == "at:wedding_date-45d"
    assert way.summary()["at"] == {
        "attribute": "wedding_date",
        "offset": "-45d",
        "time": None,
        "not_after": "-30d",
    }


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ({"date": "2027-02-14", "not_after": "2027-02-01"}, "this wait can never fire"),
        ({"date": "2027-02-14", "not_after": "-1d"}, "this wait can never fire"),
        ({"attribute": "d", "offset": "-30d", "not_after": "-45d"}, "can never fire"),
        ({"weekday": "tue", "not_before": "2027-03-02", "not_after": "2027-03-01"}, "is empty"),
        ({"date": "2027-02-14T09:00:00"}, "bad date"),
    ],
)
def test_windows_that_cannot_hold_are_refused(at: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _way(at=at)


def test_validate_names_file_and_line_of_bad_calendar_waits(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text(
        WAIT_FAVORS.replace("not_after: -30d", "not_after: -30 days").replace(
            'offset: -30d, time: "10:00"}\n        to: last_month\n  favors',
            'offset: -30d, time: "25:00"}\n        to: last_month\n  favors',
        )
    )
    out = io.StringIO()
    assert run_validate([path], content_dir=FIXTURES / "content", today=date(2027, 1, 4), out=out)
    assert f"{path}:8: stages.wait_favors.on.0.at.not_after: bad window bound" in out.getvalue()
    assert f"{path}:10: stages.wait_favors.on.1.at.time: bad time '25:00'" in out.getvalue()


# ----- goals that let her go on -------------------------------------------------------------


SHOP = """
journey: shop
entry: {event: web.form_submitted}
exit: {events: [email.unsubscribed]}
goal: {event: order.completed, ends: false}
initial: browsing
stages:
  browsing:
    on:
      - event: order.completed
        to: onboarding
      - after: 30d
        to: done
  onboarding:
    on:
      - at: {weekday: tue, time: "10:00"}
        to: done
  done: {final: true}
"""


def test_a_goal_that_does_not_end_records_the_conversion_and_she_goes_on() -> None:
    shop = compile_text(SHOP, path="shop.yaml")
    her = ContactView(id="c1", timezone=NY.key)
    start = shop.start(her, now=utc(2027, 1, 4, 15))
    order = EventView(type="order.completed", time=utc(2027, 1, 5, 15))
    bought = shop.on_event(start.state, her, order, now=order.time)
    assert _moves(bought) == [
        ("browsing", "browsing", "goal:order.completed"),
        ("browsing", "onboarding", "event:order.completed"),
    ]
    assert bought.state.status is Status.ACTIVE
    assert bought.next_due_at == utc(2027, 1, 12, 15)  # next Tuesday 10:00
    again = shop.on_event(bought.state, her, order, now=order.time)
    assert _moves(again) == [("onboarding", "onboarding", "goal:order.completed")]
    assert again.state == bought.state
    done = shop.on_clock(again.state, her, now=utc(2027, 1, 12, 15))
    assert done.state.status is Status.COMPLETED
    ended = compile_text(SHOP.replace(", ends: false", ""), path="shop.yaml")
    converted = ended.on_event(ended.start(her, now=order.time).state, her, order, now=order.time)
    assert converted.state.status is Status.CONVERTED


def test_simulate_shows_calendar_waits_and_goals_that_go_on() -> None:
    shop = compile_text(SHOP, path="shop.yaml")
    scenario = parse_scenario(
        """
start: "2027-01-04T15:00:00Z"
contact: {timezone: America/New_York}
events:
  - "+0d web.form_submitted"
  - "+1d order.completed {total: 40}"
until: 30d
""",
        path="scenario.yaml",
    )
    timeline = Simulation(shop, content=ContentLibrary(FIXTURES / "content")).run(scenario)
    lines = [(f"{e.at:%Y-%m-%d %H:%M}", e.kind, e.text) for e in timeline]
    assert ("2027-01-05 15:00", "goal", "in browsing (goal:order.completed), goes on") in lines
    assert ("2027-01-05 15:00", "move", "browsing -> onboarding (event:order.completed)") in lines
    assert ("2027-01-12 15:00", "move", "onboarding -> done (at:tue)") in lines
    assert lines[-1][1] == "completed"


def test_an_impossible_date_in_yaml_is_an_error_at_its_line() -> None:
    text = WAIT_FAVORS.replace("offset: -45d,", "offset: -45d, not_before: 2027-02-30,")
    with pytest.raises(JourneyErrors) as err:
        compile_text(text, path="season.yaml")
    assert err.value.message.startswith("season.yaml:8: YAML error: bad date '2027-02-30'")
