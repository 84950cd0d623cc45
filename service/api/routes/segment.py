"""POST /v1/batch, /v1/track, ...: Segment's HTTP tracking API, for any Segment SDK.

Point an SDK's `host` at nurture and give it a write key from NURTURE_SEGMENT_WRITE_KEYS;
analytics.js' short paths (/v1/t, /v1/b, ...) are answered too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from service.api.deps import get_acceptor, get_runtime
from service.api.errors import read_body
from service.errors import NotFound, NurtureError
from service.segment import intake
from service.segment.auth import WriteKey, browser_headers, check_basic, write_key
from service.segment.body import decode_body
from service.segment.calls import MAX_BATCH_BYTES, MAX_CALL_BYTES, Kind
from service.segment.errors import TooLarge, refusal_body
from webhooks.errors import PayloadTooLarge

router = APIRouter(prefix="/v1", tags=["segment"])
# Path, the call it takes (None: a batch) and analytics.js' one-letter path for it.
ENDPOINTS: list[tuple[str, Kind | None, str]] = [
    ("batch", None, "b"),
    ("track", "track", "t"),
    ("identify", "identify", "i"),
    ("page", "page", "p"),
    ("screen", "screen", "s"),
    ("group", "group", "g"),
    ("alias", "alias", "a"),
]
RESPONSES: dict[int | str, dict[str, str]] = {
    200: {
        "description": '`{"success": true}`: every call was stored, to be applied in order '
        "(or was a duplicate)"
    },
    400: {"description": "A malformed call or body, or over 500 KB a batch / 32 KB a call"},
    401: {"description": "Missing or unknown write key; nothing stored"},
    403: {"description": "A browser page whose origin is not allowed; nothing stored"},
    404: {"description": "No write key is configured (NURTURE_SEGMENT_WRITE_KEYS)"},
}
_TRACK = {
    "userId": "u-ava",
    "event": "Order Completed",
    "messageId": "ajs-5a3d5f1c",
    "timestamp": "2026-03-01T10:00:00.000Z",
    "properties": {"revenue": 42.5, "products": [{"sku": "tyc-24", "category": "favors"}]},
}


def _request_body(kind: Kind | None) -> dict[str, object]:
    """The OpenAPI description of a raw JSON body (read and checked by hand, gzip or not)."""
    call = _TRACK if kind in (None, "track") else {"userId": "u-ava", "messageId": "m-1"}
    batch = {"batch": [{"type": "track", **call}], "sentAt": "2026-03-01T10:00:01.000Z"}
    example = batch if kind is None else call
    content = {"schema": {"type": "object"}, "example": example}
    return {"requestBody": {"required": True, "content": {"application/json": content}}}


def _write_keys(request: Request) -> list[WriteKey]:
    """The configured write keys; the routes answer 404 while there are none."""
    keys: list[WriteKey] = request.app.state.write_keys
    if not keys:
        raise NotFound("the tracking API is off: set NURTURE_SEGMENT_WRITE_KEYS")
    return keys


def _handler(kind: Kind | None) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of one kind of call (None: a batch), under that kind's size limit."""
    limit = MAX_BATCH_BYTES if kind is None else MAX_CALL_BYTES

    async def receive(request: Request) -> Response:
        """Origin and Basic credentials before the body is read; the body's writeKey after."""
        runtime = get_runtime(request)
        headers: dict[str, str] = {}
        try:
            headers = browser_headers(
                runtime.settings.track_allowed_origins, request.headers.get("origin")
            )
            keys = _write_keys(request)
            basic = check_basic(keys, request.headers.get("authorization"))
            try:
                raw = await read_body(request, limit=limit)
            except PayloadTooLarge as exc:
                raise TooLarge(str(exc)) from None
            payload = decode_body(
                raw, encoding=request.headers.get("content-encoding"), limit=limit
            )
            key = write_key(keys, basic=basic, body_key=payload.get("writeKey"))
            acceptor = await get_acceptor(request)
            await run_in_threadpool(intake.receive, runtime, acceptor, payload, kind=kind, key=key)
        except NurtureError as exc:
            return JSONResponse(refusal_body(exc), status_code=exc.status_code, headers=headers)
        return JSONResponse({"success": True}, headers=headers)

    return receive


async def preflight(request: Request) -> Response:
    """CORS preflight for the shop's own pages only."""
    runtime = get_runtime(request)
    try:
        headers = browser_headers(
            runtime.settings.track_allowed_origins,
            request.headers.get("origin"),
            preflight=True,
        )
    except NurtureError as exc:
        return JSONResponse(refusal_body(exc), status_code=exc.status_code)
    return Response(status_code=204, headers=headers)


for _path, _kind, _short in ENDPOINTS:
    _summary = "A batch of calls" if _kind is None else f"One {_kind} call"
    router.add_api_route(
        f"/{_path}",
        _handler(_kind),
        methods=["POST"],
        summary=f"{_summary} (Segment tracking API)",
        description="HTTP Basic auth with the write key as user name and an empty password, "
        "or `writeKey` in the body; `Content-Encoding: gzip` is accepted.",
        responses=RESPONSES,
        response_class=JSONResponse,
        openapi_extra=_request_body(_kind),
    )
    router.add_api_route(f"/{_short}", _handler(_kind), methods=["POST"], include_in_schema=False)
    for _route in (_path, _short):
        router.add_api_route(f"/{_route}", preflight, methods=["OPTIONS"], include_in_schema=False)
