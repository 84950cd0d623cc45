"""POST /webhooks/{provider}: native provider payloads, verified, into the events pipeline."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service.api.deps import AcceptorDep, InboundDep, RuntimeDep
from service.api.errors import ErrorBody, error_responses, read_body
from service.inbound.receive import Delivery, public_url
from service.inbound.registry import PROVIDERS

router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks/{provider}",
    summary="Receive a provider's webhook",
    description=(
        f"`provider` is one of: {', '.join(PROVIDERS.names())}. Unconfigured providers answer 404."
    ),
    responses={
        200: {
            "description": "Received and stored, to be applied in order; events that cannot "
            "be used are skipped (and logged), since the provider's retries would not help",
            "content": {"text/plain": {}, "text/xml": {}},
        },
        **error_responses(
            400,
            401,
            404,
            413,
            422,
            503,
            e400="Not the provider's documented payload shape",
            e401="Bad signature, stale timestamp or replayed token; nothing stored",
            e404="Unknown provider, or its secret is not configured",
            e413="Body over the provider's cap",
        ),
        502: {"model": ErrorBody, "description": "Confirming an SNS subscription failed"},
    },
)
async def receive_webhook(
    provider: str,
    request: Request,
    runtime: RuntimeDep,
    inbound: InboundDep,
    acceptor: AcceptorDep,
) -> Response:
    """Verified over the raw bytes, then stored like POST /events and answered before they
    are applied; duplicates are 2xx."""
    endpoint = inbound.provider(provider)
    raw_body = await read_body(request, limit=endpoint.max_body_bytes)
    url = public_url(runtime.settings.public_base_url, request.url.path, request.url.query)
    delivery = Delivery(raw_body, request.headers, url)
    result = await inbound.receive(runtime, acceptor, endpoint, delivery)
    return Response(result.body, status_code=result.status_code, media_type=result.content_type)
