"""One-time webhook token rows: a token spent once, on one body."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select

from service.store.columns import new_id
from service.store.db import insert_ignoring_conflicts
from service.store.intake import WebhookToken


def remember_webhook_token(
    session: Session,
    *,
    source: str,
    token: str,
    body_sha256: str,
    now: datetime,
    forget_before: datetime,
) -> bool:
    """Record a one-time token; False when it was already used with a different body.

    The same token with the same body is a provider retry, which the events' own dedupe
    absorbs. Tokens seen before `forget_before` are pruned: their timestamps are stale anyway.
    """
    session.execute(delete(WebhookToken).where(col(WebhookToken.seen_at) < forget_before))
    values = {"source": source, "token": token, "body_sha256": body_sha256, "seen_at": now}
    if insert_ignoring_conflicts(session, WebhookToken, {"id": new_id(), **values}):
        return True
    statement = select(WebhookToken.body_sha256).where(
        WebhookToken.source == source, WebhookToken.token == token
    )
    return session.exec(statement).first() == body_sha256
