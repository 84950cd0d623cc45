"""The calendar trigger `at`: a moment from a contact's date, the next weekday at a time, or a
campaign date, each with an optional window (`not_before`, `not_after`)."""

from __future__ import annotations

from abc import abstractmethod
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from pydantic import field_validator, model_validator

from service.engine.durations import format_duration, parse_duration
from service.engine.fields import Strict, parse_bound, parse_date, parse_time, parse_weekdays
from service.engine.state import ContactView
from service.engine.timing import at_moment, count_from, local_moment, next_weekday
from service.engine.triggers import IfPast, Trigger, register


class Moment(Strict):
    """What every form of `at` shares: a local time of day, and a window outside which the
    trigger never fires (so a stage for a season already over is skipped)."""

    time: Any = None
    not_before: Any = None  # timedelta from the form's own date, or a date
    not_after: Any = None

    @field_validator("time", mode="before")
    @classmethod
    def _time(cls, value: Any) -> Any:
        return None if value is None else parse_time(value)

    @field_validator("not_before", "not_after", mode="before")
    @classmethod
    def _bound(cls, value: Any) -> Any:
        return None if value is None else parse_bound(value)

    @model_validator(mode="after")
    def _window(self) -> Moment:
        low, high = self.not_before, self.not_after
        if isinstance(low, timedelta) and isinstance(high, timedelta) and low >= high:
            raise ValueError(
                f"the window is empty: not_before {show_bound(low)} is not before"
                f" not_after {show_bound(high)}"
            )
        if isinstance(low, date) and isinstance(high, date) and low > high:
            raise ValueError(f"the window is empty: not_before {low} is after not_after {high}")
        return self

    def window_summary(self) -> dict[str, Any]:
        """The window's bounds as the journey detail shows them, when there are any."""
        bounds = {"not_before": self.not_before, "not_after": self.not_after}
        return {key: show_bound(value) for key, value in bounds.items() if value is not None}


def show_bound(bound: timedelta | date) -> str:
    """A window bound as journey files write it: -30d or 2027-03-31."""
    return format_duration(bound) if isinstance(bound, timedelta) else bound.isoformat()


class CalendarTrigger(Trigger):
    """The forms of `at`: one moment (or the next of a weekly one), `if_past` for a moment
    already past on entry, and the window that may postpone it or skip it."""

    kind: ClassVar[str] = "at"
    options: ClassVar[tuple[str, ...]] = ("if_past",)

    at: Moment
    if_past: IfPast = "now"

    @abstractmethod
    def first(self, entered_at: datetime, contact: ContactView, tz: ZoneInfo) -> datetime | None:
        """The moment itself for this contact, before `if_past` and the window apply."""

    def relative(self, offset: timedelta, contact: ContactView, tz: ZoneInfo) -> datetime | None:
        """A window bound counted from the form's own date; forms without a date have none."""
        return None

    def next_from(self, start: datetime, tz: ZoneInfo) -> datetime:
        """The first moment at or after the window's start that the form allows."""
        at = self.at.time
        if at is None:
            return start
        day = start.astimezone(tz).date()
        fire = local_moment(day, at, tz)
        return fire if fire >= start else local_moment(day + timedelta(days=1), at, tz)

    def _edge(
        self, bound: timedelta | date | None, contact: ContactView, tz: ZoneInfo, *, end: bool
    ) -> datetime | None:
        if bound is None:
            return None
        if isinstance(bound, timedelta):
            return self.relative(bound, contact, tz)
        return local_moment(bound + timedelta(days=1 if end else 0), time(0, 0), tz)

    def _fire(
        self, entered_at: datetime, contact: ContactView, tz: ZoneInfo
    ) -> tuple[datetime | None, str | None]:
        fire = self.first(entered_at, contact, tz)
        if fire is None:
            return None, None
        if self.if_past == "skip" and fire <= entered_at:
            return None, None  # past on entry (or the very moment that led back here)
        fire = max(fire, entered_at)
        start = self._edge(self.at.not_before, contact, tz, end=False)
        if start is not None and fire < start:
            fire = self.next_from(start, tz)
        end = self._edge(self.at.not_after, contact, tz, end=True)
        if end is not None and fire >= end:
            bound = show_bound(self.at.not_after)
            return None, (
                f"'{self.describe()}' skipped: {fire.astimezone(UTC):%Y-%m-%d %H:%M} UTC is"
                f" past its window (not_after {bound})"
            )
        return fire, None

    def moment(self, entered_at: datetime, contact: ContactView, tz: ZoneInfo) -> datetime | None:
        """The moment, moved into its window; None when past (skip) or outside the window."""
        return self._fire(entered_at, contact, tz)[0]

    def skip_reason(self, entered_at: datetime, contact: ContactView, tz: ZoneInfo) -> str | None:
        """Why the moment falls outside its window, for the contact's notes."""
        return self._fire(entered_at, contact, tz)[1]

    def fires_on_entry(self) -> bool:
        """A date already past fires at once unless the policy is skip."""
        return self.if_past == "now"

    def _summary(self, fields: dict[str, Any]) -> dict[str, Any]:
        shown = self.at.time.strftime("%H:%M") if self.at.time else None
        at = {**fields, "time": shown, **self.at.window_summary()}
        return {"at": at, "if_past": self.if_past}


class At(Moment):
    """A point in time relative to a date held in a contact attribute."""

    attribute: str
    offset: timedelta = timedelta(0)

    @field_validator("offset", mode="before")
    @classmethod
    def _offset(cls, value: Any) -> timedelta:
        return parse_duration(value, allow_negative=True)

    @model_validator(mode="after")
    def _reachable(self) -> At:
        if isinstance(self.not_after, timedelta) and self.not_after <= self.offset:
            raise ValueError(
                f"not_after {show_bound(self.not_after)} is not after the offset"
                f" {show_bound(self.offset)}: this wait can never fire"
            )
        return self


@register
class AtTrigger(CalendarTrigger):
    """A moment relative to a contact's date: `at: {attribute: wedding_date, offset: -30d}`;
    `if_past` says whether a moment already past on entry fires at once or never."""

    form: ClassVar[str | None] = "attribute"

    at: At

    def key(self) -> str:
        """`at:ATTRIBUTE`, with its offset: at:wedding_date-30d."""
        offset = self.at.offset
        shown = format_duration(offset) if offset else ""
        return f"at:{self.at.attribute}{'+' if offset > timedelta(0) else ''}{shown}"

    def summary(self, when: str | None) -> dict[str, Any]:
        """The attribute, offset, time of day and window, and the past-moment policy."""
        return self._summary(
            {"attribute": self.at.attribute, "offset": format_duration(self.at.offset)}
        )

    def first(self, entered_at: datetime, contact: ContactView, tz: ZoneInfo) -> datetime | None:
        """The moment from her date."""
        return at_moment(self.at, contact.attributes.get(self.at.attribute), tz)

    def relative(self, offset: timedelta, contact: ContactView, tz: ZoneInfo) -> datetime | None:
        """A bound counted from her date like the offset, at the same time of day."""
        value = contact.attributes.get(self.at.attribute)
        return count_from(value, offset, self.at.time, tz)

    def date_attributes(self) -> frozenset[str]:
        """The attribute it counts from."""
        return frozenset({self.at.attribute})


class OnWeekday(Moment):
    """The next local time of day on one of some weekdays."""

    weekday: list[str]

    @field_validator("weekday", mode="before")
    @classmethod
    def _days(cls, value: Any) -> list[str]:
        return parse_weekdays(value)

    @model_validator(mode="after")
    def _dated_window(self) -> OnWeekday:
        for name in ("not_before", "not_after"):
            if isinstance(getattr(self, name), timedelta):
                raise ValueError(
                    f"a weekday wait has no date to count {name} from: use a date YYYY-MM-DD"
                )
        return self


class DayTrigger(CalendarTrigger):
    """The forms of `at` named by their day (weekdays, a date), in history's key and in words."""

    @abstractmethod
    def day(self) -> str:
        """The day as journey files write it."""

    def key(self) -> str:
        """`at:DAY`: at:tue,thu or at:2027-02-14."""
        return f"at:{self.day()}"

    def describe(self) -> str:
        """The day and the time of day."""
        shown = f" {self.at.time:%H:%M}" if self.at.time else ""
        return f"at {self.day()}{shown}"


@register
class WeekdayTrigger(DayTrigger):
    """The next such weekday and time in her timezone: `at: {weekday: tue, time: "10:00"}`."""

    form: ClassVar[str | None] = "weekday"

    at: OnWeekday

    def day(self) -> str:
        """`tue` (or `tue,thu`)."""
        return ",".join(self.at.weekday)

    def summary(self, when: str | None) -> dict[str, Any]:
        """The weekdays, time of day and window."""
        return self._summary({"weekday": list(self.at.weekday)})

    def first(self, entered_at: datetime, contact: ContactView, tz: ZoneInfo) -> datetime:
        """The first such moment after she entered the stage (never the moment itself, so a
        weekly loop back to the same stage waits a week)."""
        return next_weekday(entered_at, self.at.weekday, self.at.time or time(0, 0), tz)

    def next_from(self, start: datetime, tz: ZoneInfo) -> datetime:
        """The first such moment at or after the window's start."""
        at = self.at.time or time(0, 0)
        return next_weekday(start, self.at.weekday, at, tz, inclusive=True)

    def fires_on_entry(self) -> bool:
        """Never: the next such moment is always after entering."""
        return False


class OnDate(Moment):
    """A campaign date, at a local time of day."""

    date: Any

    @field_validator("date", mode="before")
    @classmethod
    def _date(cls, value: Any) -> date:
        return parse_date(value)

    @model_validator(mode="after")
    def _reachable(self) -> OnDate:
        end = self.not_after
        if (isinstance(end, date) and end < self.date) or (
            isinstance(end, timedelta) and end <= timedelta(0)
        ):
            raise ValueError(
                f"the date {self.date} is past not_after {show_bound(end)}: this wait can never"
                " fire"
            )
        return self


@register
class DateTrigger(DayTrigger):
    """A campaign date in her timezone: `at: {date: 2027-02-14, time: "09:00"}`."""

    form: ClassVar[str | None] = "date"

    at: OnDate

    def day(self) -> str:
        """`2027-02-14`."""
        return self.at.date.isoformat()

    def summary(self, when: str | None) -> dict[str, Any]:
        """The date, time of day and window, and the past-moment policy."""
        return self._summary({"date": self.at.date.isoformat()})

    def first(self, entered_at: datetime, contact: ContactView, tz: ZoneInfo) -> datetime | None:
        """The date at its time of day, in her timezone."""
        return count_from(self.at.date, timedelta(0), self.at.time, tz)

    def relative(self, offset: timedelta, contact: ContactView, tz: ZoneInfo) -> datetime | None:
        """A bound counted from the date, at the same time of day."""
        return count_from(self.at.date, offset, self.at.time, tz)
