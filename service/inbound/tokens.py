"""One-time signature tokens, remembered in the store so a captured request cannot be replayed
with another body, across restarts and processes (Mailgun signs only timestamp and token)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from service.inbound import repository as inbound_repo
from service.runtime import Runtime
from webhooks.errors import ReplayedRequest
from webhooks.mailgun import signature_block

# Tokens older than this are refused by their timestamp anyway, so they are pruned.
TOKEN_MEMORY = timedelta(hours=1)
MAX_TOKEN_LENGTH = 200


class OneTimeTokens:
    """Spends the token of a verified Mailgun request; the same token with the same body is
    the provider retrying, which the events' own dedupe absorbs."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __call__(self, runtime: Runtime, raw_body: bytes, *, now: datetime) -> None:
        """Record the token, or refuse the request when it was spent on another body."""
        token = str(signature_block(raw_body).get("token", ""))
        with runtime.db.write() as session:
            fresh = inbound_repo.remember_webhook_token(
                session,
                source=self.source,
                token=token[:MAX_TOKEN_LENGTH],
                body_sha256=hashlib.sha256(raw_body).hexdigest(),
                now=now,
                forget_before=now - TOKEN_MEMORY,
            )
        if not fresh:
            raise ReplayedRequest("signature token was already used for another request")
