"""`nurture simulate`: one contact through one journey on a virtual clock, no database."""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import yaml

from service.engine.core import ENDED_EARLY, CompiledJourney
from service.engine.durations import parse_duration
from service.engine.entry import decide_entry
from service.engine.loader import (
    LineLoader,
    compile_text,
    journey_files,
    line_of,
    parse_source,
    plain,
)
from service.engine.render import ContentLibrary, PreviewLinks, stage_context
from service.engine.state import (
    ContactView,
    Decision,
    EnrollmentState,
    EventView,
    MessageOrder,
    Status,
)
from service.engine.timing import zone
from service.errors import JourneyError, JourneyErrors, cli_exit

# A runaway timer loop must end: at most this many clock steps per simulation.
MAX_CLOCK_STEPS = 10_000
_EVENT_LINE = re.compile(
    r"^\s*(?P<when>\S+)\s+(?P<type>[a-z][a-z0-9_]*\.[a-z0-9_.-]+)\s*(?P<props>.*)$"
)


@dataclass(frozen=True)
class ScenarioEvent:
    """One behaviour at a point of the virtual clock."""

    at: datetime
    type: str
    properties: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """A contact, a start time, timed events and how long to run the clock."""

    start: datetime
    contact: ContactView
    events: list[ScenarioEvent]
    until: datetime | None = None
    journey: str | None = None
    winners: dict[str, str] = field(default_factory=dict)  # split stage -> branch, as if named


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the simulated timeline."""

    at: datetime
    kind: str
    text: str
    stage: str | None = None


def _time_point(text: Any, start: datetime) -> datetime:
    if isinstance(text, datetime):
        return text if text.tzinfo else text.replace(tzinfo=UTC)
    value = str(text).strip()
    if value.startswith(("+", "-")):
        return start + parse_duration(value, allow_negative=True)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_scenario(text: str, *, path: str) -> Scenario:
    """Read a scenario file; errors name the file and line."""
    try:
        raw = yaml.load(text, Loader=LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise JourneyError(
            f"YAML error: {exc}", path=path, line=mark.line + 1 if mark else None
        ) from None
    if not isinstance(raw, dict):
        raise JourneyError("a scenario must be a YAML mapping", path=path, line=1)
    unknown = set(raw) - {"journey", "start", "contact", "events", "until", "winners"}
    if unknown:
        name = sorted(map(str, unknown))[0]
        raise JourneyError(f"unknown field '{name}'", path=path, line=line_of(raw, (name,)))
    try:
        start = _time_point(
            raw.get("start", "2027-01-04T15:00:00Z"), datetime.min.replace(tzinfo=UTC)
        )
    except ValueError as exc:
        raise JourneyError(f"start: {exc}", path=path, line=line_of(raw, ("start",))) from None
    contact_raw = raw.get("contact") or {}
    if not isinstance(contact_raw, dict):
        raise JourneyError("contact must be a mapping", path=path, line=line_of(raw, ("contact",)))
    contact = ContactView(
        id=str(contact_raw.get("id", "simulated")),
        attributes=plain(contact_raw.get("attributes") or {}),
        timezone=contact_raw.get("timezone"),
        persona=contact_raw.get("persona"),
        email=contact_raw.get("email"),
        phone=contact_raw.get("phone"),
    )
    events: list[ScenarioEvent] = []
    for index, item in enumerate(raw.get("events") or []):
        line = line_of(raw, ("events", index))
        try:
            events.append(_scenario_event(item, start))
        except (ValueError, yaml.YAMLError) as exc:
            raise JourneyError(f"events[{index}]: {exc}", path=path, line=line) from None
    until = None
    if raw.get("until") is not None:
        until = _until(raw["until"], start, path=path, line=line_of(raw, ("until",)))
    events.sort(key=lambda e: e.at)
    winners = raw.get("winners") or {}
    if not isinstance(winners, dict):
        raise JourneyError(
            "winners must map split stages to branches", path=path, line=line_of(raw, ("winners",))
        )
    return Scenario(
        start=start,
        contact=contact,
        events=events,
        until=until,
        journey=raw.get("journey"),
        winners={str(k): str(v) for k, v in winners.items()},
    )


def _until(value: Any, start: datetime, *, path: str, line: int | None) -> datetime:
    try:
        return start + parse_duration(str(value).lstrip("+"))
    except ValueError as exc:
        raise JourneyError(f"until: {exc}", path=path, line=line) from None


def _scenario_event(item: Any, start: datetime) -> ScenarioEvent:
    if isinstance(item, str):
        match = _EVENT_LINE.match(item)
        if not match:
            raise ValueError(f"expected '+2d type {{props}}', got {item!r}")
        props = yaml.safe_load(match["props"]) if match["props"].strip() else {}
        if not isinstance(props, dict):
            raise ValueError(f"properties must be a mapping, got {match['props']!r}")
        return ScenarioEvent(
            at=_time_point(match["when"], start), type=match["type"], properties=props
        )
    if isinstance(item, dict) and "type" in item:
        return ScenarioEvent(
            at=_time_point(item.get("at", "+0s"), start),
            type=str(item["type"]),
            properties=plain(item.get("properties") or {}),
            attributes=plain(item.get("attributes") or {}),
        )
    raise ValueError("an event is a line '+2d type {props}' or a mapping with 'type'")


class Simulation:
    """Drives the engine exactly as the service does, with a virtual clock."""

    def __init__(self, journey: CompiledJourney, *, content: ContentLibrary | None) -> None:
        self.journey = journey
        self.content = content
        self.timeline: list[TimelineEntry] = []
        self._pending: list[tuple[datetime, int, MessageOrder]] = []
        self._seq = 0
        self.holdout = False  # the contact is in the journey's holdout: messages are held

    def run(self, scenario: Scenario) -> list[TimelineEntry]:
        """Run events and timers up to `until` (or every event, then stop); returns the timeline."""
        contact = scenario.contact
        self.journey.winners = scenario.winners
        state: EnrollmentState | None = None
        horizon = scenario.until or datetime.max.replace(tzinfo=UTC)
        for event in (e for e in scenario.events if e.at <= horizon):
            state = self._advance(state, contact, event.at)
            if event.attributes:
                contact = replace(contact, attributes={**contact.attributes, **event.attributes})
            view = EventView(type=event.type, time=event.at, properties=event.properties)
            self._log(event.at, "event", f"{event.type} {_props(event.properties)}".rstrip())
            if state is not None and state.status is Status.ACTIVE:
                state = self._apply(
                    state, contact, self.journey.on_event(state, contact, view, now=event.at)
                )
            entry = decide_entry(
                self.journey,
                contact,
                view,
                active=[state] if state is not None and state.status is Status.ACTIVE else [],
                enrolled_before=state is not None,
                now=event.at,
            )
            self._notes(event.at, entry.notes)
            for restart in entry.restarts:
                state = self._apply(state, contact, restart)
            if entry.start is not None:
                state = self._apply(state, contact, entry.start)
        if scenario.until is not None:
            state = self._advance(state, contact, scenario.until)
        self._flush(horizon, contact)
        return self.timeline

    def _advance(
        self, state: EnrollmentState | None, contact: ContactView, until: datetime
    ) -> EnrollmentState | None:
        for _ in range(MAX_CLOCK_STEPS):
            due = self.journey.next_due(state, contact) if state else None
            if state is None or due is None or due > until:
                self._flush(until, contact)
                return state
            self._flush(due, contact)
            state = self._apply(state, contact, self.journey.on_clock(state, contact, now=due))
        self._log(until, "note", f"stopped after {MAX_CLOCK_STEPS} timer steps")
        return state

    def _apply(
        self, before: EnrollmentState | None, contact: ContactView, decision: Decision
    ) -> EnrollmentState:
        state = decision.state
        for change in decision.changes:
            if change.from_stage is None:
                self.holdout = state.holdout
                group = ", holdout" if state.holdout else ""
                self._log(
                    change.at,
                    "enter",
                    f"{change.to_stage} ({change.trigger}{group})",
                    change.to_stage,
                )
            elif change.trigger.startswith("goal:") and (
                state.status is Status.ACTIVE or change is not decision.changes[-1]
            ):
                self._log(change.at, "goal", f"in {change.from_stage} ({change.trigger}), goes on")
            elif change.trigger.startswith(("goal:", "exit:")):
                self._log(
                    change.at, state.status.value, f"in {change.from_stage} ({change.trigger})"
                )
            else:
                text = f"{change.from_stage} -> {change.to_stage} ({change.trigger})"
                self._log(change.at, "move", text, change.to_stage)
        if decision.changes:
            self._cancel_stale(state, decision.changes[-1].at)
        for order in decision.messages:
            self._seq += 1
            heapq.heappush(self._pending, (order.due_at, self._seq, order))
        if state.status is Status.COMPLETED and (before is None or before.status is Status.ACTIVE):
            self._log(state.entered_at, "completed", f"final stage {state.stage}", state.stage)
        self._notes(
            decision.changes[-1].at if decision.changes else state.entered_at, decision.notes
        )
        if decision.changes and decision.next_due_at and state.status is Status.ACTIVE:
            self._log(decision.changes[-1].at, "wait", f"next timer {_stamp(decision.next_due_at)}")
        return state

    def _cancel_stale(self, state: EnrollmentState, at: datetime) -> None:
        """A message waiting for its send window is dropped once its stage visit is over."""
        keep = []
        for due, seq, order in self._pending:
            ended = state.status in ENDED_EARLY
            if ended or order.visit != state.visit:
                self._log(
                    at, "cancel", f"{order.channel} {order.template} (stage {order.stage} left)"
                )
            else:
                keep.append((due, seq, order))
        heapq.heapify(keep)
        self._pending = keep

    def _flush(self, until: datetime, contact: ContactView) -> None:
        while self._pending and self._pending[0][0] <= until:
            due, _, order = heapq.heappop(self._pending)
            kind = "held" if self.holdout else "send"
            self._log(due, kind, self._describe(order, contact, due), order.stage)

    def _describe(self, order: MessageOrder, contact: ContactView, due: datetime) -> str:
        local = due.astimezone(zone(contact.timezone, self.journey.default_tz))
        head = f"{order.channel} {order.template} at {local:%Y-%m-%d %H:%M} {local.tzname()}"
        if self.content is None:
            return head
        context = stage_context(
            self.journey,
            order.stage,
            contact=contact,
            event=order.event,
            links=PreviewLinks(),
            today=local.date(),
        )
        rendered = self.content.render(order.channel, order.template, context)
        summary = rendered.subject if order.channel == "email" else rendered.body
        return f'{head}: "{" ".join(summary.split())}"'

    def _notes(self, at: datetime, notes: tuple[str, ...]) -> None:
        for note in notes:
            self._log(at, "note", note)

    def _log(self, at: datetime, kind: str, text: str, stage: str | None = None) -> None:
        self.timeline.append(TimelineEntry(at=at, kind=kind, text=text, stage=stage))


def _props(props: dict[str, Any]) -> str:
    return yaml.safe_dump(props, default_flow_style=True, width=1_000).strip() if props else ""


def _stamp(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def format_timeline(entries: list[TimelineEntry]) -> str:
    """The timeline as aligned text lines."""
    return "\n".join(f"{_stamp(e.at)}  {e.kind:<9} {e.text}" for e in entries)


def find_journey(name: str, journeys_dir: Path) -> Path:
    """A journey file given as a path, or found by its id in the journeys folder."""
    candidate = Path(name)
    if candidate.is_file():
        return candidate
    for file in journey_files([journeys_dir]):
        try:
            if (
                parse_source(file.read_text(encoding="utf-8"), path=str(file)).journey.journey
                == name
            ):
                return file
        except JourneyErrors:
            continue
    raise JourneyError(f"no journey with id '{name}' in {journeys_dir}", path=str(journeys_dir))


def run_simulate(
    journey: str,
    *,
    scenario: Path,
    until: str | None,
    journeys_dir: Path,
    content_dir: Path,
    out: TextIO,
) -> int:
    """CLI body: print the simulated timeline; exit 1 with file:line on bad input."""
    try:
        file = find_journey(journey, journeys_dir)
        compiled = compile_text(file.read_text(encoding="utf-8"), path=str(file))
        plan = parse_scenario(scenario.read_text(encoding="utf-8"), path=str(scenario))
        if until:
            plan = replace(plan, until=_until(until, plan.start, path="--until", line=None))
        timeline = Simulation(compiled, content=ContentLibrary(content_dir)).run(plan)
    except (JourneyError, JourneyErrors, OSError) as exc:
        return cli_exit(exc, out)
    out.write(format_timeline(timeline) + "\n")
    return 0
