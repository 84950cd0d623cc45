"""Context for people talking to a contact: the agent card by phone for call-center
screen-pops, and the next content for the website (operators, or the visitor herself)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import ReadScope, RuntimeDep, SessionDep
from service.api.errors import error_responses
from service.api.params import ContactId
from service.api.routes.track import SiteRequestDep, cors_preflight
from service.reads import agent, next_content
from service.reads.agent import AgentCard
from service.reads.next_content import NextContent, VisitorContent, VisitorContentIn

router = APIRouter(tags=["contacts"])


@router.get(
    "/contacts/lookup",
    response_model=AgentCard,
    dependencies=[ReadScope],
    summary="The agent card of whoever holds a phone number",
    responses=error_responses(401, 403, 404, 422, 503, e404="No contact holds this number"),
)
def lookup(
    runtime: RuntimeDep,
    session: SessionDep,
    phone: Annotated[
        str,
        Query(
            min_length=1,
            max_length=40,
            description="E.164 (+15555550100), or a national number read in NURTURE_DEFAULT_REGION",
        ),
    ],
) -> AgentCard:
    """For a CTI screen-pop: who she is, her journeys, latest messages and clicks, consent."""
    region = runtime.settings.default_region
    return agent.lookup_by_phone(session, runtime.journeys, phone=phone, region=region)


@router.get(
    "/contacts/{contact_id}/next-content",
    response_model=NextContent,
    dependencies=[ReadScope],
    summary="What each of her current stages recommends",
    responses=error_responses(401, 403, 404, 422, 503),
)
def contact_next_content(
    contact_id: ContactId, runtime: RuntimeDep, session: SessionDep
) -> NextContent:
    """Per active journey: the stage, since when, and its `recommend` list."""
    return next_content.for_contact(session, runtime.journeys, contact_id=contact_id)


router.add_api_route("/next-content", cors_preflight, methods=["OPTIONS"], include_in_schema=False)


@router.post(
    "/next-content",
    response_model=VisitorContent,
    tags=["website"],
    summary="Recommendations for the visitor of a page (publishable key)",
    responses=error_responses(400, 401, 403, 404, 413, 422, 503),
)
def visitor_next_content(body: VisitorContentIn, site: SiteRequestDep) -> VisitorContent:
    """The visitor is the one the signed `nt` token names; nothing about her is returned."""
    site.allow_origin()
    return next_content.for_visitor(site.runtime, body, key=site.key)
