"""Who may see and do what on the dashboard: sign-in with an API key, scopes, the CSRF
token, loopback without keys; every refusal leaves her where she was."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from service.api.auth import ApiKey
from service.ui import session as cookies
from tests.factories import START, FakeClock, Harness, make_settings, running_app, signup
from tests.ui.history import csrf_of

KEYS = "reader-key=read,writer-key=read+write,ingest-key=events"


@pytest.fixture
async def keyed(database_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Harness]:
    """The app with API keys, and Ava enrolled in the wedding story's welcome stage."""
    settings = make_settings(database_url, tmp_path, api_keys=KEYS)
    headers = {"Authorization": "Bearer ingest-key"}
    async with running_app(settings, clock) as app:
        signed_up = await app.client.post(
            "/events", params={"wait": "true"}, json=signup(), headers=headers
        )
        assert signed_up.status_code == 200
        yield app


async def _sign_in(app: Harness, key: str) -> httpx.Response:
    return await app.client.post("/ui/signin", data={"api_key": key, "next": "/ui/journeys"})


async def _ava(app: Harness) -> tuple[str, str]:
    """Her id and her wedding-story stage, read through the API."""
    found = await app.client.get(
        "/contacts",
        params={"email": "ava@example.com"},
        headers={"Authorization": "Bearer reader-key"},
    )
    body = found.json()
    return body["id"], next(
        e["stage"] for e in body["enrollments"] if e["journey"] == "wedding-story"
    )


async def _move(app: Harness, contact_id: str, csrf: str | None, **extra: str) -> httpx.Response:
    data = {"journey": "wedding-story", "stage": "favors", "confirm": "yes", **extra}
    if csrf is not None:
        data["csrf"] = csrf
    return await app.client.post(f"/ui/contacts/{contact_id}/move", data=data)


async def test_without_a_session_pages_ask_to_sign_in_and_actions_are_refused(
    keyed: Harness,
) -> None:
    contact_id, _ = await _ava(keyed)
    page = await keyed.client.get("/ui/journeys/wedding-story?from=2026-03-01")
    assert page.status_code == 303
    assert (
        page.headers["location"]
        == "/ui/signin?next=%2Fui%2Fjourneys%2Fwedding-story%3Ffrom%3D2026-03-01"
    )
    form = await keyed.client.get("/ui/signin")
    assert form.status_code == 200 and 'type="password"' in form.text
    moved = await _move(keyed, contact_id, "anything")
    assert moved.status_code == 401
    assert await _ava(keyed) == (contact_id, "welcome")


async def test_a_wrong_or_forged_key_gets_nothing(keyed: Harness) -> None:
    contact_id, _ = await _ava(keyed)
    wrong = await _sign_in(keyed, "nope")
    assert wrong.status_code == 401 and "That key is not valid." in wrong.text
    assert "set-cookie" not in wrong.headers
    keyed.client.cookies.set(cookies.COOKIE, "e30.forged", path="/ui")
    assert (await keyed.client.get("/ui/journeys")).status_code == 303
    other = cookies.new_operator(
        ApiKey("writer-key", frozenset({"read", "write"}), "x"), secret="other", now=START
    )
    keyed.client.cookies.set(cookies.COOKIE, cookies.encode(other, secret="other"), path="/ui")
    assert (await keyed.client.get("/ui/journeys")).status_code == 303
    assert (
        await _move(keyed, contact_id, cookies.csrf_token(other, secret="other"))
    ).status_code == 401
    assert await _ava(keyed) == (contact_id, "welcome")


async def test_a_read_key_reads_but_cannot_act(keyed: Harness) -> None:
    contact_id, _ = await _ava(keyed)
    signed = await _sign_in(keyed, "reader-key")
    assert signed.status_code == 303 and signed.headers["location"] == "/ui/journeys"
    page = await keyed.client.get(f"/ui/contacts/{contact_id}")
    assert page.status_code == 200
    assert "/move" not in page.text  # no action forms for a read key
    refused = await _move(keyed, contact_id, csrf_of(page))
    assert refused.status_code == 403 and "lacks the &#39;write&#39; scope" in refused.text
    assert await _ava(keyed) == (contact_id, "welcome")


async def test_an_events_key_may_not_read(keyed: Harness) -> None:
    assert (await _sign_in(keyed, "ingest-key")).status_code == 303
    page = await keyed.client.get("/ui/journeys")
    assert page.status_code == 403 and "lacks the &#39;read&#39; scope" in page.text


async def test_actions_need_this_sessions_csrf_token_and_a_confirmation(keyed: Harness) -> None:
    contact_id, _ = await _ava(keyed)
    await _sign_in(keyed, "writer-key")
    page = await keyed.client.get(f"/ui/contacts/{contact_id}")
    token = csrf_of(page)
    assert (await _move(keyed, contact_id, None)).status_code == 403
    assert (await _move(keyed, contact_id, "0" * 64)).status_code == 403
    stranger = cookies.new_operator(
        ApiKey("writer-key", frozenset({"write"}), "k"), secret="s", now=START
    )
    other_token = cookies.csrf_token(stranger, secret=cookies.session_secret("test-secret-key"))
    assert (await _move(keyed, contact_id, other_token)).status_code == 403
    unconfirmed = await _move(keyed, contact_id, token, confirm="")
    assert unconfirmed.status_code == 422 and "nothing was changed" in unconfirmed.text
    elsewhere = await keyed.client.post(
        f"/ui/contacts/{contact_id}/move",
        data={"journey": "wedding-story", "stage": "favors", "confirm": "yes", "csrf": token},
        headers={"Origin": "https://evil.example"},
    )
    assert elsewhere.status_code == 403
    as_json = await keyed.client.post(f"/ui/contacts/{contact_id}/move", json={"csrf": token})
    assert as_json.status_code == 403
    assert await _ava(keyed) == (contact_id, "welcome")
    done = await _move(keyed, contact_id, token)
    assert done.status_code == 303 and done.headers["location"].endswith("?notice=moved")
    assert await _ava(keyed) == (contact_id, "favors")


async def test_exit_and_enrol(keyed: Harness) -> None:
    contact_id, _ = await _ava(keyed)
    await _sign_in(keyed, "writer-key")
    token = csrf_of(await keyed.client.get(f"/ui/contacts/{contact_id}"))
    url = f"/ui/contacts/{contact_id}"
    again = await keyed.client.post(
        f"{url}/enrol", data={"journey": "wedding-story", "confirm": "yes", "csrf": token}
    )
    assert again.status_code == 409  # already active there
    bad_stage = await _move(keyed, contact_id, token, stage="nowhere")
    assert bad_stage.status_code == 422
    left = await keyed.client.post(
        f"{url}/exit", data={"journey": "wedding-story", "confirm": "yes", "csrf": token}
    )
    assert left.status_code == 303
    page = await keyed.client.get(left.headers["location"])
    assert "She left the journey" in page.text
    assert "wedding-story: welcome -&gt; welcome" in page.text  # the exit, in her timeline
    joined = await keyed.client.post(
        f"{url}/enrol", data={"journey": "promo-always", "confirm": "yes", "csrf": token}
    )
    assert joined.status_code == 303
    state = await keyed.client.get(
        "/contacts",
        params={"email": "ava@example.com"},
        headers={"Authorization": "Bearer reader-key"},
    )
    assert {(e["journey"], e["status"]) for e in state.json()["enrollments"]} == {
        ("wedding-story", "exited"),
        ("promo-always", "active"),
    }


async def test_sign_out_and_safe_redirects(keyed: Harness) -> None:
    signed = await keyed.client.post(
        "/ui/signin", data={"api_key": "reader-key", "next": "https://evil.example/ui/x"}
    )
    assert signed.headers["location"] == "/ui/journeys"
    signed = await keyed.client.post(
        "/ui/signin", data={"api_key": "reader-key", "next": "//evil.example"}
    )
    assert signed.headers["location"] == "/ui/journeys"
    page = await keyed.client.get("/ui/journeys")
    out = await keyed.client.post("/ui/signout", data={"csrf": csrf_of(page)})
    assert out.status_code == 303
    assert (await keyed.client.get("/ui/journeys")).status_code == 303


async def test_cookie_flags_and_page_headers(keyed: Harness) -> None:
    signed = await _sign_in(keyed, "reader-key")
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith(f"{cookies.COOKIE}=")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/ui"} <= flags and "secure" not in flags
    assert "reader-key" not in cookie
    page = await keyed.client.get("/ui/journeys")
    assert page.headers["content-security-policy"] == (
        "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'"
    )
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "same-origin"
    assert "<script>" not in page.text and " style=" not in page.text


async def test_cookie_is_secure_over_https(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(database_url, tmp_path, api_keys=KEYS)
    async with running_app(settings, clock) as app:
        client = httpx.AsyncClient(transport=app.client._transport, base_url="https://nurture.test")
        async with client:
            signed = await client.post("/ui/signin", data={"api_key": "reader-key"})
    assert "secure" in signed.headers["set-cookie"].lower()


@pytest.mark.parametrize(("host", "status"), [("127.0.0.1", 200), ("::1", 200), ("10.1.2.3", 401)])
async def test_without_keys_only_loopback(
    database_url: str, tmp_path: Path, clock: FakeClock, host: str, status: int
) -> None:
    async with running_app(make_settings(database_url, tmp_path), clock, client_host=host) as app:
        page = await app.client.get("/ui/journeys")
        assert page.status_code == status
        assert (await app.client.get("/ui/signin")).status_code in (
            (303,) if status == 200 else (401,)
        )
        assert (await app.client.post("/ui/contacts/x/exit", data={})).status_code in (403, 401)


def test_sessions_end_with_their_key_and_their_lifetime() -> None:
    key = ApiKey("k1", frozenset({"read", "write"}), "key#1")
    operator = cookies.new_operator(key, secret="s", now=START)
    value = cookies.encode(operator, secret="s")
    assert cookies.decode(value, secret="s", now=START) == operator
    assert cookies.decode(value, secret="s", now=START + timedelta(hours=13)) is None
    assert cookies.decode(value, secret="t", now=START) is None
    assert cookies.still_valid(operator, [key], secret="s") == operator
    narrowed = cookies.still_valid(
        operator, [ApiKey("k1", frozenset({"read"}), "key#1")], secret="s"
    )
    assert narrowed is not None and narrowed.scopes == {"read"}
    assert (
        cookies.still_valid(operator, [ApiKey("k2", frozenset({"read"}), "key#1")], secret="s")
        is None
    )
    assert cookies.still_valid(operator, [], secret="s") is None
