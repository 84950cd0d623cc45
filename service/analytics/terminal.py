"""`nurture report`: a journey's analytics as terminal tables, the same rows the API
answers with, read from the database the service uses."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TextIO

from pydantic import AwareDatetime, TypeAdapter, ValidationError

from service.analytics import report
from service.config import Settings
from service.errors import NurtureError
from service.runtime import Runtime, run_command

_TIME = TypeAdapter(AwareDatetime)
TITLES: dict[report.Figure, str] = {
    "analytics": "Journey",
    "stages": "Stages",
    "messages": "Messages",
    "channels": "Channels",
    "paths": "Top paths",
    "lift": "Lift against the holdout",
}


def _moment(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return _TIME.validate_python(value)
    except ValidationError:
        raise NurtureError(f"--{name}: {value!r} is not an RFC 3339 time with an offset") from None


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:,.2f}"
    return report.cell(value)


def table(rows: list[dict[str, Any]]) -> str:
    """Rows as aligned columns under a header."""
    flat = [report.flatten(r) for r in rows]
    names = list(dict.fromkeys(name for r in flat for name in r))
    cells = [[_text(r.get(name)) for name in names] for r in flat]
    widths = [max(len(n), *(len(c[i]) for c in cells)) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def pairs(row: dict[str, Any]) -> str:
    """One object as name: value lines."""
    flat = report.flatten(row)
    width = max(len(n) for n in flat)
    return "\n".join(f"{name.ljust(width)}  {_text(value)}" for name, value in flat.items())


def run_report(
    settings: Settings,
    journey_id: str,
    *,
    since: str | None,
    until: str | None,
    version: str | None,
    out: TextIO,
    err: TextIO,
) -> int:
    """Print every analytics answer of a journey; 2 with a message on bad input."""

    def print_report(runtime: Runtime) -> int:
        scope, names = report.scope_of(
            runtime.journeys,
            journey_id,
            version=version,
            since=_moment(since, "since"),
            until=_moment(until, "until"),
        )
        with runtime.db.session() as session:
            for figure, title in TITLES.items():
                found = report.answer(session, figure, scope, names)
                body = table(found) if isinstance(found, list) else pairs(found)
                print(f"{title}\n{'=' * len(title)}\n{body or '(none)'}\n", file=out)
        return 0

    return run_command(settings, print_report, err=err)
