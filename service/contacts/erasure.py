"""The right to erasure: a contact and everything about her, deleted for good."""

from __future__ import annotations

from sqlmodel import Session

from service.contacts.identity import locked_contact
from service.store.db import Database


def erase_contact(db: Database, *, contact_id: str) -> None:
    """Erase a contact and everything about her (events, enrollments, messages, history).

    The database cascades from the contact row, in one transaction. A provider that later
    retries an old event creates a new contact: erasure cannot be undone by stored data.
    """

    def work(session: Session) -> None:
        session.delete(locked_contact(session, contact_id))

    db.write_retrying(work)
