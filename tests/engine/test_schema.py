"""The journey JSON Schema: committed as generated, and agreeing with the loader on every sample
journey and every broken fixture, wherever a schema can tell."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from service.cli import main
from service.engine.loader import LineLoader, parse_source, plain
from service.engine.schema import journey_schema
from service.errors import JourneyErrors

REPO = Path(__file__).parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
VALID = [
    *sorted((REPO / "journeys").glob("*.yaml")),
    *sorted((REPO / "tests" / "fixtures" / "journeys").glob("*.yaml")),
    *sorted((FIXTURES / "valid").glob("*.yaml")),
]
BROKEN = sorted((FIXTURES / "broken").glob("*.yaml"))
# What only the loader and validate can tell: the graph, guards, templates and windows, and
# YAML that does not parse (an editor's YAML parser reports that itself).
BEYOND_SCHEMA = {
    "bad_guard",
    "duplicate_key",
    "empty_at_window",
    "event_self_loop",
    "missing_template",
    "no_way_out",
    "shadowed_timer",
    "template_fails",
    "unknown_initial",
    "unknown_stage",
    "unreachable",
    "weekday_relative_window",
    "yaml_error",
    "zero_delay_cycle",
    "bad_date",
}


def _as_editor_sees(value: Any) -> Any:
    """YAML data as JSON: dates are the text an editor's YAML parser keeps."""
    if isinstance(value, dict):
        return {str(k): _as_editor_sees(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_editor_sees(v) for v in value]
    return value.isoformat() if isinstance(value, date) else value


def _schema_errors(path: Path) -> list[str] | None:
    """Schema errors of a file, or None when its YAML does not parse at all."""
    try:
        data = yaml.load(path.read_text(), Loader=LineLoader)
    except yaml.YAMLError:
        return None
    validator = jsonschema.Draft7Validator(journey_schema())
    return [error.message for error in validator.iter_errors(_as_editor_sees(plain(data)))]


def _loader_accepts(path: Path) -> bool:
    try:
        parse_source(path.read_text(), path=str(path))
    except JourneyErrors:
        return False
    return True


def test_the_committed_schema_is_what_nurture_schema_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schema"]) == 0
    printed = capsys.readouterr().out
    assert printed == (REPO / "journey.schema.json").read_text()
    jsonschema.Draft7Validator.check_schema(json.loads(printed))


def test_sample_journeys_point_editors_at_the_schema() -> None:
    for path in sorted((REPO / "journeys").glob("*.yaml")):
        first = path.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../journey.schema.json", path


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_valid_journeys_pass_the_schema_and_the_loader(path: Path) -> None:
    assert _loader_accepts(path)
    assert _schema_errors(path) == []


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_fixtures_fail_the_schema_wherever_it_can_tell(path: Path) -> None:
    errors = _schema_errors(path)
    if path.stem in BEYOND_SCHEMA:
        assert not errors, f"the schema catches {path.stem} after all: drop it from BEYOND_SCHEMA"
    else:
        assert errors, f"the schema accepts {path.stem}, which the loader refuses"


def test_the_schema_describes_every_trigger_form_and_split() -> None:
    schema = journey_schema()
    titles = [way["title"] for way in schema["$defs"]["Transition"]["anyOf"]]
    assert titles == ["event", "after", "at (attribute)", "at (weekday)", "at (date)"]
    validator = jsonschema.Draft7Validator(schema)
    base = {"journey": "j", "entry": {"event": "web.signup"}, "initial": "a"}

    def ok(stages: dict[str, Any]) -> bool:
        return validator.is_valid({**base, "stages": stages})

    assert ok({"a": {"on": [{"at": {"weekday": ["tue", "Thursday"], "time": "10:00"}, "to": "b"}]}})
    assert ok({"a": {"on": [{"at": {"date": "2027-02-14", "not_after": "3d"}, "to": "b"}]}})
    assert not ok({"a": {"on": [{"at": {"weekday": "tue", "attribute": "x"}, "to": "b"}]}})
    assert not ok({"a": {"on": [{"after": "1d", "event": "web.x", "to": "b"}]}})
    split = {"x": {"weight": 1, "to": "b"}, "y": {"weight": 2, "to": "c"}}
    assert ok({"a": {"split": split, "winner": {"after": "14d"}}})
    assert not ok({"a": {"split": split, "send": {"channel": "email", "template": "t"}}})
    assert not ok({"a": {"split": {"x": {"weight": 0, "to": "b"}, "y": split["y"]}}})
    assert not ok({"a": {"split": {"x": split["x"]}}})
    assert not ok({"a": {"winner": {"after": "14d"}, "final": True}})
