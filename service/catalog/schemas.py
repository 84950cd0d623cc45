"""Journey answers: the list, one journey's definition and versions, stuck contacts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class StageSummary(BaseModel):
    """One stage of a journey version."""

    name: str
    final: bool
    send: dict[str, Any] | None
    transitions: list[dict[str, Any]]
    active: int


class JourneyListItem(BaseModel):
    """A loaded journey with live counts."""

    id: str
    version: str
    persona: str | None
    path: str
    active_by_stage: dict[str, int]


class JourneyOut(BaseModel):
    """A journey's definition summary and its stored versions."""

    id: str
    version: str
    persona: str | None
    description: str | None
    entry: dict[str, Any]
    exit: list[dict[str, Any]]
    goal: dict[str, Any] | None
    initial: str
    stages: list[StageSummary]
    versions: list[dict[str, Any]]
    winners: dict[str, str] = Field(
        default_factory=dict, description="split stage -> the branch its winner rule named"
    )


class StuckEnrollment(BaseModel):
    """An active enrollment that nothing is going to move, and why."""

    contact_id: str
    enrollment_id: str
    version: str
    stage: str
    entered_at: datetime
    next_due_at: datetime | None
    reason: str


class VersionRef(BaseModel):
    """One journey version, as a reload reports it."""

    journey: str
    version: str


class NewVersion(VersionRef):
    """A journey whose file became a new current version (`previous` None: a new journey)."""

    previous: str | None
    path: str


class RemovedJourney(VersionRef):
    """A journey whose file is gone: no new entries; its enrolled contacts finish."""

    active: int


class ReloadReport(BaseModel):
    """What a reload (or a start-up) changed in the set of current journey versions."""

    generation: int
    changed: bool
    new_versions: list[NewVersion]
    unchanged: list[VersionRef]
    removed: list[RemovedJourney]
