"""Composing: her template with signed links, the open pixel and a first text's STOP hint."""

from __future__ import annotations

import html
from datetime import datetime

from sqlmodel import Session

from service.contacts.profile import contact_view
from service.delivery import outbox
from service.delivery.channels import OutgoingMessage
from service.delivery.rules import CHANNEL_ADDRESS
from service.engine.core import EventView
from service.engine.render import message_context
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


def compose(
    session: Session,
    runtime: Runtime,
    *,
    message: Message,
    contact: Contact,
    secret: str,
    now: datetime,
) -> OutgoingMessage:
    """Render her message as of her local date; JourneyError when the template cannot."""
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
    context = message_context(
        contact=contact_view(contact).as_context(),
        journey={
            "id": compiled.id,
            "version": compiled.version,
            "persona": compiled.journey.persona,
        },
        stage=message.stage,
        event=event.as_context() if event else None,
        recommendations=list(compiled.stage(message.stage).recommend),
        links=links,
        today=local_today,
    )
    rendered = runtime.content.render(message.channel, message.template, context)
    page = rendered.html
    if message.channel == "email" and settings.open_tracking:
        page = with_pixel(page, links.open_pixel())
    body = rendered.body
    if message.channel == "sms":
        first_text = not outbox.has_sent(
            session, enrollment_id=message.enrollment_id, channel="sms"
        )
        body = with_opt_out_hint(body, first_text=first_text)
    address = CHANNEL_ADDRESS.get(message.channel)
    return OutgoingMessage(
        id=message.id,
        idempotency_key=message.idempotency_key,
        contact_id=message.contact_id,
        journey=message.journey_id,
        stage=message.stage,
        channel=message.channel,
        template=message.template,
        to=getattr(contact, address) if address else message.url,
        subject=rendered.subject,
        preheader=rendered.preheader,
        html=page,
        text=rendered.text,
        body=body,
        url=message.url,
        unsubscribe_url=links.unsubscribe_url(),
    )
