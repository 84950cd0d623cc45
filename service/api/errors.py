"""Every error leaves as JSON {"error": code, "detail": ...}; never a stack trace."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import InvalidInput, JourneyErrors, NurtureError
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


def error_body(code: str, detail: Any) -> dict[str, Any]:
    """The one error shape."""
    return {"error": code, "detail": detail}


def _field(loc: tuple[int | str, ...]) -> str:
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "body"


def _nurture_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NurtureError)
    detail: Any = exc.message
    if isinstance(exc, InvalidInput):
        detail = [{"field": exc.field or "body", "message": exc.message}]
    elif isinstance(exc, JourneyErrors):  # every problem, each as file:line: message
        detail = [error.message for error in exc.errors]
    return JSONResponse(error_body(exc.code, detail), status_code=exc.status_code)


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
        {"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", "")} for e in errors
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
        "unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc
    )
    return JSONResponse(error_body("internal", "internal server error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Map our errors, refused webhooks, validation errors, HTTP errors and crashes to the
    one shape."""
    app.add_exception_handler(NurtureError, _nurture_error)
    app.add_exception_handler(WebhookError, _webhook_error)
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
