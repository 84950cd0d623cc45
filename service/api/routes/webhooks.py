"""POST /webhooks/{provider}: native provider payloads, verified, into the events pipeline."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service.api.deps import InboundDep, RuntimeDep
from service.api.errors import read_body
from service.inbound.receive import public_url
from service.inbound.registry import PROVIDERS

router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks/{provider}",
    summary="Receive a provider's webhook",
    description=(
        f"`provider` is one of: {', '.join(PROVIDERS.names())}. Unconfigured providers answer 404."
    ),
    responses={
        401: {"description": "Bad signature, stale timestamp or replayed token; nothing stored"},
        404: {"description": "Unknown provider, or its secret is not configured"},
        413: {"description": "Body over the provider's cap"},
    },
)
async def receive_webhook(
    provider: str, request: Request, runtime: RuntimeDep, inbound: InboundDep
) -> Response:
    """Verified over the raw bytes, then processed like POST /events; duplicates are 2xx."""
    endpoint = inbound.provider(provider)
    raw_body = await read_body(request, limit=endpoint.max_body_bytes)
    url = public_url(runtime.settings.public_base_url, request.url.path, request.url.query)
    result = await inbound.receive(runtime, endpoint, raw_body, request.headers, url=url)
    return Response(result.body, status_code=result.status_code, media_type=result.content_type)
