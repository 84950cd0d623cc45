"""Profile writes over the API: a contact created or changed, and her timers following."""

from __future__ import annotations

from sqlmodel import Session

from service.contacts import repository as contacts_repo
from service.contacts.identity import locked_contact
from service.contacts.profile import check_date_attributes, merge_profile
from service.contacts.schemas import ContactIn, ContactPatch
from service.enrollments.unit import reschedule
from service.errors import Conflict, NotFound
from service.runtime import Runtime
from service.store.models import Contact


def upsert_contact(runtime: Runtime, body: ContactIn) -> tuple[Contact, bool]:
    """Find a contact by any identifier (creating it if none matches) and update it."""
    check_date_attributes(
        runtime.journeys.date_attributes, body.attributes, field_prefix="attributes"
    )
    contact, created, _ = runtime.db.write_retrying(
        lambda session: upsert_in(session, runtime=runtime, body=body)
    )
    return contact, created


def upsert_in(session: Session, *, runtime: Runtime, body: ContactIn) -> tuple[Contact, bool, bool]:
    """The upsert inside the caller's transaction (an import runs many); the contact, whether
    it was created, and whether anything about it changed."""
    now = runtime.clock.now()
    identifiers = [
        (name, getattr(body, name))
        for name in ("id", "external_id", "email", "phone")
        if getattr(body, name) is not None
    ]
    owners: dict[str, str] = {}
    for name, value in identifiers:
        if name == "id":
            if contacts_repo.get_contact(session, contact_id=value) is None:
                raise NotFound(f"no contact with id {value!r}")
            owners[name] = value
        else:
            owner = contacts_repo.identifier_owner(session, field=name, value=value)
            if owner is not None:
                owners[name] = owner
    if len(set(owners.values())) > 1:
        raise Conflict(
            "the identifiers given belong to different contacts", detail={"owners": owners}
        )
    created = not owners
    if owners:
        contact = contacts_repo.lock_contact(session, contact_id=next(iter(owners.values())))
        if contact is None:
            raise NotFound("the contact was deleted meanwhile")
    else:
        name, value = identifiers[0]
        contact = contacts_repo.ensure_contact(session, field=name, value=value, now=now)
    identified = False
    for name, value in identifiers:
        if name != "id" and getattr(contact, name) != value:
            setattr(contact, name, value)
            contact.updated_at = now
            identified = True
    changed = merge_profile(
        contact, attributes=body.attributes, persona=body.persona, timezone=body.timezone, now=now
    )
    session.add(contact)
    session.flush()
    if changed:
        reschedule(session, journeys=runtime.journeys, contact=contact)
    return contact, created, changed or identified


def patch_contact(runtime: Runtime, contact_id: str, body: ContactPatch) -> Contact:
    """Merge attributes and set persona/timezone; timers follow the new values."""
    check_date_attributes(
        runtime.journeys.date_attributes, body.attributes, field_prefix="attributes"
    )

    def work(session: Session) -> Contact:
        contact = locked_contact(session, contact_id)
        if merge_profile(
            contact,
            attributes=body.attributes,
            persona=body.persona,
            timezone=body.timezone,
            now=runtime.clock.now(),
        ):
            session.add(contact)
            reschedule(session, journeys=runtime.journeys, contact=contact)
        return contact

    return runtime.db.write_retrying(work)
