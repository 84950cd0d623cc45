"""`nurture schema`: the JSON Schema of a journey file, generated from the models the loader
uses, so an editor checks and completes journey files as they are typed.

The models read some values more freely than JSON types say (durations, times of day, dates,
a trigger's keys beside `to`), so those places are described here as files write them. Rules
about the whole graph (stages that exist, reachability, cycles, guards, templates) are beyond
a schema: `nurture validate` checks those.
"""

from __future__ import annotations

import json
from typing import Any

from service.engine.events import KNOWN_ACTIONS, OPEN_NAMESPACES
from service.engine.model import Journey, Transition
from service.engine.timing import WEEKDAYS
from service.engine.triggers import FORMS, TRIGGERS, Trigger

REF = "#/$defs/{model}"
DRAFT = "http://json-schema.org/draft-07/schema#"
_NAME = "^[a-z0-9][a-z0-9_.-]*$"
_DURATION = r"^\s*\d+\s*[smhdw]\s*$"
_SIGNED = r"^\s*[+-]?\s*\d+\s*[smhdw]\s*$"
_DATE = r"^\d{4}-\d{2}-\d{2}$"


def _day(name: str) -> str:
    return "".join(f"[{c}{c.upper()}]" for c in name) + "[A-Za-z]*"


_WEEKDAY = {"type": "string", "pattern": "^(" + "|".join(_day(d) for d in WEEKDAYS) + ")$"}
_WEEKDAYS = {"anyOf": [_WEEKDAY, {"type": "array", "items": _WEEKDAY, "minItems": 1}]}
_TIME = {
    "anyOf": [
        {"type": "string", "pattern": r"^([01]?\d|2[0-3]):[0-5]\d$"},
        # YAML 1.1 reads an unquoted 10:00 as minutes; the loader accepts it.
        {"type": "integer", "minimum": 0, "maximum": 1439},
    ],
    "description": "a local time of day, HH:MM",
}
_EVENT = {
    "anyOf": [
        {"enum": [f"{space}.{action}" for space, acts in KNOWN_ACTIONS.items() for action in acts]},
        {"type": "string", "pattern": f"^({'|'.join(OPEN_NAMESPACES)})\\.[a-z0-9_][a-z0-9_.-]*$"},
    ],
    "description": "an event type, source.action",
}
# Property name -> how journey files write it, wherever that property appears.
_WRITTEN: dict[str, dict[str, Any]] = {
    "journey": {"type": "string", "pattern": _NAME},
    "version": {"type": ["string", "integer", "number"]},
    "event": _EVENT,
    "after": {
        "type": "string",
        "pattern": _DURATION,
        "description": "a wait: 30s, 10m, 2h, 5d, 2w",
    },
    "offset": {"type": "string", "pattern": _SIGNED, "description": "a signed duration: -30d"},
    "time": _TIME,
    "start": _TIME,
    "end": _TIME,
    "date": {"type": "string", "pattern": _DATE, "description": "a date, YYYY-MM-DD"},
    "not_before": {
        "anyOf": [{"type": "string", "pattern": _SIGNED}, {"type": "string", "pattern": _DATE}],
        "description": "the window opens: a signed duration from the date waited for, or a date",
    },
    "not_after": {
        "anyOf": [{"type": "string", "pattern": _SIGNED}, {"type": "string", "pattern": _DATE}],
        "description": "the window closes: a signed duration from the date waited for, or a date",
    },
    "weekday": _WEEKDAYS,
    "weekdays": _WEEKDAYS,
    "weight": {"type": "number", "exclusiveMinimum": 0},
    "holdout": {
        "anyOf": [
            {"type": "string", "pattern": r"^\s*(50(\.0*)?|[1-4]?\d(\.\d*)?)\s*%\s*$"},
            {"type": "number", "minimum": 0, "maximum": 50},
        ],
        "description": "the share of entrants held out of every message, 0% to 50%: '10%'",
    },
    "window": {
        "type": "string",
        "pattern": r"^\s*0*[1-9]\d*\s*[smhdw]\s*$",
        "default": "5d",
        "description": "how far back an order looks for the message that earned it: 5d",
    },
}
_KEPT = ("title", "description", "default")


def _written(node: Any) -> None:
    """Describe every property of every object the way files write it."""
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            if name in _WRITTEN and isinstance(prop, dict):
                kept = {key: prop[key] for key in _KEPT if key in prop}
                node["properties"][name] = {**kept, **_WRITTEN[name]}
        for value in node.values():
            _written(value)
    elif isinstance(node, list):
        for value in node:
            _written(value)


def _kinds() -> list[type[Trigger]]:
    """Every trigger class journey files may use: each kind, and each form of a kind."""
    classes: list[type[Trigger]] = []
    for name, kind in TRIGGERS.items():
        classes.extend(FORMS.get(name, {}).values() or [kind])
    return classes


def _way_out(kind: type[Trigger], defs: dict[str, Any]) -> dict[str, Any]:
    """A transition written with this trigger: its keys beside `to` and `when`."""
    schema = kind.model_json_schema(ref_template=REF)
    defs.update(schema.pop("$defs", {}))
    label = kind.kind if kind.form is None else f"{kind.kind} ({kind.form})"
    return {
        "title": label,
        "description": kind.__doc__,
        "type": "object",
        "properties": {
            "to": {"type": "string", "description": "the stage she moves to"},
            "when": {"type": "string", "description": "a guard over contact, event, journey"},
            **schema.get("properties", {}),
        },
        "required": ["to", *schema.get("required", [])],
        "additionalProperties": False,
    }


def _stage_rules(stage: dict[str, Any]) -> None:
    """What a stage may combine: a split routes at once, a final stage has no way out."""
    stage["allOf"] = [
        {
            "if": {"required": ["split"], "properties": {"split": {"type": "object"}}},
            "then": {"not": {"anyOf": [{"required": ["send"]}, {"required": ["on"]}]}},
        },
        {
            "if": {"required": ["final"], "properties": {"final": {"const": True}}},
            "then": {"properties": {"on": {"maxItems": 0}}},
        },
        {"if": {"required": ["winner"]}, "then": {"required": ["split"]}},
    ]
    split = stage["properties"]["split"]
    split["anyOf"] = [
        {**option, "propertyNames": {"pattern": _NAME}, "minProperties": 2}
        if option.get("type") == "object"
        else option
        for option in split["anyOf"]
    ]


def journey_schema() -> dict[str, Any]:
    """The JSON Schema (draft 7) of one journey file."""
    schema = Journey.model_json_schema(ref_template=REF)
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    defs["Transition"] = {
        "title": "Transition",
        "description": Transition.__doc__,
        "anyOf": [_way_out(kind, defs) for kind in _kinds()],
    }
    exit_events = defs["Exit"]["properties"]["events"]
    exit_events["items"] = {"anyOf": [_EVENT, exit_events["items"]]}
    defs["Send"]["allOf"] = [
        {
            "if": {"properties": {"channel": {"const": "webhook"}}},
            "then": {"required": ["url"]},
            "else": {"properties": {"url": {"type": "null"}}},
        }
    ]
    _stage_rules(defs["Stage"])
    _written(schema)
    rest = {key: value for key, value in schema.items() if key != "title"}
    return {"$schema": DRAFT, "title": "nurture journey file", **rest}


def schema_text() -> str:
    """The schema as the committed journey.schema.json holds it."""
    return json.dumps(journey_schema(), indent=2, sort_keys=False) + "\n"
