"""Mermaid diagrams of journeys: every stage and edge, safe ids, counts where given."""

from __future__ import annotations

from service.engine.core import CompiledJourney
from service.engine.diagram import mermaid
from service.engine.loader import compile_text


def test_every_stage_and_transition_is_drawn(mini: CompiledJourney) -> None:
    lines = [line.strip() for line in mermaid(mini.journey).splitlines()]
    assert lines[:2] == ["flowchart TD", 'start(("web.form_submitted")) --> s_welcome']
    assert 's_favors["favors<br/>sms: mini/favors"]' in lines
    assert 's_favors -->|"at wedding_date-30d"| s_last_month' in lines
    assert 's_thank_you -->|"after 1w"| s_thank_you' in lines
    assert 's_done(["done"])' in lines
    edges = [line for line in lines if "-->|" in line]
    assert len(edges) == sum(len(stage.on) for stage in mini.journey.stages.values())


def test_counts_and_unsafe_names() -> None:
    journey = compile_text(
        """
journey: odd
entry: {event: web.form_submitted}
initial: step-1.a
stages:
  step-1.a:
    on:
      - {event: email.clicked, when: "event.properties.x == \\"y\\"", to: end}
  end: {final: true}
""",
        path="odd.yaml",
    ).journey
    text = mermaid(
        journey, active={"step-1.a": 3}, moves={("step-1.a", "end", "event:email.clicked"): 7}
    )
    assert 's_step_1_a["step-1.a<br/>3 active"]' in text
    assert 's_step_1_a -->|"email.clicked (if) (7x)"| s_end' in text
