"""The website: GET /js/nurture.js and the public POST /track it reports to."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from service.api.deps import AcceptorDep, RuntimeDep
from service.api.errors import error_responses
from service.inbound.website import track_event
from service.runtime import Runtime
from service.schemas import TrackIn, TrackResult
from service.tracking.site import cors_headers

router = APIRouter(tags=["website"])
SNIPPET = (files("service.tracking") / "static" / "nurture.js").read_text(encoding="utf-8")
OriginHeader = Annotated[str | None, Header(include_in_schema=False)]


@router.get(
    "/js/nurture.js",
    summary="The tracking snippet",
    response_class=Response,
    responses={200: {"content": {"application/javascript": {}}}},
)
def snippet() -> Response:
    """Small and dependency-free; cached by browsers for an hour."""
    return Response(
        SNIPPET,
        media_type="application/javascript",
        headers={"Cache-Control": "public, max-age=3600"},
    )


def cors_preflight(runtime: RuntimeDep, origin: OriginHeader = None) -> Response:
    """CORS preflight of a website route: answered for configured origins only."""
    headers = cors_headers(runtime.settings, origin, preflight=True)
    return Response(status_code=204, headers=headers)


@dataclass(frozen=True)
class SiteRequest:
    """A browser's call to a public website route: where it comes from, the key it shows."""

    runtime: Runtime
    response: Response
    origin: str | None
    key: str | None

    def allow_origin(self) -> None:
        """Answer with CORS headers for a configured origin; refuse any other (403, or 404
        when website tracking is off)."""
        self.response.headers.update(cors_headers(self.runtime.settings, self.origin))


def _site_request(
    runtime: RuntimeDep,
    response: Response,
    origin: OriginHeader = None,
    x_nurture_key: Annotated[str | None, Header(description="Publishable key")] = None,
) -> SiteRequest:
    return SiteRequest(runtime, response, origin, x_nurture_key)


SiteRequestDep = Annotated[SiteRequest, Depends(_site_request)]
router.add_api_route("/track", cors_preflight, methods=["OPTIONS"], include_in_schema=False)


@router.post(
    "/track",
    status_code=202,
    response_model=TrackResult,
    summary="Record a web.* event from the browser (publishable key)",
    responses=error_responses(
        400,
        401,
        403,
        404,
        409,
        413,
        422,
        503,
        e401="Missing or unknown publishable key",
        e403="Not a web.* event, an origin not allowed, or an expired visitor token",
        e404="Website tracking is not configured",
    ),
)
def track(body: TrackIn, site: SiteRequestDep, acceptor: AcceptorDep) -> TrackResult:
    """Stored like POST /events and answered before it is applied; the event id (a UUID)
    makes a resend a duplicate."""
    site.allow_origin()
    return track_event(site.runtime, acceptor, body, key=site.key)
