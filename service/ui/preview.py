"""Template preview: one stage's message rendered for a contact or the journey's sample
contact, through the same checks `nurture validate` runs, so it shows the same errors."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from service.contacts.profile import contact_view
from service.engine.render import Rendered, sms_segments
from service.engine.state import ContactView
from service.engine.timing import zone
from service.engine.validate import check_stage, sample_contact
from service.errors import InvalidInput, JourneyError
from service.reads import contact as reads
from service.runtime import Runtime
from service.ui.contact_page import display_name


@dataclass(frozen=True)
class Preview:
    """A rendered stage message, or the problem that stopped it."""

    journey: str
    stage: str
    who: str
    rendered: Rendered | None = None
    error: str | None = None
    segments: tuple[str, int] | None = None


def _who(
    session: Session, runtime: Runtime, journey_id: str, contact_id: str | None
) -> tuple[ContactView, str]:
    compiled = runtime.journeys.current_of(journey_id)
    if not contact_id:
        return sample_contact(compiled), "the journey's sample contact"
    contact = reads.require_contact(session, contact_id)
    return contact_view(contact), display_name(contact)


def preview(
    session: Session, runtime: Runtime, *, journey_id: str, stage: str, contact_id: str | None
) -> Preview:
    """Render `stage` of the journey's current version as of her local today."""
    compiled = runtime.journeys.current_of(journey_id)
    if stage not in compiled.journey.stages:
        raise InvalidInput(f"journey '{journey_id}' has no stage '{stage}'", field="stage")
    contact, who = _who(session, runtime, journey_id, contact_id)
    source = runtime.journeys.catalog.sources[journey_id]
    today = (
        runtime.clock.now()
        .astimezone(zone(contact.timezone, runtime.settings.default_timezone))
        .date()
    )
    try:
        rendered = check_stage(
            source, compiled, stage, runtime.content, contact=contact, today=today
        )
    except JourneyError as exc:
        return Preview(journey_id, stage, who, error=exc.message)
    segments = sms_segments(rendered.body) if rendered and rendered.channel == "sms" else None
    return Preview(journey_id, stage, who, rendered=rendered, segments=segments)
