"""API keys and scopes; with no keys, only loopback clients."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.api.auth import parse_api_keys
from service.errors import ConfigError
from service.settings_base import split_commas
from tests.factories import FakeClock, make_settings, running_app, signup

KEYS = "ingest-key=events,reader-key=read,admin-key"


async def test_keys_and_scopes(database_url: str, tmp_path: Path, clock: FakeClock) -> None:
    settings = make_settings(database_url, tmp_path, api_keys=KEYS)
    async with running_app(settings, clock) as app:
        client = app.client
        assert (await client.post("/events", json=signup())).status_code == 401
        bad = await client.post("/events", json=signup(), headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401 and bad.json()["error"] == "unauthorized"
        ingest = {"Authorization": "Bearer ingest-key"}
        reader = {"Authorization": "Bearer reader-key"}
        admin = {"Authorization": "Bearer admin-key"}
        accepted = await client.post("/events", json=signup(), headers=ingest)
        assert accepted.status_code == 202
        assert (await app.run_scheduler()).applied == 1
        forbidden = await client.get("/journeys", headers=ingest)
        assert forbidden.status_code == 403 and forbidden.json()["error"] == "forbidden"
        assert (await client.post("/events", json=signup(), headers=reader)).status_code == 403
        assert (await client.get("/journeys", headers=reader)).status_code == 200
        contact = (await client.get("/contacts?email=ava@example.com", headers=reader)).json()
        url = f"/contacts/{contact['id']}/enrollments/wedding-story/exit"
        assert (await client.post(url, headers=reader)).status_code == 403
        assert (await client.post(url, headers=admin)).status_code == 200
        assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize(("host", "status"), [("127.0.0.1", 200), ("::1", 200), ("10.1.2.3", 401)])
async def test_without_keys_only_loopback(
    database_url: str, tmp_path: Path, clock: FakeClock, host: str, status: int
) -> None:
    settings = make_settings(database_url, tmp_path)
    async with running_app(settings, clock, client_host=host) as app:
        assert (await app.client.get("/journeys")).status_code == status
        assert (await app.client.get("/readyz")).status_code == 200


def test_parse_api_keys() -> None:
    keys = parse_api_keys(split_commas(" a=events+read , b ,c=="))
    assert [(k.key, sorted(k.scopes)) for k in keys] == [
        ("a", ["events", "read"]),
        ("b", ["events", "read", "write"]),
        ("c==", ["events", "read", "write"]),
    ]
    with pytest.raises(ConfigError, match="unknown scope"):
        parse_api_keys(split_commas("k=admin"))
