"""The provider registry: which providers the settings enable, the checks of those settings,
the route's documentation, and a new provider added through it alone."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from service.config import Settings
from service.errors import ConfigError
from service.inbound import registry
from service.inbound.registry import PROVIDERS, Endpoint, Provider, Registry
from service.main import create_app
from tests.api import signing
from tests.factories import FakeClock, make_settings, running_app
from webhooks.common import header, json_object, load_json
from webhooks.errors import SignatureError
from webhooks.events import CanonicalEvent, WebhookResult
from webhooks.protocol import WebhookAdapter

EVERY_PROVIDER = [
    "sendgrid",
    "mailgun",
    "postmark",
    "ses",
    "twilio",
    "twilio-voice",
    "segment",
    "callcenter",
    "standard",
]


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def enabled(**values: Any) -> list[str]:
    return list(PROVIDERS.enabled(settings(**values)))


def test_providers_are_listed_in_the_documented_order() -> None:
    assert PROVIDERS.names() == EVERY_PROVIDER


def test_no_provider_is_enabled_without_its_settings() -> None:
    assert enabled() == []


def test_every_provider_is_enabled_by_its_settings(tmp_path: Path) -> None:
    every = signing.webhook_settings("sqlite://", tmp_path)
    assert list(PROVIDERS.enabled(every)) == EVERY_PROVIDER


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"webhook_sendgrid_public_key": signing.SENDGRID_PUBLIC}, ["sendgrid"]),
        ({"webhook_mailgun_signing_key": signing.MAILGUN_KEY}, ["mailgun"]),
        ({"webhook_postmark_username": "u", "webhook_postmark_password": "p"}, ["postmark"]),
        (
            {"webhook_postmark_header_name": "X-Secret", "webhook_postmark_header_value": "s"},
            ["postmark"],
        ),
        ({"webhook_ses_topics": signing.TOPIC}, ["ses"]),
        ({"webhook_twilio_auth_token": signing.TWILIO_TOKEN}, ["twilio", "twilio-voice"]),
        ({"twilio_auth_token": signing.TWILIO_TOKEN}, ["twilio", "twilio-voice"]),  # sender's
        ({"webhook_segment_secret": signing.SEGMENT_SECRET}, ["segment"]),
        ({"webhook_callcenter_secret": signing.CALLCENTER_SECRET}, ["callcenter"]),
        ({"webhook_standard_secret": signing.STANDARD_SECRET}, ["standard"]),
        ({"webhook_segment_secret": "", "webhook_ses_topics": " , "}, []),  # empty is unset
    ],
)
def test_each_provider_is_enabled_by_its_own_settings(
    values: dict[str, str], expected: list[str]
) -> None:
    assert enabled(**values) == expected


def test_the_endpoint_carries_the_adapter_and_its_cap() -> None:
    endpoint = PROVIDERS.enabled(settings(webhook_ses_topics=signing.TOPIC))["ses"]
    assert endpoint.adapter.source == "ses"
    assert endpoint.max_body_bytes == endpoint.adapter.MAX_BODY_BYTES == 512 * 1024
    assert endpoint.before_verify is not None and endpoint.after_ingest is not None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"webhook_postmark_username": "u"},
            "set both NURTURE_WEBHOOK_POSTMARK_USERNAME/_PASSWORD",
        ),
        (
            {"webhook_postmark_header_value": "s"},
            "set both NURTURE_WEBHOOK_POSTMARK_HEADER_NAME/_HEADER_VALUE",
        ),
        ({"webhook_sendgrid_public_key": "not-a-key"}, "NURTURE_WEBHOOK_SENDGRID_PUBLIC_KEY: "),
        ({"webhook_standard_secret": "whsec_!!"}, "NURTURE_WEBHOOK_STANDARD_SECRET: "),
        ({"webhook_callcenter_secret": "plain"}, "NURTURE_WEBHOOK_CALLCENTER_SECRET: "),
    ],
)
def test_a_malformed_setting_stops_start_up_naming_it(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as stopped:
        PROVIDERS.enabled(settings(**values))
    assert stopped.value.message.startswith(message)


def test_postmark_credentials_come_in_pairs() -> None:
    both = settings(
        webhook_postmark_username="u",
        webhook_postmark_password="p",
        webhook_postmark_header_name="X-Secret",
        webhook_postmark_header_value="s",
    )
    assert both.postmark_credentials() == (("u", "p"), ("X-Secret", "s"))
    assert settings().postmark_credentials() == (None, None)


def test_every_declared_setting_is_a_setting() -> None:
    for provider in PROVIDERS:
        assert provider.settings, provider.name
        assert set(provider.settings) <= set(Settings.model_fields), provider.name


def test_names_must_be_new_path_segments() -> None:
    providers = Registry(PROVIDERS)
    for name in ("sendgrid", "Dummy", "has/slash", ""):
        with pytest.raises(ValueError):
            providers.register(Provider(name, (), lambda settings: None))


def test_the_route_documents_every_provider() -> None:
    schema = create_app(settings()).openapi()
    description = schema["paths"]["/webhooks/{provider}"]["post"]["description"]
    assert description == (
        f"`provider` is one of: {', '.join(EVERY_PROVIDER)}. Unconfigured providers answer 404."
    )


# ----- a new provider, added through the registry alone -----------------------------------------


class DummyAdapter(WebhookAdapter):
    """A provider that signs with a fixed header and posts {"id", "email", "page"}."""

    MAX_BODY_BYTES = 1024
    KEY = "let-me-in"

    def __init__(self) -> None:
        self.source = "dummy"

    def verify(
        self, raw_body: bytes, headers: Mapping[str, str], *, now: datetime, url: str
    ) -> None:
        if header(headers, "X-Dummy-Key") != self.KEY:
            raise SignatureError("X-Dummy-Key does not match")

    def parse(
        self, raw_body: bytes, headers: Mapping[str, str], *, now: datetime, url: str
    ) -> WebhookResult:
        body = json_object(load_json(raw_body), "body")
        event = CanonicalEvent(
            id=str(body["id"]),
            source=self.source,
            type="web.page_viewed",
            time=now,
            email=str(body["email"]),
            properties={"page": body["page"], "called": url},
        )
        return WebhookResult(events=[event], body="thanks")


@pytest.fixture
def with_dummy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-in providers plus the dummy, for this test only."""
    providers = Registry(PROVIDERS)
    providers.register(Provider("dummy", (), lambda settings: Endpoint(DummyAdapter())))
    monkeypatch.setattr(registry, "PROVIDERS", providers)


@pytest.mark.usefixtures("with_dummy")
async def test_a_registered_provider_feeds_the_events_pipeline(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    body = json.dumps({"id": "d-1", "email": "ava@example.com", "page": "news"}).encode()
    key = {"X-Dummy-Key": DummyAdapter.KEY}
    async with running_app(make_settings(database_url, tmp_path), clock) as app:
        forged = await app.client.post("/webhooks/dummy", content=body)
        assert forged.status_code == 401
        assert forged.json()["error"] == "invalid_signature"
        assert (
            await app.client.get("/contacts", params={"email": "ava@example.com"})
        ).status_code == 404

        too_big = await app.client.post("/webhooks/dummy", content=b" " * 2048, headers=key)
        assert too_big.status_code == 413

        for _ in range(2):  # the second is a duplicate
            response = await app.client.post("/webhooks/dummy?x=1", content=body, headers=key)
            assert (response.status_code, response.text) == (200, "thanks")
        await app.apply_inbox()
        contact = await app.contact()
        timeline = (await app.client.get(f"/contacts/{contact['id']}/timeline")).json()
    viewed = [e for e in timeline if e["kind"] == "event" and e["summary"] == "web.page_viewed"]
    assert len(viewed) == 1
    assert viewed[0]["data"]["source"] == "dummy"
    assert viewed[0]["data"]["properties"] == {
        "page": "news",
        "called": "http://nurture.test/webhooks/dummy?x=1",  # the URL reaches the adapter
    }


@pytest.mark.parametrize("name", ["twilio", "twilio-voice"])
def test_an_empty_twilio_shared_key_is_no_key(name: str) -> None:
    """Otherwise anyone could sign with the empty key by sending the settings header."""
    values = {"webhook_twilio_auth_token": signing.TWILIO_TOKEN, "webhook_twilio_shared_key": ""}
    endpoint = PROVIDERS.enabled(settings(**values))[name]
    body = signing.twilio_form("sms_inbound", Body="STOP")
    path = f"/webhooks/{name}"
    forged = signing.twilio_shared_key(path, body, key="")
    with pytest.raises(SignatureError, match="no shared key is configured"):
        endpoint.adapter.verify(body, forged, now=signing.START, url=signing.BASE_URL + path)
