"""Request dependencies: runtime, a read session, webhook providers, and API-key scopes."""

# No postponed annotations: the dependency factories' inner functions name the dependency
# they were given, which FastAPI could not resolve from a string.

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from service.api.auth import SCOPES, ApiKey
from service.errors import Forbidden, Unauthorized
from service.hosts import is_loopback
from service.inbound.receive import Inbound
from service.keys import match_key
from service.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="An API key from NURTURE_API_KEYS")
LOOPBACK_KEY = ApiKey(key="", scopes=SCOPES, label="loopback")


def get_runtime(request: Request) -> Runtime:
    """The process runtime built in the lifespan, following reloads made by any process."""
    runtime: Runtime = request.app.state.runtime
    runtime.journeys.refresh()
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_inbound(request: Request) -> Inbound:
    """The enabled webhook providers, built with the app."""
    inbound: Inbound = request.app.state.inbound
    return inbound


InboundDep = Annotated[Inbound, Depends(get_inbound)]


def read_session(
    get_runtime: Callable[[Request], Runtime],
) -> Callable[[Runtime], Iterator[Session]]:
    """A dependency yielding a read session of the runtime `get_runtime` finds."""

    def get_session(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
        with runtime.db.session() as session:
            yield session

    return get_session


SessionDep = Annotated[Session, Depends(read_session(get_runtime))]


def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The caller's key; with no keys configured, loopback callers only."""
    keys: list[ApiKey] = request.app.state.api_keys
    if not keys:
        if is_loopback(request.client.host if request.client else None):
            return LOOPBACK_KEY
        raise Unauthorized("no API keys are configured: only local clients are accepted")
    if credentials is None:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    key = match_key(keys, credentials.credentials)
    if key is None:
        raise Unauthorized("invalid API key")
    return key


ApiKeyDep = Annotated[ApiKey, Depends(authenticate)]


def require_scope(scope: str) -> Callable[[ApiKey], ApiKey]:
    """A dependency that admits keys holding `scope`."""

    def check(key: ApiKeyDep) -> ApiKey:
        if scope not in key.scopes:
            raise Forbidden(f"this API key lacks the '{scope}' scope")
        return key

    return check


EventsScope = Depends(require_scope("events"))
ReadScope = Depends(require_scope("read"))
WriteScope = Depends(require_scope("write"))
