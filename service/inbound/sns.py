"""Amazon SNS's two requests of its own: the signing certificate it names, fetched before
verification, and the subscription it asks us to confirm after."""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime, timedelta

import httpx

from service.errors import WebhookRefused
from webhooks.errors import SignatureError
from webhooks.events import WebhookResult
from webhooks.sns import is_sns_url

logger = logging.getLogger(__name__)
MAX_CERTIFICATES = 32
# A certificate URL that could not be fetched is not tried again for a while, so unsigned
# requests naming it cannot make us fetch over and over.
FAILED_FETCH_MEMORY = timedelta(minutes=1)
MAX_FAILED_FETCHES = 256


class SnsCertificates:
    """SNS signing certificates, fetched only from SNS hosts and kept, since they rarely
    rotate; the adapter's synchronous cert loader reads from here."""

    def __init__(self, topics: Iterable[str]) -> None:
        self._topics = frozenset(topics)
        self._pems: OrderedDict[str, bytes] = OrderedDict()
        self._failed: OrderedDict[str, datetime] = OrderedDict()

    async def prefetch(self, raw_body: bytes, *, client: httpx.AsyncClient, now: datetime) -> None:
        """Fetch the certificate a message from an allowed topic names, if it is an SNS URL
        we neither hold nor failed to fetch a moment ago."""
        try:
            message = json.loads(raw_body)
            url, topic = message.get("SigningCertURL"), message.get("TopicArn")
        except (ValueError, AttributeError):
            return
        if not isinstance(topic, str) or topic not in self._topics:
            return
        if not isinstance(url, str) or url in self._pems:
            return
        if not is_sns_url(url, suffix=".pem") or self._failed_recently(url, now):
            return
        try:
            response = await client.get(url)
        except httpx.HTTPError as exc:
            logger.warning("cannot fetch SNS certificate %s: %s", url, exc)
            self._remember_failure(url, now)
            return
        if response.status_code != 200:
            logger.warning("cannot fetch SNS certificate %s: HTTP %d", url, response.status_code)
            self._remember_failure(url, now)
            return
        self._pems[url] = response.content
        if len(self._pems) > MAX_CERTIFICATES:
            self._pems.popitem(last=False)

    def _failed_recently(self, url: str, now: datetime) -> bool:
        failed_at = self._failed.get(url)
        return failed_at is not None and now - failed_at < FAILED_FETCH_MEMORY

    def _remember_failure(self, url: str, now: datetime) -> None:
        self._failed.pop(url, None)
        self._failed[url] = now
        if len(self._failed) > MAX_FAILED_FETCHES:
            self._failed.popitem(last=False)

    def __call__(self, url: str) -> bytes:
        """The certificate prefetched for `url`; a refusal (SNS will retry) when missing."""
        pem = self._pems.get(url)
        if pem is None:
            raise SignatureError("the SNS signing certificate could not be fetched")
        return pem


async def confirm_subscription(result: WebhookResult, *, client: httpx.AsyncClient) -> None:
    """GET the SubscribeURL a verified request asks for (an SNS host only); a failure asks
    SNS to try again."""
    if result.confirm is None:
        return
    url, topic_arn = result.confirm.url, result.confirm.topic_arn
    if not is_sns_url(url):
        raise WebhookRefused("SubscribeURL is not an SNS URL", status_code=400, code="bad_url")
    try:
        response = await client.get(url)
    except httpx.HTTPError as exc:
        raise WebhookRefused(
            f"confirming {topic_arn} failed: {exc}", status_code=502, code="confirm_failed"
        ) from None
    if response.status_code != 200:
        raise WebhookRefused(
            f"confirming {topic_arn} failed with {response.status_code}",
            status_code=502,
            code="confirm_failed",
        )
    logger.info("confirmed SNS subscription to %s", topic_arn)
