"""Signed message links cannot be forged, reused for another purpose, or pointed elsewhere."""

from __future__ import annotations

import pytest

from service.errors import Forbidden, InvalidInput
from service.tracking.links import CLICK, UNSUBSCRIBE, SignedLinks, read_token

LINKS = SignedLinks(base_url="https://n.example", secret="s3cret", message_id="m1", contact_id="c1")


def _token(url: str, prefix: str) -> str:
    assert url.startswith(prefix)
    return url.removeprefix(prefix)


def test_click_token_round_trips() -> None:
    token = _token(LINKS.track("https://shop.example/favors?a=1", "favors"), "https://n.example/c/")
    assert read_token(token, secret="s3cret", kind=CLICK) == {
        "k": "c",
        "m": "m1",
        "c": "c1",
        "u": "https://shop.example/favors?a=1",
        "n": "favors",
    }


def test_unsubscribe_token_is_not_a_click_token() -> None:
    token = _token(LINKS.unsubscribe_url(), "https://n.example/u/")
    assert read_token(token, secret="s3cret", kind=UNSUBSCRIBE)["c"] == "c1"
    with pytest.raises(Forbidden, match="not valid for this action"):
        read_token(token, secret="s3cret", kind=CLICK)


def test_wrong_secret_and_tampering_are_rejected() -> None:
    token = _token(LINKS.unsubscribe_url(), "https://n.example/u/")
    with pytest.raises(Forbidden, match="signature"):
        read_token(token, secret="other", kind=UNSUBSCRIBE)
    body, _, mac = token.partition(".")
    forged = SignedLinks("https://n.example", "guess", "m1", "c2").unsubscribe_url()
    forged_body = _token(forged, "https://n.example/u/").partition(".")[0]
    with pytest.raises(Forbidden):
        read_token(f"{forged_body}.{mac}", secret="s3cret", kind=UNSUBSCRIBE)
    with pytest.raises(Forbidden):
        read_token(body, secret="s3cret", kind=UNSUBSCRIBE)


def test_malformed_but_signed_body_is_a_clear_error() -> None:
    import base64
    import hashlib
    import hmac

    body = "not-json"
    mac = base64.urlsafe_b64encode(
        hmac.new(b"s3cret", body.encode(), hashlib.sha256).digest()
    ).rstrip(b"=")
    with pytest.raises(InvalidInput, match="malformed"):
        read_token(f"{body}.{mac.decode()}", secret="s3cret", kind=CLICK)


def test_only_web_links_are_tracked() -> None:
    with pytest.raises(ValueError, match="only http"):
        LINKS.track("javascript:alert(1)", "x")
