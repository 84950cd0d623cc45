"""Event bodies from the whole JSON space, near-valid and not, into POST /events, POST
/webhooks/standard (signed) and POST /track: never a 5xx, and every answer is one the
OpenAPI document describes for that route and status.

SQLite only: on PostgreSQL the same run would double the suite's fuzzing time, and the values
that only PostgreSQL refuses (NUL, NaN, 1e400) have fixed cases on both backends in
test_edge_values.py.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.store.migrate import upgrade
from tests.api import signing
from tests.factories import FakeClock, running_app

KEY = "fuzz-key"
FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

# Any JSON value, NaN and infinities included (Python's json reads them, so clients send them).
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)
deep = st.integers(min_value=1, max_value=40).map(
    lambda depth: {"a": json.loads("[" * depth + "]" * depth)}
)


def _either(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value: plausible four times in five, else anything at all."""
    return st.one_of(plausible, plausible, plausible, plausible, json_values)


texts = st.text(min_size=1, max_size=12)
times = st.sampled_from(
    ["2026-03-01T10:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00", "2026-03-01"]
) | st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat())
event_types = st.sampled_from(
    [
        *("web.page_viewed", "web.form_submitted", "email.clicked", "email.unsubscribed"),
        *("order.completed", "sms.opted_out", "custom.tier", "email.clickd", "Web", ""),
    ]
)
zones = st.sampled_from(["America/New_York", "UTC", "America", "Europe/", "A" * 300, "Mars/Base"])
emails = st.sampled_from(["ava@example.com", "bea@example.com", "AVA@Example.com "]) | texts.map(
    lambda local: f"{local}@example.com"
)
phones = st.sampled_from(
    ["+15555550100", "+15555550100\n", "+" + "".join(chr(0xFF10 + int(d)) for d in "15555550100")]
)
contacts = st.fixed_dictionaries({"email": emails}) | st.fixed_dictionaries(
    {},
    optional={
        "email": _either(emails),
        "phone": _either(phones),
        "external_id": _either(texts),
        "id": _either(st.just("no-such-contact")),
    },
)
attributes = st.dictionaries(
    st.sampled_from(["first_name", "wedding_date", "timezone", "persona", "bad key"]) | texts,
    _either(st.sampled_from(["Ava", "2027-09-18", "18/09/2027", "Europe/Paris"])),
    max_size=5,
)
properties = st.dictionaries(
    st.sampled_from(["form", "link", "categories", "message_id", "scope"]) | texts,
    json_values | deep,
    max_size=5,
)
events = st.fixed_dictionaries(
    {
        "id": _either(texts),
        "type": _either(event_types),
        "source": _either(st.sampled_from(["shop", "sendgrid", "nurture.links", "web", "a b"])),
        "contact": _either(contacts),
    },
    optional={
        "time": _either(times),
        "properties": _either(properties),
        "attributes": _either(attributes),
        "timezone": _either(zones),
        "persona": _either(texts),
        "surprise": json_values,
    },
)
# Events nurture accepts, so the fuzzing also reaches journeys, consent and the database.
good_events = st.fixed_dictionaries(
    {
        "id": texts,
        "type": st.sampled_from(["web.page_viewed", "web.form_submitted", "email.clicked"]),
        "source": st.sampled_from(["shop", "sendgrid", "web"]),
        "contact": st.fixed_dictionaries({"email": emails}),
    },
    optional={
        "time": st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat()),
        "properties": st.dictionaries(st.sampled_from(["form", "link", "x"]), json_values),
        "attributes": st.dictionaries(st.sampled_from(["first_name", "tier"]), scalars),
        "timezone": st.sampled_from(["America/New_York", "UTC"]),
    },
)
batches = st.fixed_dictionaries({"events": st.lists(good_events | events, max_size=4)})
bodies = st.one_of(good_events, events, batches, json_values)
tracked = st.fixed_dictionaries(
    {
        "id": _either(st.uuids().map(str) | texts),
        "type": _either(
            st.sampled_from(["web.page_viewed", "web.form_submitted", "email.clicked"])
        ),
    },
    optional={
        "key": _either(st.sampled_from(["pk_test_shop", "pk_other"])),
        "token": _either(texts),
        "email": _either(emails),
        "properties": _either(properties),
        "attributes": _either(attributes),
        "source": st.just("nurture.links"),
    },
)
good_tracked = st.fixed_dictionaries(
    {
        "key": st.just("pk_test_shop"),
        "id": st.uuids().map(str),
        "type": st.just("web.form_submitted"),
        "email": emails,
    },
    optional={"properties": st.dictionaries(texts, json_values), "attributes": attributes},
)
track_bodies = st.one_of(good_tracked, tracked, tracked, json_values)


def _dumps(body: Any) -> bytes:
    return json.dumps(body, allow_nan=True).encode()


class Contract:
    """The app's OpenAPI document, as validators of each route's documented answers."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self._validators: dict[tuple[str, str, str], Any] = {}

    def check(self, method: str, path: str, response: Any) -> None:
        """Fail unless the status is documented and a JSON body matches its schema."""
        status = str(response.status_code)
        assert response.status_code < 500, response.text
        documented = self.spec["paths"][path][method]["responses"]
        assert status in documented, f"{method.upper()} {path}: undocumented {status}"
        content = documented[status].get("content", {})
        media = response.headers.get("content-type", "").split(";")[0]
        if content or media:
            assert media in content, f"{method.upper()} {path} {status}: undocumented {media}"
        schema = content.get(media, {}).get("schema")
        if media != "application/json" or schema is None:
            return
        key = (method, path, status)
        if key not in self._validators:
            self._validators[key] = jsonschema_rs.validator_for(
                {**schema, "components": self.spec["components"]}
            )
        errors = [e.message for e in self._validators[key].iter_errors(response.json())]
        assert not errors, f"{method.upper()} {path} {status}: {errors[:3]} in {response.text}"


class Client:
    """Blocking calls into the running app, so hypothesis can drive it example by example."""

    def __init__(self, portal: Any, harness: Any) -> None:
        self._portal = portal
        self._harness = harness

    def post(self, url: str, **kwargs: Any) -> Any:
        return self._portal.call(partial(self._harness.client.post, url, **kwargs))


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, Contract]]:
    """One app for every example (a fresh one each would cost a migration per example)."""
    folder: Path = tmp_path_factory.mktemp("fuzz-events")
    url = f"sqlite:///{folder}/nurture.db"
    upgrade(url)
    settings = signing.webhook_settings(url, folder, api_keys=KEY)
    headers = {"Authorization": f"Bearer {KEY}"}
    with start_blocking_portal() as portal:
        app = running_app(settings, FakeClock(), headers=headers)
        with portal.wrap_async_context_manager(app) as harness:
            yield Client(portal, harness), Contract(harness.app.openapi())


def test_post_events(running: tuple[Client, Contract]) -> None:
    client, contract = running

    @FUZZ
    @given(body=bodies)
    def post(body: Any) -> None:
        response = client.post(
            "/events", content=_dumps(body), headers={"Content-Type": "application/json"}
        )
        contract.check("post", "/events", response)

    post()


def test_post_standard_webhooks(running: tuple[Client, Contract]) -> None:
    client, contract = running
    deliveries = itertools.count()
    now = FakeClock().now()

    @FUZZ
    @given(body=bodies)
    def deliver(body: Any) -> None:
        raw = _dumps(body)
        headers = signing.standard(raw, now, msg_id=f"fuzz-{next(deliveries)}")
        response = client.post("/webhooks/standard", content=raw, headers=headers)
        contract.check("post", "/webhooks/{provider}", response)
        if isinstance(body, dict) and isinstance(body.get("events"), list):
            assert response.status_code == 200, response.text  # a batch is never refused whole

    deliver()


def test_post_track(running: tuple[Client, Contract]) -> None:
    client, contract = running

    @FUZZ
    @given(
        body=track_bodies,
        origin=st.sampled_from([None, "https://shop.example", "https://x.example"]),
    )
    def track(body: Any, origin: str | None) -> None:
        headers = {"Content-Type": "application/json", **({"Origin": origin} if origin else {})}
        response = client.post("/track", content=_dumps(body), headers=headers)
        contract.check("post", "/track", response)

    track()
