"""Why a webhook was refused, each carrying the HTTP status the provider should see."""

from __future__ import annotations


class WebhookError(Exception):
    """Base of every refusal, so the HTTP layer can answer with one handler."""

    status_code = 400


class MalformedPayload(WebhookError):
    """The body is not the shape the provider documents; retrying will not help."""

    status_code = 400


class SignatureError(WebhookError):
    """Missing or wrong credentials: the request cannot be shown to come from the provider."""

    status_code = 401


class StaleRequest(WebhookError):
    """The signature is good but too old (or too far ahead), so it may be a replay."""

    status_code = 401


class ReplayedRequest(StaleRequest):
    """A one-time token was presented twice."""


class PayloadTooLarge(WebhookError):
    """The body exceeds the adapter's cap; refused before any parsing."""

    status_code = 413
