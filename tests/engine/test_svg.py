"""`nurture diagram`: the Mermaid text, and the SVG drawing as well-formed XML with a box per
stage and an arrow per way out."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from service.engine.diagram import mermaid, run_diagram
from service.engine.loader import compile_text
from service.engine.svg import svg

REPO = Path(__file__).parents[2]
SVG = "{http://www.w3.org/2000/svg}"


def test_svg_has_a_box_per_stage_and_an_arrow_per_way_out() -> None:
    journey = compile_text((REPO / "journeys" / "b2b-buyer.yaml").read_text(), path="b2b").journey
    root = ElementTree.fromstring(svg(journey))
    groups = root.findall(f"{SVG}g")
    stages = [g for g in groups if g.get("class") == "stage"]
    moves = [g for g in groups if g.get("class") == "move"]
    assert [g.get("id") for g in stages] == [f"stage-{name}" for name in journey.stages]
    ways = sum(len(s.on) + len(s.split or {}) for s in journey.stages.values())
    assert len(moves) == ways
    split = next(g for g in stages if g.get("id") == "stage-research_split")
    assert split.find(f"{SVG}rect").get("stroke-dasharray") == "5,3"  # type: ignore[union-attr]
    labels = [t.text for g in moves for t in g.findall(f"{SVG}text")]
    assert "case_study 50%" in labels and "after 2d" in labels


def test_nurture_diagram_prints_mermaid_or_svg_by_id_or_file() -> None:
    out = io.StringIO()
    assert run_diagram("post-purchase", journeys_dir=REPO / "journeys", fmt="mermaid", out=out) == 0
    file = REPO / "journeys" / "post-purchase.yaml"
    assert out.getvalue() == mermaid(compile_text(file.read_text(), path=str(file)).journey)
    drawn = io.StringIO()
    assert run_diagram(str(file), journeys_dir=REPO / "journeys", fmt="svg", out=drawn) == 0
    assert drawn.getvalue().startswith("<svg ")
    missing = io.StringIO()
    assert run_diagram("no-such", journeys_dir=REPO / "journeys", fmt="svg", out=missing) == 1
    assert "no journey with id 'no-such'" in missing.getvalue()
