"""Consent and suppression from events: unsubscribes, complaints, hard bounces, SMS opt-out
and opt-in, whatever journeys say."""

from __future__ import annotations

from typing import Any

import pytest

from service.contacts import repository as contacts_repo
from service.contacts.consent import apply_consent_effects
from service.contacts.identity import locked_contact
from service.runtime import Runtime
from service.schemas import EventIn
from service.store.models import Consent
from tests.factories import add_contact, event, ingest, stored

ConsentRow = tuple[str, str, str | None, bool, str | None]


def _apply(runtime: Runtime, contact_id: str, type: str, **properties: Any) -> None:
    body = EventIn.model_validate(event(type, properties=properties))
    with runtime.db.write() as session:
        contact = locked_contact(session, contact_id)
        apply_consent_effects(session, contact=contact, event=body, now=runtime.clock.now())


def _consents(runtime: Runtime, contact_id: str) -> dict[str, ConsentRow]:
    return {
        c.channel: (c.channel, c.status, c.reason, c.suppressed, c.suppression_reason)
        for c in stored(runtime, Consent, contact_id=contact_id)
    }


def _blocked(runtime: Runtime, contact_id: str, channel: str) -> str | None:
    with runtime.db.session() as session:
        return contacts_repo.blocked_reason(session, contact_id=contact_id, channel=channel)


@pytest.fixture
def ava(runtime: Runtime) -> str:
    return add_contact(runtime, email="ava@example.com", phone="+15555550100").id


def test_unsubscribe_withdraws_email_consent(runtime: Runtime, ava: str) -> None:
    _apply(runtime, ava, "email.unsubscribed")
    assert _consents(runtime, ava) == {
        "email": ("email", "withdrawn", "email.unsubscribed", False, None)
    }
    assert _blocked(runtime, ava, "email") == "consent withdrawn (email.unsubscribed)"
    assert _blocked(runtime, ava, "sms") is None


def test_unsubscribing_from_one_group_keeps_consent(runtime: Runtime, ava: str) -> None:
    _apply(runtime, ava, "email.unsubscribed", scope="group", group="newsletter")
    assert _consents(runtime, ava) == {}
    assert _blocked(runtime, ava, "email") is None


def test_complaint_withdraws_and_suppresses(runtime: Runtime, ava: str) -> None:
    _apply(runtime, ava, "email.complained")
    assert _consents(runtime, ava) == {
        "email": ("email", "withdrawn", "email.complained", True, "spam complaint")
    }


@pytest.mark.parametrize("properties", [{"hard": True}, {"bounce_type": "hard"}])
def test_hard_bounce_suppresses_without_touching_consent(
    runtime: Runtime, ava: str, properties: dict[str, Any]
) -> None:
    _apply(runtime, ava, "email.bounced", **properties)
    assert _consents(runtime, ava) == {"email": ("email", "granted", None, True, "hard bounce")}
    assert _blocked(runtime, ava, "email") == "suppressed (hard bounce)"


@pytest.mark.parametrize(
    "properties",
    [{}, {"hard": False}, {"bounce_type": "soft"}, {"hard": "true"}, {"bounce_type": "HARD "}],
)
def test_soft_bounce_changes_nothing(
    runtime: Runtime, ava: str, properties: dict[str, Any]
) -> None:
    _apply(runtime, ava, "email.bounced", **properties)
    assert _consents(runtime, ava) == {}


@pytest.mark.parametrize("properties", [{"hard": True}, {"bounce_type": "hard"}])
def test_hard_flags_on_other_events_suppress_nothing(
    runtime: Runtime, ava: str, properties: dict[str, Any]
) -> None:
    _apply(runtime, ava, "email.delivered", **properties)
    assert _consents(runtime, ava) == {}


def test_sms_opt_out_then_opt_in(runtime: Runtime, ava: str) -> None:
    _apply(runtime, ava, "sms.opted_out")
    assert _consents(runtime, ava) == {"sms": ("sms", "withdrawn", "sms.opted_out", False, None)}
    assert _blocked(runtime, ava, "sms") == "consent withdrawn (sms.opted_out)"
    runtime.clock.advance(days=1)
    _apply(runtime, ava, "sms.opted_in")
    assert _consents(runtime, ava) == {"sms": ("sms", "granted", "sms.opted_in", False, None)}
    [row] = stored(runtime, Consent, contact_id=ava)
    assert row.updated_at == runtime.clock.now()
    assert _blocked(runtime, ava, "sms") is None


def test_an_sms_opt_in_does_not_lift_an_email_suppression(runtime: Runtime, ava: str) -> None:
    _apply(runtime, ava, "email.complained")
    _apply(runtime, ava, "sms.opted_in")
    consents = _consents(runtime, ava)
    assert consents["email"] == ("email", "withdrawn", "email.complained", True, "spam complaint")
    assert consents["sms"] == ("sms", "granted", "sms.opted_in", False, None)


def test_ingested_events_apply_consent_to_their_contact_only(runtime: Runtime) -> None:
    result = ingest(runtime, event("email.unsubscribed", email="ava@example.com"))
    bea = ingest(runtime, event("email.clicked", email="bea@example.com"))
    assert _consents(runtime, result.contact_id)["email"][1] == "withdrawn"
    assert _consents(runtime, bea.contact_id) == {}
