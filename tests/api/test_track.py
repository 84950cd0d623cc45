"""The website: nurture.js and POST /track with a publishable key, CORS and signed tokens."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from typing import Any

import pytest

from service.store.intake import InboxEvent
from service.tracking.links import sign_token, visitor_token
from tests.factories import START, Harness, signup, stored

ORIGIN = {"Origin": "https://shop.example"}
SECRET = "test-link-secret"


def web(type: str = "web.page_viewed", **fields: Any) -> dict[str, Any]:
    return {"key": "pk_test_shop", "id": str(uuid.uuid4()), "type": type, **fields}


async def test_snippet_is_served(hooks: Harness) -> None:
    response = await hooks.client.get("/js/nurture.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert "window.nurture" in response.text and "/track" in response.text


async def test_page_view_from_an_email_link_visitor(hooks: Harness) -> None:
    await hooks.post_events(signup())
    contact = await hooks.contact()
    token = visitor_token(contact["id"], secret=SECRET, issued_at=hooks.clock.now())
    body = web(token=token, properties={"page": "favors"})
    response = await hooks.client.post("/track", json=body, headers=ORIGIN)
    await hooks.apply_inbox()
    assert response.status_code == 202
    assert response.json() == {"id": body["id"], "status": "accepted"}
    assert response.headers["access-control-allow-origin"] == "https://shop.example"
    again = await hooks.client.post("/track", json=body, headers=ORIGIN)
    await hooks.apply_inbox()
    assert again.json()["status"] == "duplicate"
    timeline = (await hooks.client.get(f"/contacts/{contact['id']}/timeline")).json()
    assert [e["summary"] for e in timeline if e["kind"] == "event"].count("web.page_viewed") == 1


async def test_signup_form_enrolls_by_email(hooks: Harness) -> None:
    body = web(
        "web.form_submitted",
        email="Ava@Example.com",
        properties={"form": "wedding-signup"},
        attributes={"wedding_date": "2026-06-20"},
    )
    assert (await hooks.client.post("/track", json=body, headers=ORIGIN)).status_code == 202
    await hooks.apply_inbox()
    contact = await hooks.contact()
    assert contact["attributes"] == {"wedding_date": "2026-06-20"}
    assert [e["journey"] for e in contact["enrollments"]] == ["wedding-story"]


async def test_email_form_cannot_change_an_existing_contacts_attributes(hooks: Harness) -> None:
    await hooks.post_events(signup(attributes={"first_name": "Ava", "wedding_date": "2026-06-20"}))
    attributes = {"wedding_date": "2030-01-01", "first_name": None, "city": "Leeds"}
    body = web("web.form_submitted", email="ava@example.com", attributes=attributes)
    assert (await hooks.client.post("/track", json=body, headers=ORIGIN)).status_code == 202
    await hooks.apply_inbox()
    contact = await hooks.contact()
    assert contact["attributes"] == {
        "first_name": "Ava",
        "wedding_date": "2026-06-20",
        "city": "Leeds",
    }


async def test_the_inbox_keeps_who_may_only_add_attributes(hooks: Harness) -> None:
    await hooks.post_events(signup(attributes={"first_name": "Ava", "wedding_date": "2026-06-20"}))
    contact = await hooks.contact()
    token = visitor_token(contact["id"], secret=SECRET, issued_at=hooks.clock.now())
    by_email = web("web.form_submitted", email="ava@example.com", attributes={"first_name": "X"})
    by_token = web("web.form_submitted", token=token, attributes={"city": "Leeds"})
    for body in (by_email, by_token):
        assert (await hooks.client.post("/track", json=body, headers=ORIGIN)).status_code == 202
    pending = {
        row.event_id: row.add_attributes_only
        for row in stored(hooks.app.state.runtime, InboxEvent, source="web")
        if row.applied_at is None
    }
    assert pending == {by_email["id"]: True, by_token["id"]: False}
    assert (await hooks.contact())["attributes"]["first_name"] == "Ava"  # not applied yet
    assert await hooks.apply_inbox() == 2
    attributes = (await hooks.contact())["attributes"]
    assert attributes == {"first_name": "Ava", "wedding_date": "2026-06-20", "city": "Leeds"}
    by_token = web("web.form_submitted", token=token, attributes={"first_name": "Eva"})
    assert (await hooks.client.post("/track", json=by_token, headers=ORIGIN)).status_code == 202
    await hooks.apply_inbox()
    assert (await hooks.contact())["attributes"]["first_name"] == "Eva"  # her own link may


async def test_token_and_another_contacts_email_are_refused(hooks: Harness) -> None:
    await hooks.post_events(signup("ava@example.com"), signup("bea@example.com"))
    ava = await hooks.contact("ava@example.com")
    token = visitor_token(ava["id"], secret=SECRET, issued_at=hooks.clock.now())
    body = web("web.form_submitted", token=token, email="bea@example.com", attributes={"x": "1"})
    response = await hooks.client.post("/track", json=body, headers=ORIGIN)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "email"
    assert "x" not in (await hooks.contact("bea@example.com"))["attributes"]
    own = body | {"id": str(uuid.uuid4()), "email": "ava@example.com"}
    assert (await hooks.client.post("/track", json=own, headers=ORIGIN)).status_code == 202


async def test_refusals(hooks: Harness) -> None:
    token = visitor_token("00000000-0000-0000-0000-000000000000", secret=SECRET, issued_at=START)
    forged = sign_token({"k": "t", "c": "someone"}, secret="guess")
    no_expiry = sign_token({"k": "t", "c": "someone"}, secret=SECRET)
    cases = [
        (web(token=token) | {"key": "pk_other"}, ORIGIN, 401),
        (web(token=token) | {"key": None}, ORIGIN, 401),
        (web("email.unsubscribed", token=token), ORIGIN, 403),
        (web(token=token), {"Origin": "https://evil.example"}, 403),
        (web(token=forged), ORIGIN, 403),
        (web(token=no_expiry), ORIGIN, 403),
        (web(token="abc.\u00e9"), ORIGIN, 403),
        (web(), ORIGIN, 422),  # nobody named
        (web(email="ava@example.com"), ORIGIN, 422),  # email only on form submissions
    ]
    for body, headers, status in cases:
        response = await hooks.client.post("/track", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
    header_key = web("web.form_submitted", email="ava@example.com") | {"key": None}
    headers = ORIGIN | {"X-Nurture-Key": "pk_test_shop"}
    assert (await hooks.client.post("/track", json=header_key, headers=headers)).status_code == 202


async def test_preflight_only_for_configured_origins(hooks: Harness) -> None:
    request = {"Access-Control-Request-Method": "POST"}
    allowed = await hooks.client.options("/track", headers=ORIGIN | request)
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    assert "access-control-allow-credentials" not in allowed.headers
    assert "x-nurture-key" in allowed.headers["access-control-allow-headers"].lower()
    other = await hooks.client.options("/track", headers={"Origin": "https://evil.example"})
    assert other.status_code == 403
    assert "access-control-allow-origin" not in other.headers


async def test_tracking_is_off_without_keys(harness: Harness) -> None:
    response = await harness.client.post("/track", json=web(), headers=ORIGIN)
    assert response.status_code == 404


BROWSER = """
const snippet = require("fs").readFileSync(0, "utf8");
const calls = { replaced: [], sent: [] };
const page = "https://shop.example/favors?a=1&nt=TOKEN#top";
const location = new URL(page);
const storage = {};
global.window = {
  localStorage: {
    setItem: (k, v) => { storage[k] = v; },
    getItem: (k) => (k in storage ? storage[k] : null),
  },
  history: {
    state: null,
    replaceState: (state, title, url) => {
      calls.replaced.push(url);
      location.href = url;
    },
  },
  location,
  crypto: { randomUUID: () => "00000000-0000-4000-8000-000000000000" },
};
global.location = location;
global.document = {
  currentScript: { src: "https://nurture.test/js/nurture.js", getAttribute: () => null },
  title: "Favors",
  referrer: "https://shop.example/?nt=OLD",
};
global.fetch = (url, init) => {
  calls.sent.push(JSON.parse(init.body));
  return Promise.resolve({ status: 202 });
};
eval(snippet);
console.log(JSON.stringify(calls));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the snippet")
async def test_snippet_strips_the_visitor_token_from_the_address(hooks: Harness) -> None:
    snippet = (await hooks.client.get("/js/nurture.js")).text
    run = subprocess.run(
        ["node", "-e", BROWSER], input=snippet, capture_output=True, text=True, check=True
    )
    calls = json.loads(run.stdout)
    assert calls["replaced"] == ["https://shop.example/favors?a=1#top"]
    [view] = calls["sent"]
    assert view["token"] == "TOKEN"
    assert view["properties"]["url"] == "https://shop.example/favors?a=1#top"
    assert view["properties"]["referrer"] == "https://shop.example/"
    assert "nt=" not in json.dumps(view["properties"])


async def test_a_form_naming_no_real_timezone_is_refused_naming_the_field(
    hooks: Harness,
) -> None:
    body = web("web.form_submitted", email="ava@example.com", attributes={"timezone": "Ava"})
    response = await hooks.client.post("/track", json=body, headers=ORIGIN)
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["field"] == "attributes"
    assert "unknown IANA timezone" in problem["message"]
    lookup = await hooks.client.get("/contacts", params={"email": "ava@example.com"})
    assert lookup.status_code == 404
