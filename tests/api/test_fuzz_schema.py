"""schemathesis against the app's own /openapi.json, with every check: no 5xx, and every
answer (status, headers, content type, body) as the document describes it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from service.main import create_app
from service.store.migrate import upgrade
from tests.api.signing import webhook_settings
from tests.factories import FakeClock

KEY = "fuzz-key"
EXAMPLES = 20  # per operation and mode: about 1200 requests, under a minute
# A schema-valid request may still be refused with a 422 naming its field: JSON Schema cannot
# say everything the edge checks (text no database stores alike, such as lone surrogates; the
# event-type vocabulary; IANA zone names; contact ids and dates that depend on stored data and
# loaded journeys). That answer is still checked against the documented error body.
POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_STATUSES}}}
)


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The app on a private SQLite file, every provider and the website enabled."""
    folder: Path = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder}/nurture.db"
    upgrade(url)
    app = create_app(webhook_settings(url, folder, api_keys=KEY), FakeClock())
    yield schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)


def _operations(api_schema: Any) -> list[Any]:
    return [result.ok() for result in api_schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_keeps_its_contract(api_schema: Any, mode: GenerationMode) -> None:
    failures: dict[str, str] = {}
    for operation in _operations(api_schema):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"})

        try:
            check()
        except Unsatisfiable:  # nothing in this operation's schema can be made invalid
            assert mode is GenerationMode.NEGATIVE, operation.label
        except (Exception, BaseExceptionGroup) as exc:  # every operation is tried and reported
            failures[operation.label] = str(exc)[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
