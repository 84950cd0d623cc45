"""Request dependencies: runtime, a read session, webhook providers, and API-key scopes."""

# No postponed annotations: the dependency factories' inner functions name the dependency
# they were given, which FastAPI could not resolve from a string.

import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from service.api.auth import SCOPES, ApiKey
from service.enrollments.acceptor import Acceptor
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


async def get_process_runtime(request: Request) -> Runtime:
    """The process runtime as it is, for the edges that only store (journeys are followed
    where events are applied)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


ProcessRuntimeDep = Annotated[Runtime, Depends(get_process_runtime)]


async def get_acceptor(request: Request) -> Acceptor:
    """The process's group-commit writer of the inbox, started with the app."""
    acceptor: Acceptor = request.app.state.acceptor
    return acceptor


AcceptorDep = Annotated[Acceptor, Depends(get_acceptor)]
_PREFER_WAIT = re.compile(
    r"(?:^|[;,])\s*wait\s*=\s*(\d{1,12}(?:\.\d{1,6})?)\s*(?:$|[;,])", re.IGNORECASE
)


async def get_wait(
    runtime: Annotated[Runtime, Depends(get_process_runtime)],
    wait: Annotated[
        bool, Query(description="Answer with the events' decisions once applied (200)")
    ] = False,
    prefer: Annotated[
        str | None, Header(description="RFC 7240 `wait=N`: like ?wait=true, for N seconds")
    ] = None,
) -> float | None:
    """How long the caller waits for her events' decisions (capped), or None: answer 202."""
    longest = runtime.settings.inbox_wait_seconds
    if prefer is not None:
        found = _PREFER_WAIT.search(prefer)
        if found:
            return min(float(found.group(1)), longest)
    if wait:
        return longest
    return None


WaitDep = Annotated[float | None, Depends(get_wait)]


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


async def authenticate(
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


def require_scope(scope: str) -> Callable[[ApiKey], Awaitable[ApiKey]]:
    """A dependency that admits keys holding `scope`."""

    async def check(key: ApiKeyDep) -> ApiKey:
        if scope not in key.scopes:
            raise Forbidden(f"this API key lacks the '{scope}' scope")
        return key

    return check


EventsScope = Depends(require_scope("events"))
ReadScope = Depends(require_scope("read"))
WriteScope = Depends(require_scope("write"))
