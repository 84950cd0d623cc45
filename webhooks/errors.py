"""Why a webhook was refused, each carrying the HTTP status and error code the provider sees."""

from __future__ import annotations


class WebhookError(Exception):
    """Base of every refusal, so the HTTP layer answers all of them with one handler."""

    status_code = 400
    code = "bad_request"


class MalformedPayload(WebhookError):
    """The body is not the shape the provider documents; retrying will not help."""

    status_code = 400
    code = "malformed_payload"


class SignatureError(WebhookError):
    """Missing or wrong credentials: the request cannot be shown to come from the provider."""

    status_code = 401
    code = "invalid_signature"


class StaleRequest(WebhookError):
    """The signature is good but too old (or too far ahead), so it may be a replay."""

    status_code = 401
    code = "stale_request"


class ReplayedRequest(StaleRequest):
    """A one-time token was presented twice."""

    code = "replayed_request"


class PayloadTooLarge(WebhookError):
    """A body exceeds its cap (an adapter's, or the route's while it streams in); refused
    before any parsing."""

    status_code = 413
    code = "payload_too_large"
