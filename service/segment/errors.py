"""Refusals of Segment calls, answered in the shape Segment's SDKs log."""

from __future__ import annotations

from typing import Any

from service.errors import NurtureError, error_body


class MalformedCall(NurtureError, code="invalid_request", status_code=400):
    """A call or batch that breaks the tracking API's spec; resending it will not help."""


class TooLarge(NurtureError, code="payload_too_large", status_code=400):
    """Over Segment's documented limits; Segment answers these with 400, and so do we."""


def refusal_body(exc: NurtureError) -> dict[str, Any]:
    """Our error shape plus the `code` and `message` that analytics SDKs print."""
    return {
        **error_body(exc.code, exc.message),
        "success": False,
        "code": exc.code,
        "message": exc.message,
    }
