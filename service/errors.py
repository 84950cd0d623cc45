"""One error hierarchy for the whole product, mapped to HTTP in service.api.errors."""

from __future__ import annotations

from typing import Any, TextIO


class NurtureError(Exception):
    """Base of every error we raise on purpose; carries a client-safe message."""

    code = "bad_request"
    status_code = 400

    def __init_subclass__(cls, *, code: str = "", status_code: int = 0) -> None:
        """Each error states its code and HTTP status once, on its class line."""
        super().__init_subclass__()
        cls.code = code or cls.code
        cls.status_code = status_code or cls.status_code

    def __init__(self, message: str, *, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class JourneyError(NurtureError, code="invalid_journey", status_code=422):
    """A journey or template file is invalid; names the file and line."""

    def __init__(self, message: str, *, path: str, line: int | None = None) -> None:
        location = f"{path}:{line}" if line else path
        super().__init__(f"{location}: {message}", detail={"path": path, "line": line})
        self.path = path
        self.line = line
        self.reason = message


class JourneyErrors(NurtureError, code="invalid_journeys", status_code=422):
    """Several journey problems found at once, reported together by validate."""

    def __init__(self, errors: list[JourneyError]) -> None:
        super().__init__("\n".join(e.message for e in errors), detail=[e.detail for e in errors])
        self.errors = errors


class InvalidInput(NurtureError, code="invalid_input", status_code=422):
    """A request body or parameter is malformed; `field` names the culprit."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, detail={"field": field} if field else None)
        self.field = field


class NotFound(NurtureError, code="not_found", status_code=404):
    """The addressed resource does not exist."""


class Conflict(NurtureError, code="conflict", status_code=409):
    """The request contradicts stored state (e.g. an identifier owned by another contact)."""


class Unauthorized(NurtureError, code="unauthorized", status_code=401):
    """Missing or wrong credentials."""


class Forbidden(NurtureError, code="forbidden", status_code=403):
    """Valid credentials that lack the needed scope."""


class Unavailable(NurtureError, code="unavailable", status_code=503):
    """Something the request needs (the database) cannot be reached right now; retrying
    after `retry_after` seconds may succeed, so clients are told to."""

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WebhookRefused(NurtureError):
    """A verified provider request we could not complete (an SNS subscription that cannot be
    confirmed); the status is the one that provider's retry logic expects."""

    def __init__(self, message: str, *, status_code: int, code: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code


class ConfigError(NurtureError, code="config_error", status_code=500):
    """Settings are unusable; the service refuses to start."""


def cli_exit(exc: NurtureError | OSError, out: TextIO) -> int:
    """A command's exit on bad input: the problem (with file:line), or what could not be read."""
    out.write(f"{exc.message}\n" if isinstance(exc, NurtureError) else f"cannot read: {exc}\n")
    return 1


def error_body(code: str, detail: Any) -> dict[str, Any]:
    """The one error shape every HTTP answer of ours uses: {"error": code, "detail": ...}."""
    return {"error": code, "detail": detail}
