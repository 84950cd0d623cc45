"""Request bodies: gzip inflated under a hard cap, then strict JSON, never a crash."""

from __future__ import annotations

import json
import math
import zlib
from typing import Any

from service.segment.errors import MalformedCall, TooLarge

GZIP_WBITS = 16 + zlib.MAX_WBITS
# Deeper JSON than this is no analytics call; refusing it keeps later recursive code safe.
MAX_DEPTH = 32


def inflate(data: bytes, *, limit: int) -> bytes:
    """Gzip members decompressed, refused as soon as the output passes `limit` bytes, so a
    small compressed body can never expand into a large one in memory (a zip bomb)."""
    out = bytearray()
    while data:
        stream = zlib.decompressobj(GZIP_WBITS)
        try:
            out += stream.decompress(data, limit + 1 - len(out))
        except zlib.error:
            raise MalformedCall("the body is not valid gzip") from None
        if len(out) > limit or stream.unconsumed_tail:
            raise TooLarge(f"the decompressed body exceeds {limit} bytes")
        if not stream.eof:
            raise MalformedCall("the gzip body is truncated")
        data = stream.unused_data
    return bytes(out)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _too_deep(payload: Any) -> bool:
    """Whether any value nests deeper than MAX_DEPTH, found without recursion."""
    level: list[Any] = [payload]
    for _ in range(MAX_DEPTH + 1):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return False
    return True


def decode_body(raw: bytes, *, encoding: str | None, limit: int) -> dict[str, Any]:
    """The JSON object a request carries (optionally `Content-Encoding: gzip`)."""
    coding = (encoding or "identity").strip().lower()
    if coding in ("gzip", "x-gzip"):
        raw = inflate(raw, limit=limit)
    elif coding != "identity":
        raise MalformedCall(f"Content-Encoding {encoding!r} is not supported; use gzip")
    if len(raw) > limit:
        raise TooLarge(f"the body exceeds {limit} bytes")
    try:
        payload = json.loads(raw, parse_float=_finite, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise MalformedCall(f"the body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise MalformedCall("the body must be a JSON object")
    if _too_deep(payload):
        raise MalformedCall(f"the body nests deeper than {MAX_DEPTH} levels")
    return payload
