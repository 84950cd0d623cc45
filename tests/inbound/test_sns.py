"""SNS certificates: fetched only for our topics from SNS hosts, kept in a bounded cache, and a
failed fetch not repeated at once; subscriptions confirmed on SNS hosts only."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from service.errors import WebhookRefused
from service.inbound.sns import (
    FAILED_FETCH_MEMORY,
    MAX_CERTIFICATES,
    MAX_FAILED_FETCHES,
    SnsCertificates,
    confirm_subscription,
)
from webhooks.errors import SignatureError
from webhooks.events import ConfirmSubscription, WebhookResult

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem"
PEM = b"-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"


class FakeAws:
    """Serves PEMs for SNS URLs, and a chosen status (or a dropped connection) for others."""

    def __init__(self, status: int = 200, *, broken: bool = False) -> None:
        self.status = status
        self.broken = broken
        self.requests: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(str(request.url))
        if self.broken:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(self.status, content=PEM)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


def message(url: object = CERT_URL, topic: object = TOPIC) -> bytes:
    return json.dumps({"Type": "Notification", "SigningCertURL": url, "TopicArn": topic}).encode()


def cert_url(n: int) -> str:
    return f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{n}.pem"


async def test_the_named_certificate_is_fetched_once_and_kept() -> None:
    aws, certificates = FakeAws(), SnsCertificates([TOPIC])
    async with aws.client() as client:
        for _ in range(3):
            await certificates.prefetch(message(), client=client, now=NOW)
    assert aws.requests == [CERT_URL]
    assert certificates(CERT_URL) == PEM


@pytest.mark.parametrize(
    "body",
    [
        message(topic="arn:aws:sns:us-east-1:1:theirs"),  # not a topic we subscribed to
        message(topic=[TOPIC]),
        message("https://evil.example/SimpleNotificationService-abc.pem"),
        message("http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem"),
        message("https://sns.s3.amazonaws.com/SimpleNotificationService-abc.pem"),
        message("https://sns.us-east-1.amazonaws.com/not-a-certificate.txt"),
        message(url=None),
        b"not json",
        b"[1, 2]",
    ],
)
async def test_nothing_is_fetched_for_other_topics_hosts_or_bodies(body: bytes) -> None:
    aws, certificates = FakeAws(), SnsCertificates([TOPIC])
    async with aws.client() as client:
        await certificates.prefetch(body, client=client, now=NOW)
    assert aws.requests == []


async def test_a_missing_certificate_refuses_the_request() -> None:
    with pytest.raises(SignatureError, match="could not be fetched"):
        SnsCertificates([TOPIC])(CERT_URL)


@pytest.mark.parametrize("aws", [FakeAws(404), FakeAws(broken=True)], ids=["404", "no network"])
async def test_a_failed_fetch_is_not_repeated_for_a_while(aws: FakeAws) -> None:
    certificates = SnsCertificates([TOPIC])
    async with aws.client() as client:
        await certificates.prefetch(message(), client=client, now=NOW)
        await certificates.prefetch(message(), client=client, now=NOW + FAILED_FETCH_MEMORY / 2)
        assert aws.requests == [CERT_URL]
        await certificates.prefetch(message(), client=client, now=NOW + FAILED_FETCH_MEMORY)
    assert aws.requests == [CERT_URL, CERT_URL]
    with pytest.raises(SignatureError):
        certificates(CERT_URL)


async def test_the_certificate_cache_is_bounded() -> None:
    aws, certificates = FakeAws(), SnsCertificates([TOPIC])
    async with aws.client() as client:
        for n in range(MAX_CERTIFICATES + 1):
            await certificates.prefetch(message(cert_url(n)), client=client, now=NOW)
        assert certificates(cert_url(MAX_CERTIFICATES)) == PEM
        with pytest.raises(SignatureError):
            certificates(cert_url(0))  # the oldest made room
        await certificates.prefetch(message(cert_url(0)), client=client, now=NOW)
    assert aws.requests.count(cert_url(0)) == 2


async def test_the_failure_memory_is_bounded() -> None:
    aws, certificates = FakeAws(404), SnsCertificates([TOPIC])
    async with aws.client() as client:
        for n in range(MAX_FAILED_FETCHES + 1):
            await certificates.prefetch(message(cert_url(n)), client=client, now=NOW)
        await certificates.prefetch(message(cert_url(1)), client=client, now=NOW)
        assert aws.requests.count(cert_url(1)) == 1  # still remembered
        await certificates.prefetch(message(cert_url(0)), client=client, now=NOW)
    assert aws.requests.count(cert_url(0)) == 2  # forgotten to make room, so tried again


def confirming(url: str) -> WebhookResult:
    return WebhookResult(confirm=ConfirmSubscription(url, TOPIC))


SUBSCRIBE_URL = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t"


async def test_a_subscription_is_confirmed_on_its_sns_url() -> None:
    aws = FakeAws()
    async with aws.client() as client:
        await confirm_subscription(confirming(SUBSCRIBE_URL), client=client)
        await confirm_subscription(WebhookResult(), client=client)  # nothing to confirm
    assert aws.requests == [SUBSCRIBE_URL]


@pytest.mark.parametrize(
    ("aws", "url", "status", "code"),
    [
        (FakeAws(), "https://evil.example/?Action=ConfirmSubscription", 400, "bad_url"),
        (FakeAws(500), SUBSCRIBE_URL, 502, "confirm_failed"),
        (FakeAws(broken=True), SUBSCRIBE_URL, 502, "confirm_failed"),
    ],
)
async def test_a_subscription_that_cannot_be_confirmed_is_refused(
    aws: FakeAws, url: str, status: int, code: str
) -> None:
    async with aws.client() as client:
        with pytest.raises(WebhookRefused) as refused:
            await confirm_subscription(confirming(url), client=client)
    assert (refused.value.status_code, refused.value.code) == (status, code)
    assert aws.requests == ([] if code == "bad_url" else [url])
