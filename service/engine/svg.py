"""A journey as a standalone SVG: stages in layers by distance from the initial stage, for
docs and reviews where no Mermaid renderer is at hand."""

from __future__ import annotations

from collections import deque
from html import escape

from service.engine.model import Journey

WIDTH, HEIGHT = 200, 46  # one stage box
GAP_X, GAP_Y = 40, 70
MARGIN = 30


def _layers(journey: Journey) -> dict[str, int]:
    """Each stage's layer: its distance from the initial stage (unreachable ones last)."""
    layer = {journey.initial: 0}
    queue = deque([journey.initial])
    while queue:
        name = queue.popleft()
        stage = journey.stages[name]
        for target in [t.to for t in stage.on] + [b.to for b in (stage.split or {}).values()]:
            if target in journey.stages and target not in layer:
                layer[target] = layer[name] + 1
                queue.append(target)
    last = max(layer.values()) + 1
    return {name: layer.get(name, last) for name in journey.stages}


def _edges(journey: Journey) -> list[tuple[str, str, str, bool]]:
    """(from, to, label, dashed) for every way out and split branch."""
    edges: list[tuple[str, str, str, bool]] = []
    for name, stage in journey.stages.items():
        edges.extend((name, t.to, t.describe(), False) for t in stage.on)
        split = stage.split or {}
        total = sum(branch.weight for branch in split.values())
        edges.extend((name, b.to, f"{n} {b.weight / total:.0%}", True) for n, b in split.items())
    return [edge for edge in edges if edge[1] in journey.stages]


def svg(journey: Journey) -> str:
    """The SVG document: boxes (final stages rounded, splits dashed) and labelled arrows."""
    layers = _layers(journey)
    rows: dict[int, list[str]] = {}
    for name, layer in layers.items():
        rows.setdefault(layer, []).append(name)
    widest = max(len(names) for names in rows.values())
    width = 2 * MARGIN + widest * WIDTH + (widest - 1) * GAP_X
    height = 2 * MARGIN + len(rows) * HEIGHT + (len(rows) - 1) * GAP_Y
    where: dict[str, tuple[float, float]] = {}
    for layer, names in rows.items():
        offset = (width - len(names) * WIDTH - (len(names) - 1) * GAP_X) / 2
        for index, name in enumerate(names):
            where[name] = (offset + index * (WIDTH + GAP_X), MARGIN + layer * (HEIGHT + GAP_Y))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}"'
        f' viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(journey.journey)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7"'
        ' markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"'
        ' fill="#555"/></marker></defs>',
    ]
    for source, target, label, dashed in _edges(journey):
        parts.append(_arrow(where[source], where[target], label, dashed=dashed))
    for name, stage in journey.stages.items():
        x, y = where[name]
        radius = HEIGHT / 2 if stage.final else 6
        dash = ' stroke-dasharray="5,3"' if stage.split else ""
        sends = f"{stage.send.channel}: {stage.send.template}" if stage.send else ""
        parts.append(
            f'<g class="stage" id="stage-{escape(name)}">'
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{WIDTH}" height="{HEIGHT}" rx="{radius:.0f}"'
            f' fill="{"#eef5ee" if stage.final else "#f4f6fb"}" stroke="#334"{dash}/>'
            f'<text x="{x + WIDTH / 2:.0f}" y="{y + (18 if sends else 27):.0f}"'
            f' text-anchor="middle" font-weight="bold">{escape(name)}</text>'
            + (
                f'<text x="{x + WIDTH / 2:.0f}" y="{y + 35:.0f}" text-anchor="middle"'
                f' fill="#555">{escape(sends)}</text>'
                if sends
                else ""
            )
            + "</g>"
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _arrow(
    start: tuple[float, float], end: tuple[float, float], label: str, *, dashed: bool
) -> str:
    """A labelled arrow between two boxes; moves back up (or to itself) bend out to the side."""
    (x1, y1), (x2, y2) = start, end
    dash = ' stroke-dasharray="5,3"' if dashed else ""
    if y2 > y1:  # down to a later layer: bottom centre to top centre
        ax, ay, bx, by = x1 + WIDTH / 2, y1 + HEIGHT, x2 + WIDTH / 2, y2
        cx, cy = (ax + bx) / 2, (ay + by) / 2
    else:  # back up, sideways or a loop: leave and enter on the right
        ax, ay, bx, by = x1 + WIDTH, y1 + HEIGHT / 2, x2 + WIDTH, y2 + HEIGHT / 2
        cx, cy = max(ax, bx) + 60 + abs(ay - by) / 4, (ay + by) / 2 - (20 if ay == by else 0)
    mx, my = (ax + 2 * cx + bx) / 4, (ay + 2 * cy + by) / 4  # the curve's midpoint
    return (
        f'<g class="move"><path d="M{ax:.0f},{ay:.0f} Q{cx:.0f},{cy:.0f} {bx:.0f},{by:.0f}"'
        f' fill="none" stroke="#555"{dash} marker-end="url(#arrow)"/>'
        f'<text x="{mx:.0f}" y="{my:.0f}" text-anchor="middle" fill="#224">{escape(label)}</text>'
        "</g>"
    )
