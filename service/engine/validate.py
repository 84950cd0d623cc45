"""`nurture validate`: every journey and every template, checked before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TextIO

from service.engine.core import CompiledJourney
from service.engine.durations import format_duration
from service.engine.limits import TemplateLimits
from service.engine.loader import JourneySource, load_files
from service.engine.model import Stage
from service.engine.render import (
    ContentLibrary,
    PreviewLinks,
    Rendered,
    sms_segments,
    stage_context,
)
from service.engine.state import ContactView
from service.engine.timing import is_valid_zone
from service.errors import JourneyError


@dataclass
class JourneyReport:
    """What validate learned about one valid journey, for the summary table."""

    journey: CompiledJourney
    source: JourneySource
    sms_segments: dict[str, tuple[str, int]] = field(default_factory=dict)


@dataclass
class ValidationResult:
    """All problems found, and a report for each journey that passed."""

    errors: list[JourneyError] = field(default_factory=list)
    reports: list[JourneyReport] = field(default_factory=list)


def sample_contact(journey: CompiledJourney) -> ContactView:
    """The journey's declared sample contact, as the engine sees contacts."""
    sample = journey.journey.sample_contact
    view = ContactView.of(sample, id="sample")
    return replace(view, persona=sample.persona or journey.journey.persona)


def check_stage(
    source: JourneySource,
    journey: CompiledJourney,
    name: str,
    content: ContentLibrary,
    *,
    contact: ContactView,
    today: date,
) -> Rendered | None:
    """One stage's message rendered for `contact` (None when the stage sends nothing);
    raises the JourneyError validate reports, so a preview shows the same problems."""
    stage = journey.journey.stages[name]
    if stage.send is None:
        return None
    send = stage.send
    if not content.exists(send.template, send.channel):
        raise source.error(
            f"stage '{name}': template '{send.template}' has no {send.channel} file "
            f"({content.root / (send.template + '.' + send.channel + '.j2')})",
            "stages",
            name,
            "send",
            "template",
        )
    context = stage_context(
        journey, name, contact=contact, event=None, links=PreviewLinks(), today=today
    )
    return content.render(send.channel, send.template, context)


def check_templates(
    source: JourneySource, journey: CompiledJourney, content: ContentLibrary, today: date
) -> tuple[list[JourneyError], JourneyReport]:
    """Every stage's template exists and renders against the sample contact."""
    errors: list[JourneyError] = []
    report = JourneyReport(journey, source)
    contact = sample_contact(journey)
    tz = journey.journey.sample_contact.timezone
    if tz and not is_valid_zone(tz):
        errors.append(source.error(f"unknown timezone {tz!r}", "sample_contact", "timezone"))
    for name in journey.journey.stages:
        try:
            rendered = check_stage(source, journey, name, content, contact=contact, today=today)
        except JourneyError as exc:
            errors.append(exc)
            continue
        if rendered is not None and rendered.channel == "sms":
            report.sms_segments[rendered.template] = sms_segments(rendered.body)
    return errors, report


def validate(
    paths: list[Path], *, content_dir: Path, today: date, limits: TemplateLimits | None = None
) -> ValidationResult:
    """Check journeys and templates (within the sending limits); every problem, not the first."""
    result = ValidationResult()
    content = ContentLibrary(content_dir, limits=limits)
    found = False
    for loaded in load_files(paths):
        found = True
        result.errors.extend(loaded.errors)
        if loaded.source is None or loaded.journey is None:
            continue
        errors, report = check_templates(loaded.source, loaded.journey, content, today)
        result.errors.extend(errors)
        if not errors:
            result.reports.append(report)
    if not found:
        result.errors.append(
            JourneyError("no journey files found", path=", ".join(map(str, paths)))
        )
    return result


def _summary(report: JourneyReport) -> list[str]:
    journey = report.journey
    stages = journey.journey.stages
    sends = [s.send for s in stages.values() if s.send]
    by_channel = {
        ch: sum(1 for s in sends if s.channel == ch) for ch in ("email", "sms", "webhook")
    }
    timers = sum(1 for s in stages.values() for t in s.on if t.is_timer)
    events = sum(1 for s in stages.values() for t in s.on if not t.is_timer)
    lines = [
        f"{journey.id} (version {journey.version}, persona {journey.journey.persona or '-'}): "
        f"{len(stages)} stages, {sum(1 for s in stages.values() if s.final)} final, "
        f"{events} event and {timers} timer transitions, "
        f"sends: {', '.join(f'{n} {ch}' for ch, n in by_channel.items() if n) or 'none'}"
    ]
    splits = sum(1 for s in stages.values() if s.split)
    if splits:
        lines[0] = lines[0].replace(" transitions, ", f" transitions, {splits} split(s), ", 1)
    rows = [("stage", "sends", "ways out")]
    for name, stage in stages.items():
        send = f"{stage.send.channel} {stage.send.template}" if stage.send else "-"
        rows.append((name, send, ways_out(stage)))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines.extend(f"  {a:<{widths[0]}}  {b:<{widths[1]}}  {c}".rstrip() for a, b, c in rows)
    for template, (encoding, segments) in sorted(report.sms_segments.items()):
        lines.append(f"  sms {template}: {segments} segment(s), {encoding}")
    return lines


def ways_out(stage: Stage) -> str:
    """A stage's ways out in a few words: its transitions, its split, or final."""
    if stage.final:
        return "final"
    if stage.split:
        total = sum(b.weight for b in stage.split.values())
        arms = [f"split {n} {b.weight / total:.0%} -> {b.to}" for n, b in stage.split.items()]
        if stage.winner:
            arms.append(f"winner after {format_duration(stage.winner.after)}")
        return ", ".join(arms)
    return ", ".join(f"{t.describe()} -> {t.to}" for t in stage.on)


def run_validate(
    paths: list[Path],
    *,
    content_dir: Path,
    today: date,
    out: TextIO,
    limits: TemplateLimits | None = None,
) -> int:
    """CLI body: print errors (file:line: message) or a summary; exit code 1 on any error."""
    result = validate(paths, content_dir=content_dir, today=today, limits=limits)
    for error in result.errors:
        out.write(f"{error.message}\n")
    if result.errors:
        out.write(f"{len(result.errors)} problem(s) found\n")
        return 1
    for report in result.reports:
        out.write("\n".join(_summary(report)) + "\n")
    out.write(f"{len(result.reports)} journey(s) valid\n")
    return 0
