"""Segment calls read from a request: the spec's fields typed, limits and ids checked."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from service.schemas import MAX_BATCH
from service.segment.errors import MalformedCall, TooLarge

KB = 1024
MAX_BATCH_BYTES = 500 * KB  # Segment's documented limits: 500 KB a batch, 32 KB a call
MAX_CALL_BYTES = 32 * KB
MAX_ID_LENGTH = 200
Kind = Literal["track", "identify", "page", "screen", "group", "alias"]
KINDS: tuple[Kind, ...] = ("track", "identify", "page", "screen", "group", "alias")
# Fields that differ between two sends of the same call, so they are not part of its identity.
_TRANSPORT_FIELDS = frozenset({"sentAt", "writeKey", "receivedAt", "_metadata"})


def _id(value: Any) -> str | None:
    """Ids are strings; SDKs may send numbers. Empty means absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PydanticCustomError("segment_id", "must be a string")
    text = str(value)
    if len(text) > MAX_ID_LENGTH:
        raise PydanticCustomError("segment_id", f"is longer than {MAX_ID_LENGTH} characters")
    return text


def _time(value: Any) -> Any:
    """ISO 8601 as the spec says; a time without an offset is UTC."""
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("segment_time", "is not an ISO 8601 time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if value in (None, ""):
        return None
    raise PydanticCustomError("segment_time", "is not an ISO 8601 time")


SegmentId = Annotated[str | None, BeforeValidator(_id)]
Time = Annotated[datetime | None, BeforeValidator(_time)]


class Call(BaseModel):
    """One call of the spec; fields it does not use (integrations, ...) are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    type: Kind
    message_id: SegmentId = Field(default=None, alias="messageId")
    user_id: SegmentId = Field(default=None, alias="userId")
    anonymous_id: SegmentId = Field(default=None, alias="anonymousId")
    previous_id: SegmentId = Field(default=None, alias="previousId")
    group_id: SegmentId = Field(default=None, alias="groupId")
    timestamp: Time = None
    original_timestamp: Time = Field(default=None, alias="originalTimestamp")
    sent_at: Time = Field(default=None, alias="sentAt")
    event: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=500)
    category: str | None = Field(default=None, max_length=500)
    context: dict[str, Any] = Field(default_factory=dict)
    properties: dict[str, Any] = Field(default_factory=dict)
    traits: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class Batch:
    """The calls of one request and the batch-wide send time (SDKs set it at the top)."""

    calls: list[Call]
    sent_at: datetime | None


def _size(call: dict[str, Any]) -> int:
    return len(json.dumps(call, separators=(",", ":"), ensure_ascii=False).encode())


def _content_id(call: dict[str, Any]) -> str:
    """For a call without messageId: its content, so resending it is still a duplicate."""
    kept = {k: v for k, v in call.items() if k not in _TRANSPORT_FIELDS}
    digest = hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()
    return f"sha256:{digest}"


def _problem(where: str, exc: ValidationError) -> MalformedCall:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error.get("loc", ()))
    return MalformedCall(f"{where}.{field}: {error.get('msg', 'invalid')}" if field else where)


def _missing(call: Call) -> str | None:
    """What the spec requires of this kind of call and it lacks."""
    if call.type == "alias":
        return None if call.user_id and call.previous_id else "userId and previousId"
    if not (call.user_id or call.anonymous_id):
        return "userId or anonymousId"
    if call.type == "track" and not (call.event or "").strip():
        return "an event name"
    if call.type == "group" and not call.group_id:
        return "groupId"
    return None


def _call(raw: Any, *, where: str, kind: Kind | None, context: dict[str, Any]) -> Call:
    """One call validated; the batch's `context` is under the call's own."""
    if not isinstance(raw, dict):
        raise MalformedCall(f"{where} must be a JSON object")
    if _size(raw) > MAX_CALL_BYTES:
        raise TooLarge(f"{where} is over {MAX_CALL_BYTES // KB} KB, the limit for one call")
    if kind is not None:
        given = raw.get("type")
        if given not in (None, kind):
            raise MalformedCall(f"{where}.type: a {given!r} call posted to /v1/{kind}")
        raw = {**raw, "type": kind}
    try:
        call = Call.model_validate(raw)
    except ValidationError as exc:
        raise _problem(where, exc) from None
    missing = _missing(call)
    if missing:
        raise MalformedCall(f"{where}: {call.type} needs {missing}")
    if call.message_id is None:
        call.message_id = _content_id(raw)
    if context:
        call.context = {**context, **call.context}
    return call


def read_batch(payload: dict[str, Any], *, kind: Kind | None) -> Batch:
    """The calls of a /v1/batch body (`kind` None) or of a single-call endpoint."""
    try:
        sent_at = _time(payload.get("sentAt"))
    except PydanticCustomError as exc:
        raise MalformedCall(f"sentAt {exc.message()}") from None
    if kind is not None:
        return Batch(calls=[_call(payload, where="body", kind=kind, context={})], sent_at=sent_at)
    raw_calls = payload.get("batch")
    if not isinstance(raw_calls, list) or not raw_calls:
        raise MalformedCall("batch must be a non-empty list of calls")
    if len(raw_calls) > MAX_BATCH:
        raise MalformedCall(f"batch holds {len(raw_calls)} calls; the limit is {MAX_BATCH}")
    context = payload.get("context")
    shared = context if isinstance(context, dict) else {}
    calls = [
        _call(raw, where=f"batch.{index}", kind=None, context=shared)
        for index, raw in enumerate(raw_calls)
    ]
    return Batch(calls=calls, sent_at=sent_at)
