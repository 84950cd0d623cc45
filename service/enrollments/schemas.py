"""What units of work answer: moves, enrollments, event results, actions, migrations."""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from service.schemas import StrictBody, strict_example

# Answers name a row's `journey_id` `journey`; read from the row under either name.
JourneyName = Annotated[str, Field(validation_alias=AliasChoices("journey", "journey_id"))]


class EnrollIn(StrictBody):
    """Manual enrollment in a journey's current version."""

    model_config = strict_example({"journey": "bride"})

    journey: str = Field(min_length=1, max_length=200)


class MoveIn(StrictBody):
    """Manual move to a stage of the enrollment's version."""

    model_config = strict_example({"stage": "favors"})

    stage: str = Field(min_length=1, max_length=200)


class Move(BaseModel):
    """One stage change caused by a request."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    journey: str
    from_: str | None = Field(alias="from")
    to: str
    trigger: str


class Enrolled(BaseModel):
    """A new enrollment caused by a request."""

    journey: JourneyName
    version: str
    stage: str
    status: str


class EventResult(BaseModel):
    """What one event did."""

    id: str
    source: str
    status: str = Field(description="accepted, or duplicate when already received")
    contact_id: str
    moved: list[Move] = Field(default_factory=list)
    enrolled: list[Enrolled] = Field(default_factory=list)


class EventResults(BaseModel):
    """What a batch did, event by event in the order given."""

    results: list[EventResult]


class EventAccepted(BaseModel):
    """An event stored to be applied (202), or found already stored."""

    id: str
    source: str
    status: str = Field(description="accepted, or duplicate when already received")


class EventsAccepted(BaseModel):
    """A batch stored to be applied, event by event in the order given."""

    results: list[EventAccepted]


class ActionResult(BaseModel):
    """What an operator action did."""

    contact_id: str
    moved: list[Move] = Field(default_factory=list)
    enrolled: list[Enrolled] = Field(default_factory=list)


class MigrateIn(StrictBody):
    """Move active enrollments of older versions onto the journey's current version."""

    model_config = strict_example({"dry_run": True, "stage_map": {"last_month": "final_details"}})

    dry_run: bool = Field(default=True, description="Only report what would happen.")
    from_version: str | None = Field(default=None, description="Only this old version.")
    stage_map: dict[str, str] = Field(
        default_factory=dict, description="Old stage name -> stage of the current version."
    )


class MigrationReport(BaseModel):
    """What a migration did (or, in a dry run, would do)."""

    journey: str
    to_version: str
    dry_run: bool
    migrated: dict[str, int] = Field(description="'version:stage -> stage' -> enrollments")
    unmapped: dict[str, int] = Field(
        description="'version:stage' with no stage in the current version -> enrollments left"
    )


class AudienceIn(StrictBody):
    """Enrol every existing contact a guard matches; a dry run (the default) only counts."""

    model_config = strict_example(
        {
            "where": "contact.attributes.wedding_date > '2027-06-01'",
            "dry_run": True,
        }
    )

    where: str = Field(min_length=1, max_length=2000, description="a guard over `contact`")
    dry_run: bool = True


class AudienceReport(BaseModel):
    """What an audience enrolment did (or, in a dry run, would do)."""

    journey: str
    version: str
    dry_run: bool
    contacts: int = Field(description="contacts looked at")
    matched: int
    enrolled: int
    skipped_reentry: int = Field(description="matched, but the re-entry policy keeps them out")
    not_matched: int
    guard_errors: int = Field(description="contacts for whom the guard failed (not matched)")
    first_guard_error: str | None = None
