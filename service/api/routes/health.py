"""Liveness and readiness probes, open without a key."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.api.deps import ReadScope, RuntimeDep, SessionDep
from service.api.errors import RETRY_AFTER_SECONDS, error_responses
from service.catalog.metrics import metrics_text
from service.schemas import Health

router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={
        503: {
            "model": Health,
            "description": "Not ready; retry after Retry-After seconds",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        }
    },
)
def readyz(runtime: RuntimeDep) -> Health | JSONResponse:
    """The database answers and journeys are loaded; 503 otherwise."""
    checks: dict[str, object] = {"journeys": len(runtime.journeys.current)}
    try:
        with runtime.db.session() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        logger.warning("readiness: database unreachable (%s)", type(exc).__name__)
        checks["database"] = "unreachable"
        return JSONResponse(
            Health(status="unavailable", checks=checks).model_dump(),
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return Health(status="ok", checks=checks)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    dependencies=[ReadScope],
    responses={200: {"content": {"text/plain": {}}}, **error_responses(401, 403, 503)},
)
def metrics(runtime: RuntimeDep, session: SessionDep) -> PlainTextResponse:
    """Prometheus metrics: enrollments, messages and events by label, and overdue work."""
    body = metrics_text(session, runtime.journeys, now=runtime.clock.now())
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4")
