"""What every HTTP provider shares: how answers, timeouts and refused credentials are read."""

from __future__ import annotations

import httpx
import pytest

from service.delivery.channels import DeliveryResult
from service.delivery.providers.http import retry_after_seconds
from service.delivery.providers.postmark import PostmarkChannel
from service.delivery.providers.sendgrid import SendGridChannel
from tests.delivery.providers.fakes import NOW, SENDER, Recorder, now, outgoing


async def test_refused_credentials_are_retried_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = Recorder(lambda r: httpx.Response(401, json={"message": "bad key"}))
    async with fake.client() as client:
        channel = SendGridChannel(client, api_key="k", sender=SENDER, now=now)
        results = [await channel.send(outgoing()) for _ in range(3)]
    assert all(not r.ok and not r.permanent for r in results)
    refusals = [r for r in caplog.records if "refused our credentials" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].levelname == "ERROR"
    assert "sendgrid" in refusals[0].getMessage()


@pytest.mark.parametrize(
    ("status", "headers", "permanent", "retry_after"),
    [
        (429, {"Retry-After": "30"}, False, 30.0),
        (503, {"Retry-After": "Mon, 04 Jan 2027 15:02:00 GMT"}, False, 120.0),
        (500, {}, False, None),
        (400, {}, True, None),
        (429, {"Retry-After": "86400"}, False, 3600.0),
        (503, {"Retry-After": "Tue, 05 Jan 2027 15:00:00 GMT"}, False, 3600.0),
        (401, {}, False, None),
        (403, {}, False, None),
        (422, {}, True, None),
    ],
)
async def test_failures_are_classified(
    status: int, headers: dict[str, str], permanent: bool, retry_after: float | None
) -> None:
    fake = Recorder(
        lambda r: httpx.Response(
            status, headers=headers, json={"ErrorCode": 406, "Message": "Inactive"}
        )
    )
    async with fake.client() as client:
        result = await PostmarkChannel(client, server_token="t", sender=SENDER, now=now).send(
            outgoing()
        )
    assert not result.ok
    assert result.permanent is permanent
    assert result.retry_after == retry_after
    assert result.error is not None and result.error.startswith(f"HTTP {status}:")
    assert "Inactive" in result.error


async def test_timeouts_and_network_errors_are_transient() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(boom)) as client:
        result = await SendGridChannel(client, api_key="k", sender=SENDER, now=now).send(outgoing())
    assert result == DeliveryResult(ok=False, error="provider timed out")

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refused)) as client:
        result = await SendGridChannel(client, api_key="k", sender=SENDER, now=now).send(outgoing())
    assert not result.ok and not result.permanent and result.error == "network error: ConnectError"


async def test_missing_address_is_permanent_and_sends_nothing() -> None:
    fake = Recorder(lambda r: httpx.Response(202))
    async with fake.client() as client:
        result = await SendGridChannel(client, api_key="k", sender=SENDER, now=now).send(
            outgoing(to=None)
        )
    assert result.permanent and not fake.requests


def test_retry_after_ignores_garbage() -> None:
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "soon"}), NOW) is None
