"""What the website should show a contact next: her current stages' recommended content.

Operators read it per journey and stage; the public variant answers the site's own pages,
for the visitor named by the signed `nt` token our email links carry, with the
recommendations only: never who she is or where she stands.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlmodel import Session

from service.catalog.registry import JourneyRegistry
from service.contacts import repository as contacts_repo
from service.reads.agent import active_stages
from service.reads.contact import require_contact
from service.runtime import Runtime
from service.schemas import StrictBody
from service.tracking.links import link_secret, read_visitor_token
from service.tracking.site import check_publishable_key


class StageContent(BaseModel):
    """One active journey's stage and what it recommends."""

    journey: str
    stage: str
    since: datetime
    recommend: list[dict[str, Any]]


class NextContent(BaseModel):
    """The content each of her current stages recommends, for operators and integrations."""

    contact_id: str
    stages: list[StageContent]


class VisitorContentIn(StrictBody):
    """The site's request: its publishable key and the visitor's `nt` token, nothing else."""

    key: str | None = Field(default=None, max_length=200, description="Or X-Nurture-Key.")
    token: str = Field(min_length=1, max_length=2000, description="The visitor's nt token.")


class VisitorContent(BaseModel):
    """Recommendations for the visitor's page, merged across her journeys, without
    anything about her."""

    recommendations: list[dict[str, Any]]


def stage_contents(
    session: Session, journeys: JourneyRegistry, *, contact_id: str
) -> list[StageContent]:
    """Her active enrollments' stages with their `recommend` lists, oldest journey first."""
    return [
        StageContent(
            journey=enrollment.journey_id,
            stage=enrollment.stage,
            since=enrollment.entered_at,
            recommend=list(stage.recommend) if stage else [],
        )
        for enrollment, stage in active_stages(session, journeys, contact_id=contact_id)
    ]


def for_contact(session: Session, journeys: JourneyRegistry, *, contact_id: str) -> NextContent:
    """A known contact's next content (NotFound for an unknown id)."""
    require_contact(session, contact_id)
    return NextContent(
        contact_id=contact_id, stages=stage_contents(session, journeys, contact_id=contact_id)
    )


def for_visitor(runtime: Runtime, body: VisitorContentIn, *, key: str | None) -> VisitorContent:
    """The visitor's recommendations; a forged or expired token is refused (403)."""
    settings = runtime.settings
    check_publishable_key(settings, key or body.key)
    secret = link_secret(settings.secret_key)
    contact_id = read_visitor_token(body.token, secret=secret, now=runtime.clock.now())
    with runtime.db.session() as session:
        if contacts_repo.get_contact(session, contact_id=contact_id) is None:
            return VisitorContent(recommendations=[])  # erased since the link was sent
        stages = stage_contents(session, runtime.journeys, contact_id=contact_id)
    seen: set[str] = set()
    merged = []
    for stage in stages:
        for item in stage.recommend:
            identity = json.dumps(item, sort_keys=True, default=str)
            if identity not in seen:
                seen.add(identity)
                merged.append(item)
    return VisitorContent(recommendations=merged)
