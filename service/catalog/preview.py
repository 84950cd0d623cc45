"""`nurture render`: one message as a contact would get it, to read before it is sent: the
subject and text printed, the HTML written to a file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TextIO

import yaml

from service.catalog.send_test import as_test_message, send_test
from service.config import Settings
from service.contacts import repository as contacts_repo
from service.contacts.profile import contact_view
from service.engine.core import CompiledJourney
from service.engine.loader import compile_text, journey_files
from service.engine.render import ContentLibrary, PreviewLinks, stage_context
from service.engine.state import ContactView
from service.engine.validate import sample_contact
from service.errors import JourneyError, JourneyErrors, NurtureError, cli_exit
from service.store.db import Database

CHANNELS = ("email", "sms", "webhook")


@dataclass(frozen=True)
class Preview:
    """What to render: the template, its channel, and the journey stage that sends it."""

    template: str
    channel: str
    journey: CompiledJourney | None
    stage: str | None


def _sender(template: str, journeys_dir: Path, stage: str | None) -> tuple[CompiledJourney, str]:
    """The first journey stage that sends `template` (the named stage, if given)."""
    for file in journey_files([journeys_dir]):
        try:
            journey = compile_text(file.read_text(encoding="utf-8"), path=str(file))
        except (JourneyErrors, OSError):
            continue
        for name, found in journey.journey.stages.items():
            if found.send and found.send.template == template and stage in (None, name):
                return journey, name
    raise JourneyError(
        f"no journey stage sends '{template}'" + (f" as stage '{stage}'" if stage else ""),
        path=str(journeys_dir),
    )


def _contact_file(path: Path) -> ContactView:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise JourneyError("a contact file must be a YAML mapping", path=str(path), line=1)
    unknown = sorted(set(data) - {"id", "email", "phone", "timezone", "persona", "attributes"})
    if unknown:
        raise JourneyError(f"unknown field '{unknown[0]}'", path=str(path))
    return ContactView(
        id=str(data.get("id", "preview")),
        attributes=data.get("attributes") or {},
        timezone=data.get("timezone"),
        persona=data.get("persona"),
        email=data.get("email"),
        phone=data.get("phone"),
    )


def _stored_contact(settings: Settings, contact_id: str) -> ContactView:
    db = Database(settings.database_url)
    try:
        with db.session() as session:
            contact = contacts_repo.get_contact(session, contact_id=contact_id)
            if contact is None:
                raise NurtureError(f"no contact with id {contact_id!r}")
            return contact_view(contact)
    finally:
        db.dispose()


def _show(rendered: Any, html_out: Path, out: TextIO) -> None:
    if rendered.channel != "email":
        out.write(f"{rendered.body}\n")
        return
    out.write(f"Subject: {rendered.subject}\n")
    if rendered.preheader:
        out.write(f"Preheader: {rendered.preheader}\n")
    out.write(f"\n{rendered.text}\n")
    html_out.write_text(rendered.html + "\n", encoding="utf-8")
    out.write(f"\n(HTML written to {html_out})\n")


def run_render(
    template: str,
    *,
    settings: Settings,
    contact_file: Path | None,
    contact_id: str | None,
    stage: str | None,
    html_out: Path | None,
    today: date,
    out: TextIO,
    send_to: str | None = None,
) -> int:
    """CLI body: render `template` (e.g. bride/welcome, or bride/welcome.email) for a contact
    from a file, from the database, or the sending journey's sample contact; with `send_to`,
    also send it once as a test through the configured provider."""
    content = ContentLibrary(settings.content_dir)
    name, _, channel = template.partition(".")
    try:
        channels = [channel] if channel else [c for c in CHANNELS if content.exists(name, c)]
        if len(channels) != 1 or not content.exists(name, channels[0]):
            found = ", ".join(channels) or "none"
            raise JourneyError(
                f"template '{template}': name exactly one channel file (found {found})",
                path=str(settings.content_dir),
            )
        journey, stage_name = _sender(name, settings.journeys_dir, stage)
        if contact_file is not None:
            contact = _contact_file(contact_file)
        elif contact_id is not None:
            contact = _stored_contact(settings, contact_id)
        else:
            contact = sample_contact(journey)
        context = stage_context(
            journey, stage_name, contact=contact, event=None, links=PreviewLinks(), today=today
        )
        rendered = content.render(channels[0], name, context)
        result = None
        if send_to is not None:
            message = as_test_message(rendered, journey=journey.id, stage=stage_name, to=send_to)
            result = send_test(settings, message)
    except (NurtureError, OSError) as exc:
        return cli_exit(exc, out)
    _show(rendered, html_out or Path(f"{name.replace('/', '-')}.html"), out)
    if result is None:
        return 0
    if result.ok:
        out.write(f"\nSent as a test to {send_to} ({result.provider_message_id}).\n")
        return 0
    out.write(f"\nNot sent: {result.error}\n")
    return 1
