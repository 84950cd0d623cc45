"""Template limits: render time, output size, loops and ranges, nesting depth; the same in
`nurture validate` (file:line, one line each, no traceback) as when messages are sent."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from service.engine.limits import TemplateLimits
from service.engine.render import (
    ContentLibrary,
    PreviewLinks,
    TemplateOverLimits,
    message_context,
)

DATA = {"n": 10**9, "fmt": "%999999999d", "items": list(range(1000))}
# Each runs away one way; the second part is what the error must say.
RUNAWAY = {
    "folded": ("{{ ('*'*10**9)|length }}", "1,000,000,000 characters"),
    "times_data": ("{{ 'x' * contact.attributes.n }}", "NURTURE_TEMPLATE_MAX_OUTPUT_BYTES"),
    "data_times": ("{{ (contact.attributes.n * [0])|length }}", "1,000,000,000"),
    "big_range": ("{% for i in range(10**9) %}{% endfor %}", "NURTURE_TEMPLATE_MAX_RANGE"),
    "recursion": ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "MAX_DEPTH"),
    "doubling": (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        "NURTURE_TEMPLATE_MAX_OUTPUT_BYTES",
    ),
    "power": ("{{ 2 ** contact.attributes.n }}", "a power of integers is too large"),
    "padding": ("{{ 'x'.ljust(contact.attributes.n) }}", "1,000,000,000"),
    "format": ("{{ contact.attributes.fmt % 1 }}", "999,999,999"),
    "replace": ("{% set a = 'x' * 100000 %}{{ a.replace('x', a) }}", "10,000,100,000"),
    "output": ("{% for i in range(10000) %}{{ 'y' * 1000 }}{% endfor %}", "output of"),
    "slow": (
        "{% set l = contact.attributes['items'] %}{% for a in l %}{% for b in l %}"
        "{% for c in l %}{% endfor %}{% endfor %}{% endfor %}",
        "rendering took longer than 0.5s (NURTURE_TEMPLATE_TIMEOUT_SECONDS)",
    ),
}


def _library(root: Path, **limits: float) -> ContentLibrary:
    for name, (body, _) in RUNAWAY.items():
        (root / "limits").mkdir(parents=True, exist_ok=True)
        (root / "limits" / f"{name}.sms.j2").write_text(
            "{% block body %}\n" + body + "\n{% endblock %}\n"
        )
    values = {"timeout_seconds": 0.5, **limits}
    return ContentLibrary(root, limits=TemplateLimits(clock=time.monotonic, **values))


def _context() -> dict[str, object]:
    return message_context(
        contact={"id": "c1", "attributes": DATA},
        journey={"id": "j", "version": "1", "persona": None},
        stage="s",
        event=None,
        recommendations=[],
        links=PreviewLinks(),
        today=date(2027, 1, 4),
    )


@pytest.mark.parametrize("name", sorted(RUNAWAY))
def test_a_runaway_template_stops_at_its_limit_with_file_and_line(
    tmp_path: Path, name: str
) -> None:
    library = _library(tmp_path)
    started = time.monotonic()
    with pytest.raises(TemplateOverLimits) as stopped:
        library.render("sms", f"limits/{name}", _context())
    assert time.monotonic() - started < 3
    assert stopped.value.message.startswith(f"{tmp_path}/limits/{name}.sms.j2:2: ")
    assert "template over its limits: " in stopped.value.message
    assert RUNAWAY[name][1] in stopped.value.message


def test_templates_within_the_limits_render_as_before(tmp_path: Path) -> None:
    (tmp_path / "ok.sms.j2").write_text(
        "{% block body %}"
        "{% for i in range(3) %}{{ loop.index }}/{{ loop.length }} {% endfor %}"
        "{{ '%d points' % 5000000 }}, {{ '{} of {}'.format(2, 3) }}, {{ 'ab' * 2 }}, "
        "{{ [1, 2] + [3] }}, {{ 2 ** 10 }}, {{ 'x'|center(5) }}|{{ ['a', 'b']|join('-') }}"
        "{% endblock %}"
    )
    library = _library(tmp_path)
    body = library.render("sms", "ok", _context()).body
    assert body == "1/3 2/3 3/3 5000000 points, 2 of 3, abab, [1, 2, 3], 1024,   x  |a-b"


def test_a_rendered_message_over_the_output_limit_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big.sms.j2").write_text("{% block body %}{{ 'é' * 1500 }}{% endblock %}")
    library = _library(tmp_path, max_output_bytes=2048)
    with pytest.raises(TemplateOverLimits, match="message of 3,000 bytes"):
        library.render("sms", "big", _context())


def _limit_memory() -> None:
    """A runaway template must fail the test, not the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))


def test_validate_reports_each_template_over_its_limits(tmp_path: Path) -> None:
    content = tmp_path / "content"
    _library(content)
    stages = "\n".join(
        f"  {name}:\n    send: {{channel: sms, template: limits/{name}}}\n"
        f"    on: [{{after: 1d, to: {after}}}]"
        for name, after in zip(sorted(RUNAWAY), [*sorted(RUNAWAY)[1:], "done"], strict=True)
    )
    journey = tmp_path / "runaway.yaml"
    journey.write_text(
        "journey: runaway\nentry: {event: web.form_submitted}\n"
        f"sample_contact: {{phone: '+15555550100', attributes: {DATA}}}\n"
        f"initial: {sorted(RUNAWAY)[0]}\nstages:\n{stages}\n  done: {{final: true}}\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "validate", str(journey), "--content", str(content)],
        cwd=tmp_path,
        env={**clean, "NURTURE_TEMPLATE_TIMEOUT_SECONDS": "0.5"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=_limit_memory,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == f"{len(RUNAWAY)} problem(s) found"
    for name, (_, says) in RUNAWAY.items():
        [line] = [line for line in lines if f"/limits/{name}.sms.j2:" in line]
        assert line.startswith(f"{content}/limits/{name}.sms.j2:2: template over its limits: ")
        assert says in line
