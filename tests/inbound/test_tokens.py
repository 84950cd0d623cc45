"""Mailgun's one-time tokens, kept in the store: a token carries one body only, forged
requests spend none, and old tokens are forgotten."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from service.inbound.receive import Delivery, process
from service.inbound.registry import PROVIDERS
from service.inbound.tokens import TOKEN_MEMORY, OneTimeTokens
from service.runtime import Runtime
from service.store.intake import WebhookToken
from service.store.models import Event
from tests.factories import FakeClock, accepting, apply_inbox, make_settings
from tests.webhooks.support import fixture_json
from webhooks.errors import ReplayedRequest, SignatureError

SIGNING_KEY = "key-7d9e8f0a1b2c3d4e5f60718293a4b5c6"
TOKEN = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"


def signed(runtime: Runtime, name: str, *, token: str = TOKEN, key: str = SIGNING_KEY) -> bytes:
    """A Mailgun fixture signed now, about Ava."""
    payload = fixture_json(f"mailgun/{name}.json")
    payload["event-data"]["recipient"] = "ava@example.com"
    stamp = str(int(runtime.clock.now().timestamp()))
    digest = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    payload["signature"] = {"timestamp": stamp, "token": token, "signature": digest}
    return json.dumps(payload).encode()


def events(runtime: Runtime) -> int:
    with runtime.db.session() as session:
        found: int = session.exec(select(func.count()).select_from(Event)).one()
    return found


def mailgun(runtime: Runtime, tmp_path: Path, body: bytes) -> None:
    """Receive `body` through the registered Mailgun endpoint, and apply what it stored."""
    settings = make_settings(
        runtime.settings.database_url, tmp_path, webhook_mailgun_signing_key=SIGNING_KEY
    )
    endpoint = PROVIDERS.enabled(settings)["mailgun"]
    delivery = Delivery(body, {}, "https://n.example/webhooks/mailgun")
    with accepting(runtime) as acceptor:
        process(runtime, acceptor, endpoint, delivery)
    apply_inbox(runtime)


def test_a_token_carries_one_body_only(runtime: Runtime, tmp_path: Path) -> None:
    delivered = signed(runtime, "delivered")
    mailgun(runtime, tmp_path, delivered)
    mailgun(runtime, tmp_path, delivered)  # Mailgun retrying: a duplicate, not a replay
    with pytest.raises(ReplayedRequest) as refused:
        mailgun(runtime, tmp_path, signed(runtime, "unsubscribed"))
    assert (refused.value.status_code, refused.value.code) == (401, "replayed_request")
    assert events(runtime) == 1


def test_forged_requests_do_not_spend_tokens(runtime: Runtime, tmp_path: Path) -> None:
    with pytest.raises(SignatureError):
        mailgun(runtime, tmp_path, signed(runtime, "opened", key="key-other"))
    with runtime.db.session() as session:
        assert session.exec(select(WebhookToken)).all() == []
    mailgun(runtime, tmp_path, signed(runtime, "opened"))
    assert events(runtime) == 1


def test_tokens_are_per_source(runtime: Runtime) -> None:
    now = runtime.clock.now()
    OneTimeTokens("mailgun")(runtime, signed(runtime, "delivered"), now=now)
    OneTimeTokens("mailgun-eu")(runtime, signed(runtime, "opened"), now=now)
    with pytest.raises(ReplayedRequest):
        OneTimeTokens("mailgun")(runtime, signed(runtime, "opened"), now=now)


def test_old_tokens_are_forgotten(runtime: Runtime, clock: FakeClock) -> None:
    tokens = OneTimeTokens("mailgun")
    tokens(runtime, signed(runtime, "delivered"), now=clock.now())
    with pytest.raises(ReplayedRequest):
        tokens(runtime, signed(runtime, "opened"), now=clock.now() + TOKEN_MEMORY / 2)
    later = clock.now() + TOKEN_MEMORY * 2
    tokens(runtime, signed(runtime, "opened"), now=later)  # its timestamp refuses it anyway
    with runtime.db.session() as session:
        assert len(session.exec(select(WebhookToken)).all()) == 1
