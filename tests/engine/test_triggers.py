"""Trigger kinds: each one's label, words, summary and moment, and a new kind added through
the registry alone."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
from pydantic import field_validator

from service.engine.core import CompiledJourney, ContactView, EventView, Status
from service.engine.fields import parse_time
from service.engine.loader import compile_text
from service.engine.model import Transition
from service.engine.moments import AtTrigger
from service.engine.triggers import (
    TRIGGERS,
    AfterTrigger,
    EventTrigger,
    Trigger,
    register,
)
from service.engine.validate import run_validate
from service.errors import JourneyErrors
from tests.engine.conftest import utc

FIXTURES = Path(__file__).parent / "fixtures"
NY = ZoneInfo("America/New_York")
ENTERED = utc(2027, 1, 4, 15)  # 10:00 in New York


def _way_out(**keys: Any) -> Transition:
    """A way out as a journey file writes it: the trigger's keys beside `to`."""
    return Transition.model_validate({"to": "next", **keys})


def test_the_built_in_kinds_in_the_order_errors_name_them() -> None:
    assert list(TRIGGERS) == ["event", "after", "at"]
    assert TRIGGERS["event"] is EventTrigger
    assert TRIGGERS["after"] is AfterTrigger
    assert TRIGGERS["at"] is AtTrigger


def test_event_trigger(bride: ContactView) -> None:
    way = _way_out(event="email.clicked", when="event.properties.link == 'favors'")
    assert isinstance(way.trigger, EventTrigger)
    assert way.key() == "event:email.clicked"
    assert way.describe() == "email.clicked (if)"
    assert way.summary() == {
        "to": "next",
        "event": "email.clicked",
        "when": "event.properties.link == 'favors'",
    }
    assert _way_out(event="email.clicked").summary() == {
        "to": "next",
        "event": "email.clicked",
        "when": None,
    }
    assert not way.is_timer
    assert way.trigger.fires_on(EventView(type="email.clicked", time=ENTERED))
    assert not way.trigger.fires_on(EventView(type="email.opened", time=ENTERED))
    assert way.trigger.moment(ENTERED, bride, NY) is None
    assert way.trigger.delay() is None
    assert not way.trigger.fires_on_entry()
    assert way.trigger.date_attributes() == frozenset()


def test_after_trigger(bride: ContactView) -> None:
    way = _way_out(after="1w", when="contact.attributes.vip")
    assert isinstance(way.trigger, AfterTrigger)
    assert way.key() == "after:1w"
    assert way.describe() == "after 1w (if)"
    assert way.summary() == {"to": "next", "after": "1w"}  # the guard is not shown for timers
    assert way.is_timer
    assert not way.trigger.fires_on(EventView(type="email.clicked", time=ENTERED))
    assert way.trigger.moment(ENTERED, bride, NY) == ENTERED + timedelta(weeks=1)
    assert way.trigger.delay() == timedelta(weeks=1)
    assert not way.trigger.fires_on_entry()
    assert _way_out(after="0s").trigger.fires_on_entry()
    assert way.trigger.date_attributes() == frozenset()


def test_at_trigger(bride: ContactView) -> None:
    way = _way_out(at={"attribute": "wedding_date", "offset": "-30d", "time": "10:00"})
    assert isinstance(way.trigger, AtTrigger)
    assert way.key() == "at:wedding_date-30d"
    assert way.describe() == "at wedding_date-30d"
    assert way.summary() == {
        "to": "next",
        "at": {"attribute": "wedding_date", "offset": "-30d", "time": "10:00"},
        "if_past": "now",
    }
    assert way.is_timer
    # 2027-08-19 10:00 in New York (EDT).
    assert way.trigger.moment(ENTERED, bride, NY) == utc(2027, 8, 19, 14)
    assert way.trigger.delay() is None
    assert way.trigger.fires_on_entry()
    assert way.trigger.date_attributes() == frozenset({"wedding_date"})


def test_at_trigger_labels_and_summary_by_offset() -> None:
    later = _way_out(at={"attribute": "wedding_date", "offset": "60d"}, if_past="skip")
    assert later.key() == "at:wedding_date+60d"
    assert later.summary() == {
        "to": "next",
        "at": {"attribute": "wedding_date", "offset": "60d", "time": None},
        "if_past": "skip",
    }
    assert not later.trigger.fires_on_entry()
    same_day = _way_out(at={"attribute": "wedding_date"})
    assert same_day.key() == "at:wedding_date"
    assert same_day.describe() == "at wedding_date"
    assert same_day.summary()["at"]["offset"] == "0s"


def test_at_trigger_moment_when_past_or_missing(bride: ContactView) -> None:
    after_wedding = utc(2027, 10, 1)
    now = _way_out(at={"attribute": "wedding_date", "offset": "-30d"})
    skip = _way_out(at={"attribute": "wedding_date", "offset": "-30d"}, if_past="skip")
    assert now.trigger.moment(after_wedding, bride, NY) == after_wedding  # fires on entry
    assert skip.trigger.moment(after_wedding, bride, NY) is None  # never fires
    undated = ContactView(id="c2", attributes={"wedding_date": "soon"})
    assert now.trigger.moment(ENTERED, undated, NY) is None
    assert now.trigger.moment(ENTERED, ContactView(id="c3"), NY) is None


def test_transitions_can_be_made_from_a_trigger() -> None:
    way = Transition(to="next", trigger=AfterTrigger.model_validate({"after": "5d"}))
    assert way == _way_out(after="5d")


def test_a_key_of_another_kind_cannot_be_registered() -> None:
    class Clashing(Trigger):
        kind: ClassVar[str] = "later"
        options: ClassVar[tuple[str, ...]] = ("if_past",)

        def key(self) -> str:
            return "later"

        def summary(self, when: str | None) -> dict[str, Any]:
            return {}

    with pytest.raises(ValueError, match="trigger key 'if_past' is already taken"):
        register(Clashing)
    assert "later" not in TRIGGERS


# ----- a new kind, added through the registry alone --------------------------------------


class DailyTrigger(Trigger):
    """Fires at the next local time of day after entering the stage: `daily: "09:00"`."""

    kind: ClassVar[str] = "daily"

    daily: time

    @field_validator("daily", mode="before")
    @classmethod
    def _time(cls, value: Any) -> time:
        return parse_time(value)

    def key(self) -> str:
        return f"daily:{self.daily:%H:%M}"

    def summary(self, when: str | None) -> dict[str, Any]:
        return {"daily": f"{self.daily:%H:%M}"}

    def moment(self, entered_at: datetime, contact: ContactView, tz: ZoneInfo) -> datetime:
        local = entered_at.astimezone(tz)
        fire = datetime.combine(local.date(), self.daily, tzinfo=tz)
        if fire <= local:
            fire = datetime.combine(local.date() + timedelta(days=1), self.daily, tzinfo=tz)
        return fire.astimezone(UTC)


DAILY_JOURNEY = """
journey: daily-digest
entry: {event: web.form_submitted}
sample_contact:
  timezone: America/New_York
  attributes: {first_name: Ava, wedding_date: "2027-09-18"}
initial: waiting
stages:
  waiting:
    on:
      - daily: "09:00"
        to: digest
      - event: email.unsubscribed
        to: done
  digest:
    send: {channel: email, template: mini/welcome}
    on:
      - daily: "09:00"
        when: "contact.attributes.more"
        to: digest
      - after: 2d
        to: done
  done: {final: true}
"""


@pytest.fixture
def daily() -> Iterator[type[DailyTrigger]]:
    register(DailyTrigger)
    yield DailyTrigger
    del TRIGGERS[DailyTrigger.kind]


def test_an_unregistered_kind_is_an_unknown_field() -> None:
    with pytest.raises(JourneyErrors) as err:
        compile_text(DAILY_JOURNEY, path="daily.yaml")
    assert "daily.yaml:11: unknown field 'stages.waiting.on.0.daily'" in err.value.message


def test_a_registered_kind_loads_and_describes_itself(daily: type[DailyTrigger]) -> None:
    journey = compile_text(DAILY_JOURNEY, path="daily.yaml")
    way = journey.stage("waiting").on[0]
    assert isinstance(way.trigger, daily)
    assert (way.key(), way.describe(), way.is_timer) == ("daily:09:00", "daily 09:00", True)
    assert way.summary() == {"to": "digest", "daily": "09:00"}
    assert journey.stage("digest").on[0].describe() == "daily 09:00 (if)"


def test_a_registered_kind_fires_through_the_engine(daily: type[DailyTrigger]) -> None:
    journey: CompiledJourney = compile_text(DAILY_JOURNEY, path="daily.yaml")
    her = ContactView(id="c1", timezone="America/New_York", email="ava@example.com")
    start = journey.start(her, now=ENTERED)
    nine_am = utc(2027, 1, 5, 14)  # the next 09:00 in New York
    assert start.next_due_at == nine_am
    assert journey.on_clock(start.state, her, now=nine_am - timedelta(minutes=1)).changes == ()
    fired = journey.on_clock(start.state, her, now=nine_am)
    assert [(c.from_stage, c.to_stage, c.trigger) for c in fired.changes] == [
        ("waiting", "digest", "daily:09:00")
    ]
    assert [m.template for m in fired.messages] == ["mini/welcome"]
    # The guarded daily loop stays quiet without the attribute; the two-day wait ends it.
    assert fired.next_due_at == utc(2027, 1, 6, 14)
    assert journey.on_clock(fired.state, her, now=utc(2027, 1, 6, 14)).changes == ()
    done = journey.on_clock(fired.state, her, now=utc(2027, 1, 7, 14))
    assert done.state.status is Status.COMPLETED


def test_a_registered_kind_passes_validate(daily: type[DailyTrigger], tmp_path: Path) -> None:
    path = tmp_path / "daily.yaml"
    path.write_text(DAILY_JOURNEY)
    out = io.StringIO()
    assert (
        run_validate([path], content_dir=FIXTURES / "content", today=date(2027, 1, 4), out=out) == 0
    )
    assert "1 event and 3 timer transitions" in out.getvalue()
    assert "daily 09:00 -> digest, email.unsubscribed -> done" in out.getvalue()


def test_the_loader_rules_apply_to_a_registered_kind(daily: type[DailyTrigger]) -> None:
    doubled = DAILY_JOURNEY.replace(
        '- daily: "09:00"\n        to: digest',
        '- daily: "09:00"\n        after: 1d\n        to: digest',
        1,
    )
    with pytest.raises(JourneyErrors) as err:
        compile_text(doubled, path="daily.yaml")
    assert (
        "a transition needs exactly one trigger of event, after, at, daily (found after, daily)"
        in err.value.message
    )
    bad = DAILY_JOURNEY.replace('daily: "09:00"', 'daily: "25:00"', 1)
    with pytest.raises(JourneyErrors) as err:
        compile_text(bad, path="daily.yaml")
    assert "daily.yaml:11: stages.waiting.on.0.daily: bad time '25:00'" in err.value.message
