"""Pictures drawn on the server as inline SVG: the journey map and bar charts, so the pages
need no script and no chart library. Colours come from the stylesheet through classes."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from service.analytics.figures import StageRow
from service.analytics.sql import EXIT, GOAL
from service.engine.model import Journey

BOX_W, BOX_H = 200, 78
GAP_X, GAP_Y = 30, 86
MARGIN = 24


def layers(journey: Journey) -> list[list[str]]:
    """Stages in rows by their distance from `initial`, final and unreachable stages in the
    last row; within a row, stages sit under the stages that lead to them."""
    depth = {journey.initial: 0}
    queue = deque([journey.initial])
    while queue:
        current = queue.popleft()
        for transition in journey.stages[current].on:
            if transition.to not in depth:
                depth[transition.to] = depth[current] + 1
                queue.append(transition.to)
    inner = [d for name, d in depth.items() if not journey.stages[name].final]
    last = max(inner, default=-1) + 1
    grouped: dict[int, list[str]] = {}
    for name, stage in journey.stages.items():
        level = last if stage.final or name not in depth else depth[name]
        grouped.setdefault(level, []).append(name)
    rows = [grouped[d] for d in sorted(grouped)]
    parents: dict[str, list[str]] = {name: [] for name in journey.stages}
    for name, stage in journey.stages.items():
        for transition in stage.on:
            parents[transition.to].append(name)
    place: dict[str, float] = {}
    for row in rows:
        first = {name: (i + 0.5) / len(row) for i, name in enumerate(row)}
        known = {name: [place[p] for p in parents[name] if p in place] for name in row}
        row.sort(key=lambda n: sum(known[n]) / len(known[n]) if known[n] else first[n])
        place.update({name: (i + 0.5) / len(row) for i, name in enumerate(row)})
    return rows


def stage_order(journey: Journey) -> list[str]:
    """Stages as the map reads them, top to bottom and left to right."""
    return [name for row in layers(journey) for name in row]


@dataclass(frozen=True)
class _Box:
    x: float
    y: float
    row: int

    @property
    def cx(self) -> float:
        return self.x + BOX_W / 2


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.0f}%"


def _text(x: float, y: float, content: str, cls: str, anchor: str = "middle") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}">'
        f"{escape(content)}</text>"
    )


def _label(x: float, y: float, content: str) -> str:
    width = 7.2 * len(content) + 10
    return (
        f'<g class="map-edge-label"><rect x="{x - width / 2:.1f}" y="{y - 10:.1f}" '
        f'width="{width:.1f}" height="18" rx="4"></rect>'
        f"{_text(x, y + 3.5, content, 'map-edge-text')}</g>"
    )


def _edge(a: _Box, b: _Box, label: str, spread: float) -> str:
    """A curve from one box to another: downwards when the target lies lower, otherwise
    around the right-hand side (loops back and moves within a row)."""
    if b.row > a.row:
        x0, y0 = a.cx + spread, a.y + BOX_H
        x1, y1 = b.cx, b.y - 4
        bend = (y1 - y0) / 2
        c0, c1 = (x0, y0 + bend), (x1, y1 - bend)
    elif a is b:
        x0, y0 = a.x + BOX_W, a.y + BOX_H * 0.35
        x1, y1 = a.x + BOX_W + 4, a.y + BOX_H * 0.7
        c0, c1 = (x0 + 46, y0 - 22), (x1 + 46, y1 + 22)
    elif b.row == a.row:
        x0, y0 = a.cx + spread, a.y + BOX_H
        x1, y1 = b.cx + (12 if b.x > a.x else -12), b.y + BOX_H + 4
        dip = 30 + 0.08 * abs(x1 - x0)
        c0, c1 = (x0, y0 + dip), (x1, y1 + dip)
    else:
        x0, y0 = a.x + BOX_W, a.y + BOX_H / 2 + spread / 3
        x1, y1 = b.x + BOX_W + 4, b.y + BOX_H / 2
        reach = 40 + 22 * abs(a.row - b.row)
        c0, c1 = (x0 + reach, y0), (x1 + reach, y1)
    path = (
        f'<path class="map-edge" d="M{x0:.1f},{y0:.1f} C{c0[0]:.1f},{c0[1]:.1f} '
        f'{c1[0]:.1f},{c1[1]:.1f} {x1:.1f},{y1:.1f}" marker-end="url(#arrow)"></path>'
    )
    mx = (x0 + 3 * c0[0] + 3 * c1[0] + x1) / 8
    my = (y0 + 3 * c0[1] + 3 * c1[1] + y1) / 8
    return path + (_label(mx, my, label) if label else "")


def journey_map(journey: Journey, stages: dict[str, StageRow], *, title: str) -> Markup:
    """The live map: each stage with its message and active count, each way out with the
    share of the moves out of its stage that took it."""
    rows = layers(journey)
    widest = max(len(row) for row in rows)
    width = MARGIN * 2 + widest * BOX_W + (widest - 1) * GAP_X + 90
    height = MARGIN * 2 + len(rows) * BOX_H + (len(rows) - 1) * GAP_Y
    boxes: dict[str, _Box] = {}
    for r, row in enumerate(rows):
        row_width = len(row) * BOX_W + (len(row) - 1) * GAP_X
        left = (width - 90 - row_width) / 2
        for i, name in enumerate(row):
            boxes[name] = _Box(left + i * (BOX_W + GAP_X), MARGIN + r * (BOX_H + GAP_Y), r)
    edges: list[str] = []
    empty = StageRow("")
    for name, stage in journey.stages.items():
        figures = stages.get(name, empty)
        targets = list(dict.fromkeys(t.to for t in stage.on))
        for index, to in enumerate(targets):
            spread = (index - (len(targets) - 1) / 2) * 14
            label = _pct(figures.share(to)) if figures.moved_to.get(to) else ""
            edges.append(_edge(boxes[name], boxes[to], label, spread))
    nodes: list[str] = []
    for name, stage in journey.stages.items():
        box = boxes[name]
        send = f"{stage.send.channel}: {stage.send.template}" if stage.send else "no message"
        figures = stages.get(name, empty)
        active = figures.still_here
        outs = [
            f"{word} {_pct(figures.share(key))}"
            for word, key in (("goal", GOAL), ("exit", EXIT))
            if figures.moved_to.get(key)
        ]
        kind = "map-stage map-final" if stage.final else "map-stage"
        nodes.append(
            f'<g class="{kind}" data-stage="{escape(name)}">'
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{BOX_W}" height="{BOX_H}" '
            f'rx="{18 if stage.final else 6}"></rect>'
            + _text(box.cx, box.y + 20, name, "map-name")
            + _text(box.cx, box.y + 38, send, "map-send")
            + f'<text x="{box.cx:.1f}" y="{box.y + 56:.1f}" class="map-active" '
            f'text-anchor="middle" data-active="{active}">{active} active</text>'
            + (_text(box.cx, box.y + 72, " · ".join(outs), "map-outs") if outs else "")
            + "</g>"
        )
    return Markup(
        f'<svg class="journey-map" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
        f'height="{height:.0f}" role="img" '
        f'aria-labelledby="map-title" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="map-title">{escape(title)}</title>'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path class="map-arrow" '
        'd="M0,0 L10,5 L0,10 z"></path></marker></defs>'
        + "".join(edges)
        + "".join(nodes)
        + "</svg>"
    )


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value and how the value reads."""

    label: str
    value: float
    shown: str
    key: str = ""


def bar_chart(bars: Sequence[Bar], *, title: str, scale: float | None = None) -> Markup:
    """Horizontal bars with their labels and values, longest bar filling the width."""
    label_w, bar_w, row_h = 190, 330, 26
    top = max([scale or 0.0] + [b.value for b in bars]) or 1.0
    height = row_h * len(bars) + 8
    rows = []
    for i, bar in enumerate(bars):
        y = 4 + i * row_h
        length = max(bar.value / top * bar_w, 1.5 if bar.value else 0)
        rows.append(
            f'<g class="chart-row" data-key="{escape(bar.key or bar.label)}">'
            + _text(label_w - 8, y + 16, bar.label, "chart-label", "end")
            + f'<rect class="chart-bar" x="{label_w}" y="{y + 3}" width="{length:.1f}" '
            f'height="{row_h - 8}" rx="3"></rect>'
            + f'<text x="{label_w + length + 6:.1f}" y="{y + 16}" class="chart-value" '
            f'data-value="{escape(bar.shown)}">{escape(bar.shown)}</text>' + "</g>"
        )
    return Markup(
        f'<svg class="bar-chart" viewBox="0 0 {label_w + bar_w + 70} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>" + "".join(rows) + "</svg>"
    )
