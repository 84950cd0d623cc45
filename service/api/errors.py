"""Every error leaves as JSON {"error": code, "detail": ...}; never a stack trace.

This module is the one place errors become HTTP: nurture's own (service.errors), request
validation, routing, and a database that cannot be reached (503 with Retry-After). It also
describes those answers for the OpenAPI document, so the contract says what is sent.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import InvalidInput, JourneyErrors, NurtureError, Unavailable, error_body
from service.logs import redact_url
from webhooks.errors import PayloadTooLarge, WebhookError

logger = logging.getLogger(__name__)
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}
RETRY_AFTER_SECONDS = 5


class FieldProblem(BaseModel):
    """One refused value and why."""

    field: str = Field(
        description="Dotted path of the value: events.3.contact.email, attributes.x, or "
        "body / query when the whole body or query is at fault"
    )
    message: str


class ErrorBody(BaseModel):
    """Every error answer: a stable code and a human-readable detail."""

    error: str = Field(description="not_found, conflict, unauthorized, forbidden, unavailable, ...")
    detail: str | list[FieldProblem]


class InvalidInputBody(BaseModel):
    """A refused request body or parameter (422), or malformed JSON (400): every problem
    names its field."""

    error: str = Field(description="invalid_input (422) or invalid_json (400)")
    detail: list[FieldProblem]


_RESPONSES: dict[int, tuple[str, type[BaseModel]]] = {
    400: ("Malformed JSON, or a malformed header or payload", ErrorBody),
    401: ("Missing or invalid credentials", ErrorBody),
    403: ("The credentials do not allow this", ErrorBody),
    404: ("Not found", ErrorBody),
    409: ("Contradicts what is stored; nothing was changed", ErrorBody),
    413: ("The body is over the size cap (NURTURE_MAX_BODY_BYTES)", ErrorBody),
    422: ("A value is invalid; nothing was changed", InvalidInputBody),
    503: ("The database is unreachable; retry after Retry-After seconds", ErrorBody),
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}


def error_responses(*codes: int, **notes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI descriptions of the error answers a route can send; `notes` (keyed `e404`)
    replace the generic descriptions."""
    documented: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        description, model = _RESPONSES[code]
        entry: dict[str, Any] = {"model": model, "description": notes.get(f"e{code}", description)}
        if code == 503:
            entry["headers"] = _RETRY_AFTER
        documented[code] = entry
    return documented


def _field(loc: tuple[int | str, ...], ctx: dict[str, Any] | None) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    path = (ctx or {}).get("path")  # set by checks that look inside a JSON value
    if isinstance(path, str) and path:
        parts.append(path)
    return ".".join(parts) or "body"


def _nurture_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NurtureError)
    detail: Any = exc.message
    if isinstance(exc, JourneyErrors):  # every problem, each as file:line: message
        detail = [error.message for error in exc.errors]
    elif isinstance(exc, InvalidInput) or exc.status_code == 422:
        detail = [{"field": getattr(exc, "field", None) or "body", "message": exc.message}]
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Unavailable) else None
    return JSONResponse(error_body(exc.code, detail), status_code=exc.status_code, headers=headers)


def _unreachable(exc: SQLAlchemyError) -> bool:
    """Whether a database error means "cannot reach or use the database now" (a retry may
    work), rather than a bug in a statement."""
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SQLAlchemyError)
    if not _unreachable(exc):
        return _unhandled(request, exc)
    cause = type(getattr(exc, "orig", None) or exc).__name__
    logger.warning(
        "database unavailable (%s) on %s %s", cause, request.method, redact_url(request.url.path)
    )
    unavailable = Unavailable(
        "the database is unavailable; retry later", retry_after=RETRY_AFTER_SECONDS
    )
    return _nurture_error(request, unavailable)


def _webhook_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WebhookError)
    return JSONResponse(error_body(exc.code, str(exc)), status_code=exc.status_code)


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        reason = next(e for e in errors if e.get("type") == "json_invalid")
        message = (reason.get("ctx") or {}).get("error", "malformed JSON")
        return JSONResponse(
            error_body(
                "invalid_json", [{"field": "body", "message": f"malformed JSON: {message}"}]
            ),
            status_code=400,
        )
    detail = [
        {"field": _field(tuple(e.get("loc", ())), e.get("ctx")), "message": e.get("msg", "")}
        for e in errors
    ]
    return JSONResponse(error_body("invalid_input", detail), status_code=422)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, exc.detail), status_code=exc.status_code, headers=exc.headers
    )


def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    logger.error(
        "unhandled %s on %s %s",
        type(exc).__name__,
        request.method,
        redact_url(request.url.path),
        exc_info=exc,
    )
    return JSONResponse(error_body("internal", "internal server error"), status_code=500)


def _errors_are_json(app: FastAPI) -> None:
    """Document every 4xx/5xx body as JSON, which it always is, also on routes whose success
    is HTML, text or an image (FastAPI would give the error the route's media type)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        spec = generate()
        for item in spec.get("paths", {}).values():
            for operation in item.values():
                for code, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    schemas = [c["schema"] for c in content.values() if "schema" in c]
                    if code[:1] in ("4", "5") and schemas:
                        response["content"] = {"application/json": {"schema": schemas[0]}}
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    """Map our errors, refused webhooks, an unreachable database, validation errors, HTTP
    errors and crashes to the one shape, and say so in the OpenAPI document."""
    _errors_are_json(app)
    app.add_exception_handler(NurtureError, _nurture_error)
    app.add_exception_handler(WebhookError, _webhook_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unhandled)


class BodyLimitMiddleware:
    """Refuses bodies over `max_bytes` with 413 before any handler reads them; paths under
    `exempt_prefixes` enforce their own caps while streaming (see read_body)."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, exempt_prefixes: tuple[str, ...] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                await self._reject(send, 400, "bad_request", "invalid Content-Length header")
                return
            if too_big:
                await self._too_large(send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(chunks, None, receive), send)

    async def _too_large(self, send: Send) -> None:
        await self._reject(
            send, 413, "payload_too_large", f"request body exceeds {self.max_bytes} bytes"
        )

    @staticmethod
    async def _reject(send: Send, status: int, code: str, detail: str) -> None:
        body = json.dumps(error_body(code, detail)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(chunks: list[bytes], pending: Message | None, receive: Receive) -> Receive:
    """A receive() that first hands back what the middleware already read."""
    buffered: list[Message] = (
        [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
        if pending is None
        else [pending]
    )

    async def replay() -> Message:
        if buffered:
            return buffered.pop(0)
        return await receive()

    return replay


async def read_body(request: Request, *, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
