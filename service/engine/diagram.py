"""A journey as a Mermaid flowchart, with live counts, for operators' dashboards and docs;
`nurture diagram` prints it (or the SVG drawing)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from service.engine.loader import parse_source
from service.engine.model import Journey
from service.engine.simulate import find_journey
from service.engine.svg import svg
from service.errors import JourneyError, JourneyErrors, cli_exit

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def _node(stage: str) -> str:
    """Mermaid ids allow only word characters; stage names may hold '-' or '.'."""
    return "s_" + _UNSAFE.sub("_", stage)


def mermaid(
    journey: Journey,
    *,
    active: Mapping[str, int] | None = None,
    moves: Mapping[tuple[str, str, str], int] | None = None,
) -> str:
    """`flowchart TD` text: stages with active contacts, edges with how often each was taken."""
    active = active or {}
    moves = moves or {}
    lines = ["flowchart TD", f'  start(("{journey.entry.event}")) --> {_node(journey.initial)}']
    for name, stage in journey.stages.items():
        count = f"<br/>{active.get(name, 0)} active" if active else ""
        send = f"<br/>{stage.send.channel}: {stage.send.template}" if stage.send else ""
        shape = ("([", "])") if stage.final else ("{{", "}}") if stage.split else ("[", "]")
        lines.append(f'  {_node(name)}{shape[0]}"{name}{send}{count}"{shape[1]}')
    for name, stage in journey.stages.items():
        for transition in stage.on:
            taken = moves.get((name, transition.to, transition.key()))
            label = transition.describe() + (f" ({taken}x)" if taken else "")
            label = label.replace('"', "'")
            lines.append(f'  {_node(name)} -->|"{label}"| {_node(transition.to)}')
        split = stage.split or {}
        total = sum(branch.weight for branch in split.values())
        for branch, arm in split.items():
            taken = sum(
                n for (f, t, k), n in moves.items() if f == name and k.endswith(f":{branch}")
            )
            label = f"{branch} {arm.weight / total:.0%}" + (f" ({taken}x)" if taken else "")
            lines.append(f'  {_node(name)} -.->|"{label}"| {_node(arm.to)}')
    return "\n".join(lines) + "\n"


def run_diagram(name: str, *, journeys_dir: Path, fmt: str, out: TextIO) -> int:
    """CLI body: print a journey (id or file) as Mermaid or SVG; exit 1 with file:line."""
    try:
        file = find_journey(name, journeys_dir)
        journey = parse_source(file.read_text(encoding="utf-8"), path=str(file)).journey
    except (JourneyError, JourneyErrors, OSError) as exc:
        return cli_exit(exc, out)
    out.write(svg(journey) if fmt == "svg" else mermaid(journey))
    return 0
