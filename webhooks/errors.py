"""Why a webhook was refused, each carrying the HTTP status and error code the provider sees."""

from __future__ import annotations


class WebhookError(Exception):
    """Base of every refusal, so the HTTP layer answers all of them with one handler."""

    status_code = 400
    code = "bad_request"

    def __init_subclass__(cls, *, status_code: int = 0, code: str = "") -> None:
        """Each refusal states its HTTP status and code once, on its class line."""
        super().__init_subclass__()
        cls.status_code = status_code or cls.status_code
        cls.code = code or cls.code


class MalformedPayload(WebhookError, status_code=400, code="malformed_payload"):
    """The body is not the shape the provider documents; retrying will not help."""


class SignatureError(WebhookError, status_code=401, code="invalid_signature"):
    """Missing or wrong credentials: the request cannot be shown to come from the provider."""


class StaleRequest(WebhookError, status_code=401, code="stale_request"):
    """The signature is good but too old (or too far ahead), so it may be a replay."""


class ReplayedRequest(StaleRequest, code="replayed_request"):
    """A one-time token was presented twice."""


class PayloadTooLarge(WebhookError, status_code=413, code="payload_too_large"):
    """A body exceeds its cap (an adapter's, or the route's while it streams in); refused
    before any parsing."""
