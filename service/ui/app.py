"""The dashboard as an app mounted at /ui: its own security headers and HTML error pages,
so the JSON API keeps its answers and the pages keep theirs."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import InvalidInput, NurtureError
from service.tracking.links import link_secret
from service.tracking.settings import LinkSettings
from service.ui.cache import FiguresCache
from service.ui.deps import SignInNeeded
from service.ui.pages import PREFIX, STATIC, compile_templates, redirect, render
from service.ui.routes import auth, contacts, journeys, preview
from service.ui.session import session_secret

try:
    from fastapi.routing import iter_route_contexts
except ImportError:  # FastAPI before 0.137 resolves a router's routes as it is included

    def iter_route_contexts(routes: Any) -> Any:  # type: ignore[misc]
        return iter(routes)


logger = logging.getLogger(__name__)

PAGE_POLICY = (
    "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'"
)
PAGE_HEADERS = {
    "content-security-policy": PAGE_POLICY,
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


class PageHeaders:
    """Adds the strict headers to every answer that has not set its own, and the session
    cookie a loopback visit was just given."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in PAGE_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                cookie = scope.get("state", {}).get("ui_cookie")
                if cookie:
                    headers.append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _error_page(request: Request, status: int, title: str, detail: str) -> Response:
    return render(request, "error.html", status=status, title=title, detail=detail)


def _nurture_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NurtureError)
    if isinstance(exc, SignInNeeded) and request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(f"{PREFIX}/signin?next={quote(target, safe='')}")
    titles = {401: "Sign-in needed", 403: "Not allowed", 404: "Not found", 409: "Not possible"}
    title = titles.get(exc.status_code, "Cannot do that")
    detail = exc.message
    if isinstance(exc, InvalidInput) and exc.field:
        detail = f"{exc.field}: {exc.message}" if exc.field not in exc.message else exc.message
    return _error_page(request, exc.status_code, title, detail)


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', '')}"
        for e in exc.errors()
    )
    return _error_page(request, 422, "Cannot read that request", problems)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    title = {404: "Not found", 405: "Not allowed"}.get(exc.status_code, "Cannot do that")
    return _error_page(request, exc.status_code, title, str(exc.detail))


def _unhandled(request: Request, exc: Exception) -> Response:
    logger.error(
        "unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc
    )
    return _error_page(request, 500, "Something went wrong", "The error was logged.")


def build_ui(host: FastAPI, settings: LinkSettings) -> FastAPI:
    """The dashboard, reading the host app's runtime and keys once its lifespan started."""
    ui = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    ui.state.host = host
    ui.state.secret = session_secret(link_secret(settings.secret_key))
    ui.state.figures = FiguresCache()
    ui.add_exception_handler(NurtureError, _nurture_error)
    ui.add_exception_handler(RequestValidationError, _validation_error)
    ui.add_exception_handler(HTTPException, _http_error)
    ui.add_exception_handler(Exception, _unhandled)
    ui.add_middleware(PageHeaders)
    ui.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (auth, journeys, contacts, preview):
        ui.include_router(module.router)
    # FastAPI works out an included route (its parameters, dependencies and validators) on
    # the first request reaching it; here, with the templates, that work is start-up's.
    for _ in iter_route_contexts(ui.routes):
        pass
    compile_templates()
    return ui
