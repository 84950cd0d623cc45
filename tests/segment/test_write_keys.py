"""Write keys: read from settings, kept apart from API keys, off until configured."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from service.errors import ConfigError
from service.main import create_app
from service.segment.auth import parse_write_keys
from tests.factories import FakeClock, make_settings, running_app
from tests.segment.conftest import basic

TRACK = {"userId": "u-1", "event": "Viewed"}


def test_labels_name_the_source_and_never_show_the_key() -> None:
    keys = parse_write_keys(SecretStr("wk_a=shop, wk_b ,wk=c=d="), api_keys=[])
    assert (keys[0].key, keys[0].source) == ("wk_a", "segment:shop")
    assert keys[1].key == "wk_b" and len(keys[1].label) == 12  # derived, stable
    assert keys[1].label == parse_write_keys(SecretStr("wk_b"), api_keys=[])[0].label
    assert keys[2].key == "wk=c=d="  # no valid label after the last '='
    assert "wk_a" not in repr(keys[0])
    assert parse_write_keys(None, api_keys=[]) == []


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("=shop", "key #1 is empty"),
        ("a=shop,b=shop", "key #2 repeats the label 'shop'"),
        ("admin-key", "key #1 is also in NURTURE_API_KEYS"),
    ],
)
def test_bad_write_keys_stop_start_up(value: str, problem: str, tmp_path: Path) -> None:
    settings = make_settings(
        "sqlite:///unused.db", tmp_path, segment_write_keys=value, api_keys="admin-key"
    )
    with pytest.raises(ConfigError) as raised:
        create_app(settings, FakeClock())
    assert problem in raised.value.message
    assert "admin-key" not in raised.value.message


async def test_off_until_configured(database_url: str, tmp_path: Path) -> None:
    async with running_app(make_settings(database_url, tmp_path), FakeClock()) as app:
        response = await app.client.post("/v1/track", json=TRACK, headers=basic("wk"))
    assert response.status_code == 404
    assert "NURTURE_SEGMENT_WRITE_KEYS" in response.json()["message"]


async def test_an_api_key_is_no_write_key_and_a_write_key_no_api_key(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        database_url, tmp_path, api_keys="admin-key", segment_write_keys="wk_shop"
    )
    async with running_app(settings, FakeClock(), client_host="203.0.113.9") as app:
        as_api_key = {"Authorization": "Bearer admin-key"}
        response = await app.client.post("/v1/track", json=TRACK, headers=as_api_key)
        assert response.status_code == 401
        response = await app.client.post("/v1/track", json=TRACK, headers=basic("admin-key"))
        assert response.status_code == 401
        write_key = {"Authorization": "Bearer wk_shop"}
        response = await app.client.get(
            "/contacts", params={"external_id": "u-1"}, headers=write_key
        )
        assert response.status_code == 401
        assert (
            await app.client.post("/v1/track", json=TRACK, headers=basic("wk_shop"))
        ).status_code == 200
        await app.apply_inbox()
        found = await app.client.get("/contacts", params={"external_id": "u-1"}, headers=as_api_key)
        assert found.status_code == 200
