"""Who may see and do what on the dashboard: the session cookie, scopes and CSRF checks,
with the API's rule that without keys only this machine may come in."""

# No postponed annotations: the dependency factories' inner functions name the dependency
# they were given, which FastAPI could not resolve from a string.

from collections.abc import Callable
from typing import Annotated
from urllib.parse import parse_qsl, urlsplit

from fastapi import Depends, Request
from sqlmodel import Session

from service.api.auth import ApiKey
from service.api.deps import LOOPBACK_KEY, read_session
from service.errors import Forbidden, InvalidInput, Unauthorized
from service.hosts import is_loopback
from service.runtime import Runtime
from service.ui import session as cookies
from service.ui.cache import FiguresCache
from service.ui.session import Operator

MAX_FORM_FIELDS = 20
FORM_TYPE = "application/x-www-form-urlencoded"


class SignInNeeded(Unauthorized):
    """No valid session: pages send her to the sign-in form, actions are refused."""


def get_runtime(request: Request) -> Runtime:
    """The runtime the host app built in its lifespan."""
    runtime: Runtime = request.app.state.host.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


SessionDep = Annotated[Session, Depends(read_session(get_runtime))]


def get_figures(request: Request) -> FiguresCache:
    """The figures the dashboard keeps for a minute."""
    figures: FiguresCache = request.app.state.figures
    return figures


FiguresDep = Annotated[FiguresCache, Depends(get_figures)]


def api_keys(request: Request) -> list[ApiKey]:
    """The keys NURTURE_API_KEYS configures, as the API reads them."""
    keys: list[ApiKey] = request.app.state.host.state.api_keys
    return keys


def secret(request: Request) -> str:
    """The key the dashboard signs its cookie and CSRF tokens with."""
    value: str = request.app.state.secret
    return value


def from_loopback(request: Request) -> bool:
    """Whether the client is this machine."""
    return is_loopback(request.client.host if request.client else None)


def session_cookie(value: str, *, secure: bool) -> str:
    """The Set-Cookie value: HttpOnly, SameSite=Strict, Secure over HTTPS, for /ui only."""
    lifetime = int(cookies.LIFETIME.total_seconds())
    flags = f"Max-Age={lifetime}; Path={cookies.COOKIE_PATH}; HttpOnly; SameSite=Strict"
    return f"{cookies.COOKIE}={value}; {flags}" + ("; Secure" if secure else "")


def current_operator(request: Request, runtime: RuntimeDep) -> Operator:
    """The signed-in operator; without keys, a loopback client is signed in on sight."""
    keys = api_keys(request)
    if not keys and not from_loopback(request):
        raise Unauthorized("no API keys are configured: only local clients are accepted")
    key = secret(request)
    now = runtime.clock.now()
    value = request.cookies.get(cookies.COOKIE)
    found = cookies.decode(value, secret=key, now=now) if value else None
    operator = cookies.still_valid(found, keys, secret=key) if found else None
    if operator is None:
        if keys:
            raise SignInNeeded("sign in with an API key")
        operator = cookies.new_operator(LOOPBACK_KEY, secret=key, now=now)
        value = cookies.encode(operator, secret=key)
        request.state.ui_cookie = session_cookie(value, secure=request.url.scheme == "https")
    request.state.ui_operator = operator
    return operator


OperatorDep = Annotated[Operator, Depends(current_operator)]


def _holding(
    scope: str, operator: Callable[..., Operator], *, refused: str = ""
) -> Callable[[Operator], Operator]:
    """A dependency admitting the operator the `operator` dependency finds only if her key
    holds `scope`; `refused` ends the message otherwise."""

    def check(found: Annotated[Operator, Depends(operator)]) -> Operator:
        if not found.may(scope):
            raise Forbidden(f"this API key lacks the '{scope}' scope{refused}")
        return found

    return check


# An operator whose key may read.
ReaderDep = Annotated[Operator, Depends(_holding("read", current_operator))]


def same_origin(request: Request) -> None:
    """Refuse a form posted from another site (a browser always names its origin)."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    if origin == "null" or urlsplit(origin).netloc != request.headers.get("host", ""):
        raise Forbidden("this form was sent from another site")


async def form_fields(request: Request) -> dict[str, str]:
    """A posted HTML form (urlencoded, already size-capped by the app), first value of each;
    anything else reads as an empty form, so it lacks its CSRF token and is refused."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method != "POST" or kind != FORM_TYPE:
        return {}
    body = (await request.body()).decode("utf-8", errors="replace")
    try:
        pairs = parse_qsl(body, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise InvalidInput("the form has too many fields", field="body") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


FormDep = Annotated[dict[str, str], Depends(form_fields)]


def poster(request: Request, operator: OperatorDep, fields: FormDep) -> Operator:
    """An operator posting this session's CSRF token from one of our own pages."""
    same_origin(request)
    if not cookies.csrf_ok(operator, fields.get("csrf"), secret=secret(request)):
        raise Forbidden("the form's security token is missing or stale: reload the page")
    return operator


PosterDep = Annotated[Operator, Depends(poster)]
# A posting operator whose key may act.
WriterDep = Annotated[
    Operator, Depends(_holding("write", poster, refused=": actions are not allowed"))
]
