"""Who an event or request is about: identifier resolution, and identifiers filled in."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from service.contacts import repository as contacts_repo
from service.errors import NotFound
from service.store.models import Contact

Identifiers = list[tuple[str, str]]  # (id | external_id | email | phone, value), strongest first


def locked_contact(session: Session, contact_id: str) -> Contact:
    """The contact's row, locked for this unit of work, or NotFound."""
    contact = contacts_repo.lock_contact(session, contact_id=contact_id)
    if contact is None:
        raise NotFound(f"no contact with id {contact_id!r}")
    return contact


def event_contact(session: Session, identifiers: Identifiers, *, now: datetime) -> Contact:
    """The contact an event is about, locked: whoever holds its strongest known identifier
    (so a shop's order with a new customer id and a known email reaches her), else a new one.

    Raises LookupError(name, value) for an unknown contact id, or an identifier whose holder
    was erased meanwhile.
    """
    for name, value in identifiers:
        owner = (
            value
            if name == "id"
            else contacts_repo.identifier_owner(session, field=name, value=value)
        )
        if owner is None:
            continue
        contact = contacts_repo.lock_contact(session, contact_id=owner)
        if contact is not None:
            return contact
        if name == "id":
            raise LookupError(name, value)
    name, value = identifiers[0]
    if name == "id":
        raise LookupError(name, value)
    try:
        return contacts_repo.ensure_contact(session, field=name, value=value, now=now)
    except LookupError:  # its holder was erased meanwhile
        raise LookupError(name, value) from None


def attach_identifiers(session: Session, contact: Contact, identifiers: Identifiers) -> None:
    """Fill in identifiers the contact lacks, unless another contact already holds them."""
    for name, value in identifiers:
        if name == "id" or getattr(contact, name) is not None:
            continue
        if contacts_repo.identifier_owner(session, field=name, value=value) is None:
            setattr(contact, name, value)
