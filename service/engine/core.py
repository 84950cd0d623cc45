"""The pure engine: (journey, enrollment state, event or clock, now) -> decision.

No I/O and no clock here: callers pass `now`, so the service, the simulator and the tests
drive the same code, and the same inputs always give the same decision.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from functools import cached_property
from typing import Any

from transitions import Machine

from service.engine.groups import in_holdout, split_point
from service.engine.guards import Guard
from service.engine.model import EventMatch, Journey, Stage, Transition
from service.engine.state import (
    ContactView,
    Decision,
    EnrollmentState,
    EventView,
    MessageOrder,
    StageChange,
    Status,
)
from service.engine.timing import next_allowed, zone

# Zero-delay moves (timers already due on entry) are chained, but never without bound.
MAX_CHAINED_MOVES = 50
# State-machine models kept bound between steps; more are bound only while steps overlap.
MAX_IDLE_MODELS = 8

# Ended before the journey ran its course: unsent messages are canceled, never sent.
ENDED_EARLY = frozenset({Status.EXITED, Status.CONVERTED, Status.RESTARTED})


class _Model:
    """The python-transitions model: one enrollment for the duration of one step."""

    state: str

    def __init__(self) -> None:
        self.entered: list[str] = []

    def record_entry(self, _event: Any = None) -> None:
        self.entered.append(self.state)


def _trigger_name(stage: str, index: int) -> str:
    return f"{stage}#{index}"


def _move_trigger(stage: str) -> str:
    return f"move_to:{stage}"


def _split_trigger(stage: str, branch: str) -> str:
    return f"{stage}#split:{branch}"


class CompiledJourney:
    """One version of a journey, compiled once and shared by all its enrollments."""

    def __init__(self, journey: Journey, *, version: str, path: str = "", default_tz: str = "UTC"):
        self.journey = journey
        self.id = journey.journey
        self.version = version
        self.path = path
        self.default_tz = default_tz
        self._guards: dict[str, Guard] = {}
        for match in self._all_guarded():
            if match.when is not None and match.when not in self._guards:
                self._guards[match.when] = Guard(match.when)
        # Winning branch per split stage, named by the service from its experiment results.
        self.winners: Mapping[str, str] = {}
        self._idle_models: list[_Model] = []
        self._models_lock = threading.Lock()
        self.machine = Machine(
            model=None,
            states=list(journey.stages),
            initial=journey.initial,
            auto_transitions=False,
            after_state_change="record_entry",
        )
        for name, stage in journey.stages.items():
            for index, transition in enumerate(stage.on):
                self.machine.add_transition(_trigger_name(name, index), name, transition.to)
            for branch, arm in (stage.split or {}).items():
                self.machine.add_transition(_split_trigger(name, branch), name, arm.to)
        for name in journey.stages:
            self.machine.add_transition(_move_trigger(name), "*", name)

    @cached_property
    def date_attributes(self) -> frozenset[str]:
        """Contact attributes this journey's triggers read as dates."""
        stages = self.journey.stages.values()
        return frozenset().union(*(t.trigger.date_attributes() for s in stages for t in s.on))

    @cached_property
    def event_types(self) -> frozenset[str]:
        """Every event type its entry, exit, goal or stages react to: others change none of
        its enrollments."""
        matched = (m.event for m in self._all_guarded() if isinstance(m, EventMatch))
        fired = (t.trigger.event_type() for s in self.journey.stages.values() for t in s.on)
        return frozenset(kind for kind in (*matched, *fired) if kind is not None)

    def _all_guarded(self) -> list[EventMatch | Transition]:
        matches: list[EventMatch | Transition] = [self.journey.entry, *self.journey.exit.events]
        if self.journey.goal:
            matches.append(self.journey.goal)
        for stage in self.journey.stages.values():
            matches.extend(stage.on)
        return matches

    # ----- context and guards -------------------------------------------------------------

    def _context(
        self, contact: ContactView, event: EventView | None, stage: str | None
    ) -> dict[str, Any]:
        return {
            "contact": contact.as_context(),
            "event": event.as_context() if event else {},
            "journey": {"id": self.id, "version": self.version, "persona": self.journey.persona},
            "stage": stage,
        }

    def _guard(self, when: str | None, context: Mapping[str, Any], notes: list[str]) -> bool:
        if when is None:
            return True
        ok, error = self._guards[when].evaluate(context)
        if error:
            notes.append(error)
        return ok

    def _matches(
        self, match: EventMatch, event: EventView, context: Mapping[str, Any], notes: list[str]
    ) -> bool:
        return match.event == event.type and self._guard(match.when, context, notes)

    # ----- entry ----------------------------------------------------------------------------

    def matches_entry(self, contact: ContactView, event: EventView) -> tuple[bool, tuple[str, ...]]:
        """Whether this event (type and guard) would enrol the contact."""
        notes: list[str] = []
        ok = self._matches(self.journey.entry, event, self._context(contact, event, None), notes)
        return ok, tuple(notes)

    def start(
        self, contact: ContactView, *, now: datetime, event: EventView | None = None
    ) -> Decision:
        """Enrol a contact: enter the initial stage and settle any timers already due."""
        stage = self.journey.initial
        state = EnrollmentState(
            journey=self.id,
            version=self.version,
            stage=stage,
            status=Status.ACTIVE,
            entered_at=now,
            visit=1,
            holdout=in_holdout(contact.id, self.id, self.journey.holdout),
        )
        change = StageChange(None, stage, f"entry:{event.type}" if event else "entry", now)
        return self._settle(state, contact, now, [change], [], event)

    # ----- events ---------------------------------------------------------------------------

    def on_event(
        self, state: EnrollmentState, contact: ContactView, event: EventView, *, now: datetime
    ) -> Decision:
        """Apply one event: goal first, then exit rules, then the stage's event transitions."""
        if state.status is not Status.ACTIVE:
            return Decision(state=state, next_due_at=None)
        notes: list[str] = []
        context = self._context(contact, event, state.stage)
        goal = self.journey.goal
        done: list[StageChange] = []  # a goal that does not end her is recorded, then she goes on
        if goal and self._matches(goal, event, context, notes):
            label = f"goal:{event.type}"
            if goal.ends:
                return self._finish(state, Status.CONVERTED, label, now, notes)
            done.append(StageChange(state.stage, state.stage, label, now))
        for rule in self.journey.exit.events:
            if self._matches(rule, event, context, notes):
                return self._finish(state, Status.EXITED, f"exit:{event.type}", now, notes, done)
        stage = self.journey.stages[state.stage]
        for index, transition in enumerate(stage.on):
            if transition.trigger.fires_on(event) and self._guard(transition.when, context, notes):
                trigger = _trigger_name(state.stage, index)
                new_state, change = self._step(state, now, trigger, transition.key())
                return self._settle(new_state, contact, now, [*done, change], notes, event)
        # Attributes may have changed (e.g. a new wedding date): recompute the clock.
        return Decision(
            state=state,
            changes=tuple(done),
            next_due_at=self.next_due(state, contact),
            notes=tuple(notes),
        )

    # ----- clock ----------------------------------------------------------------------------

    def timer_moments(
        self, state: EnrollmentState, contact: ContactView
    ) -> list[tuple[datetime, int, str]]:
        """Fire time, transition index and label of each live timer in the current stage."""
        tz = zone(contact.timezone, self.default_tz)
        moments: list[tuple[datetime, int, str]] = []
        if self.journey.stages[state.stage].split:  # routes the moment she stands in it
            moments.append((state.entered_at, -1, "split"))
        for index, transition in enumerate(self.journey.stages[state.stage].on):
            fire = transition.trigger.moment(state.entered_at, contact, tz)
            if fire is not None:
                moments.append((fire, index, transition.key()))
        checked = state.clock_checked_at
        return sorted(m for m in moments if checked is None or m[0] > checked)

    def next_due(self, state: EnrollmentState, contact: ContactView) -> datetime | None:
        """When the clock should next look at this enrollment."""
        if state.status is not Status.ACTIVE:
            return None
        moments = self.timer_moments(state, contact)
        return moments[0][0] if moments else None

    def on_clock(self, state: EnrollmentState, contact: ContactView, *, now: datetime) -> Decision:
        """Fire the earliest due timer whose guard holds; spent timers are not looked at again."""
        if state.status is not Status.ACTIVE:
            return Decision(state=state)
        notes: list[str] = []
        decision = self._fire_due(state, contact, now, notes)
        if decision is not None:
            return decision
        state = replace(state, clock_checked_at=now)
        return Decision(state=state, next_due_at=self.next_due(state, contact), notes=tuple(notes))

    def _fire_due(
        self, state: EnrollmentState, contact: ContactView, now: datetime, notes: list[str]
    ) -> Decision | None:
        step = self._due_step(state, contact, now, notes)
        if step is None:
            return None
        new_state, change = step
        return self._settle(new_state, contact, now, [change], notes)

    def _due_step(
        self, state: EnrollmentState, contact: ContactView, now: datetime, notes: list[str]
    ) -> tuple[EnrollmentState, StageChange] | None:
        """The one timer (or split) move due now, if any, without settling where it leads."""
        stage = self.journey.stages[state.stage]
        if stage.split:
            branch, label = self.branch_for(state.stage, contact)
            return self._step(state, now, _split_trigger(state.stage, branch), label)
        context = self._context(contact, None, state.stage)
        for fire, index, label in self.timer_moments(state, contact):
            if fire > now:
                break
            if self._guard(stage.on[index].when, context, notes):
                return self._step(state, now, _trigger_name(state.stage, index), label)
        return None

    def branch_for(self, stage: str, contact: ContactView) -> tuple[str, str]:
        """The branch of a split she takes and its history label: the winner once one is
        named (`winner:a`), otherwise her stable share of the weights (`split:a`)."""
        split = self.journey.stages[stage].split or {}
        winner = self.winners.get(stage)
        if winner in split:
            return winner, f"winner:{winner}"
        point = split_point(contact.id, self.id, stage) * sum(b.weight for b in split.values())
        for name, branch in split.items():
            point -= branch.weight
            if point < 0:
                return name, f"split:{name}"
        name = list(split)[-1]  # rounding at the very top of the range
        return name, f"split:{name}"

    # ----- operator actions -----------------------------------------------------------------

    def move_to(
        self, state: EnrollmentState, contact: ContactView, stage: str, *, now: datetime
    ) -> Decision:
        """An operator's manual move to any stage of this version."""
        if stage not in self.journey.stages:
            raise KeyError(stage)
        return self._move(state, contact, now, _move_trigger(stage), "manual", [])

    def adopt(
        self, state: EnrollmentState, contact: ContactView, *, stage: str, now: datetime
    ) -> Decision:
        """Take over an enrollment from another version of this journey, at `stage`.

        She keeps her time in the stage (timers count from when she entered it) and is not
        sent the stage's message again; the new version's timers apply from now on.
        """
        if stage not in self.journey.stages:
            raise KeyError(stage)
        final = self.journey.stages[stage].final
        moved = replace(
            state,
            version=self.version,
            stage=stage,
            clock_checked_at=None,
            status=Status.COMPLETED if final else state.status,
        )
        change = StageChange(state.stage, stage, f"migrate:{state.version}->{self.version}", now)
        return Decision(state=moved, changes=(change,), next_due_at=self.next_due(moved, contact))

    def exit(self, state: EnrollmentState, *, now: datetime, reason: str = "manual") -> Decision:
        """An operator's (or a restart's) early exit."""
        status = Status.RESTARTED if reason == "restart" else Status.EXITED
        return self._finish(state, status, f"exit:{reason}", now, [])

    # ----- internals ------------------------------------------------------------------------

    def _messages(
        self, state: EnrollmentState, contact: ContactView, event: EventView | None
    ) -> list[MessageOrder]:
        stage = self.journey.stages[state.stage]
        if stage.send is None:
            return []
        # Send windows protect people's evenings; a webhook to another system need not wait.
        window = None if stage.send.channel == "webhook" else self.journey.send_window
        due = next_allowed(state.entered_at, window, zone(contact.timezone, self.default_tz))
        return [
            MessageOrder(
                stage=state.stage,
                visit=state.visit,
                channel=stage.send.channel,
                template=stage.send.template,
                due_at=due,
                url=stage.send.url,
                event=event,
            )
        ]

    def _move(
        self,
        state: EnrollmentState,
        contact: ContactView,
        now: datetime,
        trigger: str,
        label: str,
        notes: list[str],
        event: EventView | None = None,
    ) -> Decision:
        new_state, change = self._step(state, now, trigger, label)
        return self._settle(new_state, contact, now, [change], notes, event)

    def _step(
        self, state: EnrollmentState, now: datetime, trigger: str, label: str
    ) -> tuple[EnrollmentState, StageChange]:
        target = self._run_machine(state.stage, trigger)
        new_state = replace(
            state, stage=target, entered_at=now, visit=state.visit + 1, clock_checked_at=None
        )
        return new_state, StageChange(state.stage, target, label, now)

    def _run_machine(self, stage: str, trigger: str) -> str:
        """Fire one trigger for an enrollment standing in `stage`; MachineError if invalid."""
        model = self._checkout_model()
        try:
            self.machine.set_state(stage, model=model)
            model.entered.clear()
            model.trigger(trigger)  # type: ignore[attr-defined]
            return model.entered[-1]
        finally:
            self._checkin_model(model)

    def _checkout_model(self) -> _Model:
        """An idle bound model, or a new one: binding costs more than a step, so they are kept."""
        with self._models_lock:
            if self._idle_models:
                return self._idle_models.pop()
            model = _Model()
            self.machine.add_model(model, initial=self.journey.initial)
            return model

    def _checkin_model(self, model: _Model) -> None:
        """Keep a few models for the next steps and unbind the rest, so threads leak none."""
        with self._models_lock:
            if len(self._idle_models) < MAX_IDLE_MODELS:
                self._idle_models.append(model)
            else:
                self.machine.remove_model(model)

    def _settle(
        self,
        state: EnrollmentState,
        contact: ContactView,
        now: datetime,
        changes: list[StageChange],
        notes: list[str],
        event: EventView | None = None,
    ) -> Decision:
        """After entering a stage: chain timers already due, then send the message of the stage
        the contact ends up in and finish if it is final.

        Stages passed through in zero time send nothing, as a message still waiting for its
        send window is dropped when the contact leaves its stage.
        """
        for _ in range(MAX_CHAINED_MOVES):
            if self.journey.stages[state.stage].final:
                break
            notes.extend(self._skipped(state, contact))
            step = self._due_step(state, contact, now, notes)
            if step is None:
                break
            state, change = step
            changes.append(change)
        else:
            if not self.journey.stages[state.stage].final:
                notes.append(f"stopped after {MAX_CHAINED_MOVES} immediate moves in one step")
        if self.journey.stages[state.stage].final:
            state = replace(state, status=Status.COMPLETED)
        return Decision(
            state=state,
            changes=tuple(changes),
            messages=tuple(self._messages(state, contact, event)),
            next_due_at=self.next_due(state, contact),
            notes=tuple(notes),
        )

    def _skipped(self, state: EnrollmentState, contact: ContactView) -> list[str]:
        """Notes on the stage's timers that will not fire for her (a window already over)."""
        tz = zone(contact.timezone, self.default_tz)
        reasons = (
            t.trigger.skip_reason(state.entered_at, contact, tz) for t in self.stage(state.stage).on
        )
        return [f"stage '{state.stage}': {reason}" for reason in reasons if reason]

    def _finish(
        self,
        state: EnrollmentState,
        status: Status,
        label: str,
        now: datetime,
        notes: list[str],
        before: list[StageChange] | None = None,
    ) -> Decision:
        done = replace(state, status=status)
        return Decision(
            state=done,
            changes=(*(before or []), StageChange(state.stage, state.stage, label, now)),
            notes=tuple(notes),
        )

    def stage(self, name: str) -> Stage:
        """A stage by name."""
        return self.journey.stages[name]
