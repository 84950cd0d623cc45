"""Twilio's X-Twilio-Signature: HMAC over the public URL plus the sorted POST params, keyed
with the Auth Token, or with a Webhook Setting's shared key when Twilio sends its settings."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import SplitResult, parse_qsl, urlsplit

from webhooks.common import header
from webhooks.errors import MalformedPayload, SignatureError
from webhooks.protocol import Headers, SizedAdapter

SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
_ALGORITHMS = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}


def form_params(raw_body: bytes) -> list[tuple[str, str]]:
    """Decode an application/x-www-form-urlencoded body, keeping blanks and repeats."""
    try:
        return parse_qsl(raw_body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedPayload("body is not form-encoded UTF-8") from exc


def compute(secret: str, url: str, params: list[tuple[str, str]], algorithm: str) -> str:
    """The signature Twilio would send for this URL and these params."""
    signed = url
    for name in sorted({name for name, _ in params}):
        for value in sorted({value for key, value in params if key == name}):
            signed += name + value
    digest = hmac.new(secret.encode(), signed.encode(), _ALGORITHMS[algorithm]).digest()
    return base64.b64encode(digest).decode()


def _algorithm(settings: str | None) -> str:
    """HMAC_SHA1 (auth token) unless the signature-settings header names another."""
    for part in (settings or "").split(","):
        name, _, value = part.partition("=")
        if name.strip() == "algorithm" and value.strip():
            return value.strip().upper()
    return "HMAC_SHA1"


def _url_variants(url: str) -> list[str]:
    """The URL as given, without and with its default port, as Twilio's own validator tries."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
    default_port = 443 if parts.scheme == "https" else 80
    without_port = SplitResult(parts.scheme, host, parts.path, parts.query, parts.fragment)
    with_port = without_port._replace(netloc=f"{host}:{parts.port or default_port}")
    return list(dict.fromkeys([url, without_port.geturl(), with_port.geturl()]))


def verify(secret: str, url: str, raw_body: bytes, headers: Mapping[str, str]) -> None:
    """Raise SignatureError unless the header matches the body for the public `url`."""
    given = header(headers, SIGNATURE_HEADER)
    if not given:
        raise SignatureError(f"missing {SIGNATURE_HEADER}")
    algorithm = _algorithm(header(headers, SETTINGS_HEADER))
    if algorithm not in _ALGORITHMS:
        raise SignatureError(f"unsupported signature algorithm {algorithm}")
    params = form_params(raw_body)
    matches = [
        hmac.compare_digest(compute(secret, variant, params, algorithm).encode(), given.encode())
        for variant in _url_variants(url)
    ]
    if not any(matches):
        raise SignatureError("X-Twilio-Signature does not match")


class TwilioSignedAdapter(SizedAdapter):
    """Verification shared by Twilio's SMS and Voice callbacks: one X-Twilio-Signature scheme."""

    MAX_BODY_BYTES = 64 * 1024

    def __init__(self, auth_token: str, *, source: str, shared_key: str | None = None) -> None:
        self._auth_token = auth_token
        self._shared_key = shared_key
        self.source = source

    def _verify(self, raw_body: bytes, headers: Headers, now: datetime, url: str) -> None:
        """Raise unless signed for `url`, the public URL Twilio called (behind any proxy)."""
        secret = self._auth_token
        if header(headers, SETTINGS_HEADER) is not None:  # a Webhook Setting signs with its key
            if self._shared_key is None:
                raise SignatureError(f"{SETTINGS_HEADER} is set but no shared key is configured")
            secret = self._shared_key
        verify(secret, url, raw_body, headers)
