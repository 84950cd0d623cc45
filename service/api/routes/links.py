"""The links inside sent messages: one-click unsubscribe, click redirects, the open pixel.

Public (no API key): each token is HMAC-signed for one message, contact and purpose, so a
forged or altered link is refused with 403 before anything is read or written, and a
repeated click, open or unsubscribe is a duplicate event with no second effect. The event is
stored in the inbox and applied by an applier: the reader is answered (or redirected) at once.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Path
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.types import DecoratedCallable

from service.api.deps import AcceptorDep, RuntimeDep
from service.api.errors import error_responses
from service.delivery import outbox
from service.enrollments.acceptor import Acceptor
from service.errors import Forbidden, NotFound
from service.runtime import Runtime
from service.schemas import EventIn
from service.tracking.links import CLICK, OPEN, UNSUBSCRIBE, link_secret, read_token
from service.tracking.site import landing_url

router = APIRouter(tags=["links"])
Token = Annotated[str, Path(max_length=4096, description="A signed link token")]
SOURCE = "nurture.links"
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache"}
_HTML: dict[int | str, dict[str, Any]] = {200: {"content": {"text/html": {}}}}
_REFUSED = error_responses(403, 422, 503, e403="Not a link we signed, or not one for this action")
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto">{body}</body></html>
"""


def _payload(kind: str) -> Any:
    """A dependency reading the path token as a verified link of this kind (403 otherwise)."""

    def read(token: Token, runtime: RuntimeDep) -> dict[str, Any]:
        return read_token(token, secret=link_secret(runtime.settings.secret_key), kind=kind)

    return Depends(read)


Unsubscribe = Annotated[dict[str, Any], _payload(UNSUBSCRIBE)]
Click = Annotated[dict[str, Any], _payload(CLICK)]
Open = Annotated[dict[str, Any], _payload(OPEN)]


def _record(
    runtime: Runtime,
    acceptor: Acceptor,
    payload: dict[str, Any],
    *,
    type: str,
    id: str,
    **properties: str,
) -> str | None:
    """Store the link's event for its message's contact (if still there) in the inbox;
    returns that contact's id."""
    with runtime.db.session() as session:
        message = outbox.get_message(session, message_id=payload["m"])
    if message is None:  # the contact was erased since; nothing is left to record
        return None
    acceptor.store(
        [
            EventIn.internal(
                id=id[:200],
                type=type,
                source=SOURCE,
                contact={"id": message.contact_id},
                properties={"message_id": message.id, "journey": message.journey_id, **properties},
            )
        ]
    )
    return message.contact_id


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=title, body=body), headers=NO_CACHE)


def _unsubscribe_page(
    method: str, summary: str
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """Route an HTML page at the unsubscribe link, refused for a link we did not sign."""
    return router.api_route(
        "/u/{token}",
        methods=[method],
        response_class=HTMLResponse,
        summary=summary,
        responses={**_HTML, **_REFUSED},
    )


@_unsubscribe_page("GET", "Unsubscribe confirmation page")
def confirm_unsubscribe(token: Token, _link: Unsubscribe) -> HTMLResponse:
    """Only asks: mail scanners fetch links, so a GET must never unsubscribe anyone."""
    form = (
        "<h1>Unsubscribe?</h1><p>You will get no more marketing email from us.</p>"
        f'<form method="post" action="/u/{html.escape(token)}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
    )
    return _page("Unsubscribe", form)


@_unsubscribe_page("POST", "One-click unsubscribe")
def unsubscribe(link: Unsubscribe, runtime: RuntimeDep, acceptor: AcceptorDep) -> HTMLResponse:
    """RFC 8058 one-click: records email.unsubscribed, which withdraws email consent as it
    is applied (stored for good before the page says so)."""
    _record(runtime, acceptor, link, type="email.unsubscribed", id=f"unsubscribe:{link['m']}")
    return _page("Unsubscribed", "<h1>You are unsubscribed</h1><p>Sorry to see you go.</p>")


@router.get(
    "/c/{token}",
    status_code=302,
    summary="Tracked link: record the click, redirect",
    response_class=RedirectResponse,
    responses={
        302: {
            "description": "To the link's target",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        **_REFUSED,
        **error_responses(404, e404="The link's message no longer exists"),
    },
)
def click(link: Click, runtime: RuntimeDep, acceptor: AcceptorDep) -> RedirectResponse:
    """Records email.clicked with the link's name, then sends the reader on to the target;
    never redirects for a message that is gone or to anything but an http(s) address."""
    name, url = str(link["n"]), str(link["u"])
    if urlsplit(url).scheme not in ("http", "https"):
        raise Forbidden("link target is not an http(s) address")
    contact_id = _record(
        runtime,
        acceptor,
        link,
        type="email.clicked",
        id=f"click:{link['m']}:{name}",
        link=name,
        url=url,
    )
    if contact_id is None:
        raise NotFound("this link's message no longer exists")
    url = landing_url(runtime.settings, url, contact_id=contact_id, now=runtime.clock.now())
    return RedirectResponse(url, status_code=302, headers=NO_CACHE)


@router.get(
    "/o/{token}",
    summary="Open-tracking pixel",
    response_class=Response,
    responses={200: {"content": {"image/gif": {}}}, **_REFUSED},
)
def opened(link: Open, runtime: RuntimeDep, acceptor: AcceptorDep) -> Response:
    """Records email.opened once per message and answers with a transparent 1x1 GIF."""
    _record(runtime, acceptor, link, type="email.opened", id=f"open:{link['m']}")
    return Response(PIXEL, media_type="image/gif", headers=NO_CACHE)
