"""Contact rows: lookups by identifier, locking for a unit of work, consent and suppression."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, or_
from sqlmodel import Session, col, select

from service.store.db import insert_ignoring_conflicts
from service.store.intake import AnonymousEvent, AnonymousId
from service.store.models import (
    Consent,
    ConsentStatus,
    Contact,
    new_id,
)

IDENTIFIERS = ("email", "phone", "external_id")


def get_contact(session: Session, *, contact_id: str) -> Contact | None:
    """A contact by id."""
    return session.get(Contact, contact_id)


def find_contact(session: Session, *, field: str, value: str) -> Contact | None:
    """A contact by one identifier (email, phone or external_id)."""
    if field not in IDENTIFIERS:
        raise ValueError(f"not an identifier: {field}")
    return session.exec(select(Contact).where(getattr(Contact, field) == value)).first()


def lock_contact(session: Session, *, contact_id: str) -> Contact | None:
    """The contact row, locked until commit: all work on one contact happens in turn."""
    statement = select(Contact).where(Contact.id == contact_id).with_for_update()
    return session.exec(statement.execution_options(populate_existing=True)).first()


def lock_contacts(session: Session, *, contact_ids: Sequence[str]) -> dict[str, Contact]:
    """A batch of contact rows, locked in id order until commit, as one contact's work is."""
    statement = (
        select(Contact)
        .where(col(Contact.id).in_(contact_ids))
        .order_by(col(Contact.id))
        .with_for_update()
    )
    found = session.exec(statement.execution_options(populate_existing=True)).all()
    return {contact.id: contact for contact in found}


def ensure_contact(session: Session, *, field: str, value: str, now: datetime) -> Contact:
    """The contact holding this identifier, created if new, and locked."""
    if field == "id":
        contact = lock_contact(session, contact_id=value)
        if contact is None:
            raise LookupError(value)
        return contact
    created = new_id()
    values = {"id": created, field: value, "attributes": {}, "created_at": now, "updated_at": now}
    if insert_ignoring_conflicts(session, Contact, values):
        contact = lock_contact(session, contact_id=created)  # hers alone: no lookup needed
    else:  # someone holds it already (a concurrent writer, say): hers is that row
        found = find_contact(session, field=field, value=value)
        if found is None:  # the identifier was taken by a contact deleted meanwhile
            raise LookupError(value)
        contact = lock_contact(session, contact_id=found.id)
    assert contact is not None
    return contact


def contact_rows(
    session: Session,
    *,
    ids: Collection[str],
    identifiers: Mapping[str, Collection[str]],
    lock: bool,
) -> list[dict[str, Any]]:
    """The rows (as column values) of every contact with one of the ids or holding one of
    the identifiers (email, phone, external_id: values), in one query, locked in id order
    until commit unless `lock` is false: a batch's contacts at once."""
    table = Contact.__table__  # type: ignore[attr-defined]
    wanted = [table.c.id.in_(ids)] if ids else []
    wanted += [table.c[name].in_(values) for name, values in identifiers.items() if values]
    if not wanted:
        return []
    statement = select(table).where(or_(*wanted)).order_by(table.c.id)
    if lock:
        statement = statement.with_for_update()
    return [dict(row._mapping) for row in session.execute(statement)]


def contacts_after(session: Session, *, after_id: str, limit: int) -> Sequence[Contact]:
    """The next `limit` contacts in id order after `after_id`, for walking every contact in
    batches without one long transaction. An erased contact's history (kept under an id with
    no identifier, see `add_anonymous`) is nobody: it is never walked."""
    statement = (
        select(Contact).where(col(Contact.id) > after_id, _identified()).order_by(col(Contact.id))
    )
    return session.exec(statement.limit(limit)).all()


def _identified() -> ColumnElement[bool]:
    """A contact someone can be: every contact is created with an identifier and never loses
    one, so only an erased contact's anonymous history has none."""
    return or_(*(col(getattr(Contact, name)).is_not(None) for name in IDENTIFIERS))


def add_anonymous(session: Session, *, history_seq: int, now: datetime) -> Contact:
    """A contact row under a new random id with nothing about anyone, to keep an erased
    contact's history under: no identifier, attribute, persona or time zone."""
    contact = Contact(attributes={}, history_seq=history_seq, created_at=now, updated_at=now)
    session.add(contact)
    session.flush()
    return contact


def delete_personal_rows(session: Session, *, contact_id: str) -> None:
    """Her consents, her analytics SDK's anonymous ids and their waiting events."""
    anonymous_ids = select(AnonymousId.anonymous_id).where(AnonymousId.contact_id == contact_id)
    session.execute(
        delete(AnonymousEvent).where(col(AnonymousEvent.anonymous_id).in_(anonymous_ids))
    )
    session.execute(delete(AnonymousId).where(col(AnonymousId.contact_id) == contact_id))
    session.execute(delete(Consent).where(col(Consent.contact_id) == contact_id))


def identifier_owner(session: Session, *, field: str, value: str) -> str | None:
    """Id of the contact that holds an identifier, if any."""
    contact = find_contact(session, field=field, value=value)
    return contact.id if contact else None


def identifier_owners(
    session: Session, *, identifiers: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The contact id holding each of many (email | phone | external_id, value) pairs that
    someone holds, in one query per kind of identifier."""
    wanted: dict[str, set[str]] = {}
    for name, value in identifiers:
        if name not in IDENTIFIERS:
            raise ValueError(f"not an identifier: {name}")
        wanted.setdefault(name, set()).add(value)
    owners: dict[tuple[str, str], str] = {}
    for name, values in wanted.items():
        column = col(getattr(Contact, name))
        found = session.exec(select(column, Contact.id).where(column.in_(values))).all()
        owners.update({(name, value): contact_id for value, contact_id in found})
    return owners


def contact_consents(session: Session, *, contact_id: str) -> Sequence[Consent]:
    """Every channel's consent row of a contact."""
    statement = select(Consent).where(Consent.contact_id == contact_id).order_by(Consent.channel)
    return session.exec(statement).all()


def consent_states(
    session: Session, *, contact_ids: Collection[str]
) -> Sequence[tuple[str, str, str, str]]:
    """Id, contact, channel and status of every consent row of many contacts, in one query."""
    statement = select(Consent.id, Consent.contact_id, Consent.channel, Consent.status)
    return session.exec(statement.where(col(Consent.contact_id).in_(contact_ids))).all()


def set_consent(
    session: Session,
    *,
    contact_id: str,
    channel: str,
    now: datetime,
    status: ConsentStatus | None = None,
    reason: str | None = None,
    suppressed: bool | None = None,
) -> Consent:
    """Record a consent change or a suppression for one channel."""
    statement = select(Consent).where(Consent.contact_id == contact_id, Consent.channel == channel)
    consent = session.exec(statement).first()
    if consent is None:
        consent = Consent(contact_id=contact_id, channel=channel, updated_at=now)
    if status is not None:
        consent.status = status
        consent.reason = reason
    if suppressed is not None:
        consent.suppressed = suppressed
        consent.suppression_reason = reason if suppressed else None
    consent.updated_at = now
    session.add(consent)
    return consent


def blocked_reason(session: Session, *, contact_id: str, channel: str) -> str | None:
    """Why a channel may not be used for this contact, or None when it may."""
    statement = select(Consent).where(Consent.contact_id == contact_id, Consent.channel == channel)
    consent = session.exec(statement).first()
    if consent is None:
        return None
    if consent.status == ConsentStatus.WITHDRAWN:
        return f"consent withdrawn ({consent.reason or 'no reason'})"
    if consent.suppressed:
        return f"suppressed ({consent.suppression_reason or 'no reason'})"
    return None
