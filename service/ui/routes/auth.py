"""Signing in with an API key, and out again."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.keys import match_key
from service.ui import deps
from service.ui import session as cookies
from service.ui.deps import FormDep, PosterDep, RuntimeDep
from service.ui.pages import PREFIX, local_path, redirect, render

router = APIRouter()


@router.get("/", include_in_schema=False)
def home() -> Response:
    """The dashboard opens on the journeys."""
    return redirect(f"{PREFIX}/journeys")


@router.get("/signin")
def signin_form(request: Request, runtime: RuntimeDep, next: str | None = None) -> Response:
    """The sign-in form; without keys, this machine goes straight in."""
    if not deps.api_keys(request):
        deps.current_operator(request, runtime)
        return redirect(local_path(next))
    return render(request, "signin.html", next=local_path(next), failed=False)


@router.post("/signin")
def signin(request: Request, runtime: RuntimeDep, fields: FormDep) -> Response:
    """Check the key once and keep only its scopes, label and fingerprint in the cookie."""
    deps.same_origin(request)
    keys = deps.api_keys(request)
    target = local_path(fields.get("next"))
    if not keys:
        deps.current_operator(request, runtime)
        return redirect(target)
    key = match_key(keys, fields.get("api_key", ""))
    if key is None:
        return render(request, "signin.html", status=401, next=target, failed=True)
    secret = deps.secret(request)
    operator = cookies.new_operator(key, secret=secret, now=runtime.clock.now())
    response = redirect(target)
    response.headers.append(
        "set-cookie",
        deps.session_cookie(
            cookies.encode(operator, secret=secret), secure=request.url.scheme == "https"
        ),
    )
    return response


@router.post("/signout")
def signout(request: Request, _operator: PosterDep) -> Response:
    """Forget the session in this browser."""
    response = redirect(f"{PREFIX}/signin")
    response.delete_cookie(cookies.COOKIE, path=cookies.COOKIE_PATH, samesite="strict")
    return response
