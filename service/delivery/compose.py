"""Composing: her template with signed links, the open pixel and a first text's STOP hint."""

# Composing is two steps, so a template never renders inside a transaction: `draft` reads
# what the template needs under the claim, `finish` renders it afterwards with no session.

from __future__ import annotations

import html
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlmodel import Session

from service.contacts.profile import contact_view
from service.delivery import outbox
from service.delivery.channels import OutgoingMessage
from service.delivery.rules import CHANNEL_ADDRESS
from service.engine.core import EventView
from service.engine.render import ContentLibrary, stage_context
from service.engine.timing import zone
from service.runtime import Runtime
from service.store.models import Contact, Event, Message
from service.tracking.links import SignedLinks

OPT_OUT_HINT = "Reply STOP to opt out"


def with_pixel(page: str, url: str) -> str:
    """The html part with the open-tracking image just before </body>."""
    pixel = f'<img src="{html.escape(url)}" width="1" height="1" alt="" style="display:none">'
    end = page.lower().rfind("</body>")
    return page[:end] + pixel + page[end:] if end >= 0 else page + pixel


def with_opt_out_hint(body: str, *, first_text: bool) -> str:
    """A journey's first text says how to opt out, unless its template does already."""
    return f"{body}\n{OPT_OUT_HINT}" if first_text and "STOP" not in body else body


def _event(session: Session, message: Message) -> EventView | None:
    """The behaviour that led to the message, for templates that mention it."""
    event = session.get(Event, message.event_id) if message.event_id else None
    if event is None:
        return None
    return EventView(
        type=event.type,
        time=event.time,
        properties=event.properties,
        id=event.event_id,
        source=event.source,
    )


@dataclass(frozen=True)
class Draft:
    """Everything a message's render needs, read under the claim, so no session is held."""

    outgoing: OutgoingMessage  # addressed and linked; its rendered parts are still empty
    context: dict[str, Any]
    open_pixel: str | None  # the open-tracking image of an email, when opens are tracked
    first_text: bool  # a journey's first text, which says how to opt out


def draft(
    session: Session,
    runtime: Runtime,
    *,
    message: Message,
    contact: Contact,
    secret: str,
    now: datetime,
) -> Draft:
    """Read what her message needs, as of her local date, for rendering outside the session."""
    settings = runtime.settings
    compiled = runtime.journeys.get(message.journey_id, message.version)
    event = _event(session, message)
    links = SignedLinks(
        base_url=settings.public_base_url.rstrip("/"),
        secret=secret,
        message_id=message.id,
        contact_id=contact.id,
    )
    local_today = now.astimezone(zone(contact.timezone, settings.default_timezone)).date()
    context = stage_context(
        compiled,
        message.stage,
        contact=contact_view(contact),
        event=event,
        links=links,
        today=local_today,
    )
    first_text = message.channel == "sms" and not outbox.has_sent(
        session, enrollment_id=message.enrollment_id, channel="sms"
    )
    address = CHANNEL_ADDRESS.get(message.channel)
    outgoing = OutgoingMessage(
        id=message.id,
        idempotency_key=message.idempotency_key,
        contact_id=message.contact_id,
        journey=message.journey_id,
        stage=message.stage,
        channel=message.channel,
        template=message.template,
        to=getattr(contact, address) if address else message.url,
        subject="",
        preheader="",
        html="",
        text="",
        body="",
        url=message.url,
        unsubscribe_url=links.unsubscribe_url(),
    )
    return Draft(
        outgoing=outgoing,
        context=context,
        open_pixel=(
            links.open_pixel() if message.channel == "email" and settings.open_tracking else None
        ),
        first_text=first_text,
    )


def finish(content: ContentLibrary, draft: Draft) -> OutgoingMessage:
    """Render a draft, within the template limits; JourneyError when the template cannot."""
    outgoing = draft.outgoing
    rendered = content.render(outgoing.channel, outgoing.template, draft.context)
    page = with_pixel(rendered.html, draft.open_pixel) if draft.open_pixel else rendered.html
    body = rendered.body
    if outgoing.channel == "sms":
        body = with_opt_out_hint(body, first_text=draft.first_text)
    return replace(
        outgoing,
        subject=rendered.subject,
        preheader=rendered.preheader,
        html=page,
        text=rendered.text,
        body=body,
    )
