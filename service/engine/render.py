"""Message templates: one Jinja2 file per message, sandboxed, strict, HTML autoescaped."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound
from jinja2 import TemplateSyntaxError as JinjaSyntaxError
from jinja2.runtime import Context

from service.engine.limits import (
    ACTIVE,
    Budget,
    LimitedEnvironment,
    TemplateLimitError,
    TemplateLimits,
)
from service.engine.state import ContactView, EventView
from service.engine.timing import parse_date_value
from service.errors import JourneyError

if TYPE_CHECKING:
    from service.engine.core import CompiledJourney

# Blocks each channel's template must define; the rest are optional.
REQUIRED_BLOCKS = {"email": ("subject", "html", "text"), "sms": ("body",), "webhook": ("body",)}
OPTIONAL_BLOCKS = {"email": ("preheader",), "sms": (), "webhook": ()}
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")


class Links(Protocol):
    """Builds the links a message carries; the service signs them, previews do not."""

    def unsubscribe_url(self) -> str: ...

    def track(self, url: str, name: str) -> str: ...


@dataclass(frozen=True)
class PreviewLinks:
    """Unsigned links for validate and simulate, where nothing is sent."""

    base_url: str = "https://nurture.example"

    def unsubscribe_url(self) -> str:
        """A placeholder unsubscribe link."""
        return f"{self.base_url}/u/preview"

    def track(self, url: str, name: str) -> str:
        """A placeholder tracked link that still shows the target."""
        return f"{self.base_url}/c/preview?{urlencode({'name': name, 'url': url})}"


@dataclass(frozen=True)
class Rendered:
    """The parts of a rendered message; email uses subject/preheader/html/text, SMS body."""

    channel: str
    template: str
    subject: str = ""
    preheader: str = ""
    html: str = ""
    text: str = ""
    body: str = ""


def template_file(template: str, channel: str) -> str:
    """The file (relative to content/) that holds a stage's message for a channel."""
    return f"{template}.{channel}.j2"


def days_until(today: date) -> Callable[[Any], int]:
    """Template helper: whole days from the send date to a date attribute."""

    def helper(value: Any) -> int:
        parsed = parse_date_value(value)
        if parsed is None:
            raise ValueError(f"days_until: {value!r} is not a date")
        day = parsed.date() if isinstance(parsed, datetime) else parsed
        return (day - today).days

    return helper


def format_date(value: Any, fmt: str = "%B %-d, %Y") -> str:
    """Template helper: a date attribute in a human format."""
    parsed = parse_date_value(value)
    if parsed is None:
        raise ValueError(f"format_date: {value!r} is not a date")
    return parsed.strftime(fmt)


def message_context(
    *,
    contact: Mapping[str, Any],
    journey: Mapping[str, Any],
    stage: str,
    event: Mapping[str, Any] | None,
    recommendations: list[dict[str, Any]],
    links: Links,
    today: date,
) -> dict[str, Any]:
    """Everything a template may use; `today` is passed in so rendering never reads a clock."""
    return {
        "contact": dict(contact),
        "journey": dict(journey),
        "stage": stage,
        "event": dict(event or {}),
        "recommendations": recommendations,
        "unsubscribe_url": links.unsubscribe_url(),
        "track": links.track,
        "days_until": days_until(today),
        "format_date": format_date,
    }


def stage_context(
    journey: CompiledJourney,
    stage: str,
    *,
    contact: ContactView,
    event: EventView | None,
    links: Links,
    today: date,
) -> dict[str, Any]:
    """A stage's template context, built alike for sending, previews, validate and simulate."""
    return message_context(
        contact=contact.as_context(),
        journey={"id": journey.id, "version": journey.version, "persona": journey.journey.persona},
        stage=stage,
        event=event.as_context() if event else None,
        recommendations=list(journey.stage(stage).recommend),
        links=links,
        today=today,
    )


class TemplateOverLimits(JourneyError):
    """A template went over its limits: its message fails for good, it is never retried."""


def _environment(root: Path, *, autoescape: bool, limits: TemplateLimits) -> LimitedEnvironment:
    return LimitedEnvironment(
        limits,
        loader=FileSystemLoader(str(root)),
        undefined=StrictUndefined,
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def _join(block: Callable[[Context], Iterator[str]], ctx: Context) -> str:
    budget = ACTIVE.get()
    if budget is not None:
        budget.produced = 0  # each part is held to the output limit on its own
    return "".join(block(ctx))


class ContentLibrary:
    """The content/ folder: finds, checks and renders message templates."""

    def __init__(self, root: Path, *, limits: TemplateLimits | None = None) -> None:
        self.root = root
        self.limits = limits or TemplateLimits()
        # The same file is compiled twice: HTML parts autoescaped, plain parts not.
        self._html = _environment(root, autoescape=True, limits=self.limits)
        self._plain = _environment(root, autoescape=False, limits=self.limits)

    def exists(self, template: str, channel: str) -> bool:
        """Whether the template file for this channel is present."""
        return (self.root / template_file(template, channel)).is_file()

    def render(self, channel: str, template: str, context: Mapping[str, Any]) -> Rendered:
        """Render every part within the limits; JourneyError names the template's file:line."""
        name = template_file(template, channel)
        token = ACTIVE.set(Budget(self.limits))
        try:
            parts = self._render_parts(channel, name, context)
        except TemplateNotFound as exc:
            raise JourneyError(
                f"template '{exc.name}' not found", path=self._display(name)
            ) from None
        except JinjaSyntaxError as exc:
            where = self._display(exc.name or name)
            raise JourneyError(
                f"template syntax: {exc.message}", path=where, line=exc.lineno
            ) from None
        except TemplateLimitError as exc:
            where, line = self._locate(exc, name)
            reason = f"template over its limits: {exc}"
            raise TemplateOverLimits(reason, path=where, line=line) from None
        except RecursionError as exc:
            where, line = self._locate(exc, name)
            reason = "template over its limits: templates or calls nested too deep"
            raise TemplateOverLimits(reason, path=where, line=line) from None
        except MemoryError:
            reason = "template over its limits: out of memory"
            raise TemplateOverLimits(reason, path=self._display(name)) from None
        except (
            TemplateError,
            ValueError,
            TypeError,
            KeyError,
            AttributeError,
            ArithmeticError,
        ) as exc:
            where, line = self._locate(exc, name)
            raise JourneyError(f"render failed: {exc}", path=where, line=line) from None
        finally:
            ACTIVE.reset(token)
        size = sum(len(part.encode()) for part in parts.values())
        if size > self.limits.max_output_bytes:
            reason = (
                f"template over its limits: message of {size:,} bytes is over the limit of "
                f"{self.limits.max_output_bytes:,} (NURTURE_TEMPLATE_MAX_OUTPUT_BYTES)"
            )
            raise TemplateOverLimits(reason, path=self._display(name))
        return Rendered(channel=channel, template=template, **parts)

    def _render_parts(self, channel: str, name: str, context: Mapping[str, Any]) -> dict[str, str]:
        parts: dict[str, str] = {}
        plain = self._resolved_blocks(self._plain, name, context)
        html = self._resolved_blocks(self._html, name, context) if channel == "email" else plain
        for block in REQUIRED_BLOCKS[channel] + OPTIONAL_BLOCKS[channel]:
            render_block = (html if block == "html" else plain).get(block)
            if render_block is None:
                if block in REQUIRED_BLOCKS[channel]:
                    raise JourneyError(
                        f"template defines no '{block}' block", path=self._display(name)
                    )
                continue
            parts[block] = render_block().strip()
        return parts

    @staticmethod
    def _resolved_blocks(
        env: LimitedEnvironment, name: str, context: Mapping[str, Any]
    ) -> dict[str, Callable[[], str]]:
        """Each block as the most derived template defines it, layouts included.

        Jinja links parent blocks into the context only while the root template renders,
        so the template is rendered once before its blocks are rendered one by one.
        """
        template = env.get_template(name)
        ctx = template.new_context(dict(context))
        _join(template.root_render_func, ctx)
        return {block: partial(_join, stack[0], ctx) for block, stack in ctx.blocks.items()}

    def _display(self, name: str) -> str:
        return str(self.root / name)

    def _locate(self, exc: BaseException, name: str) -> tuple[str, int | None]:
        """The innermost template frame of a render error: Jinja maps it to template lines."""
        root = self.root.resolve()
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            file = Path(frame.filename).resolve()
            if file.is_relative_to(root) and frame.lineno is not None:
                relative = file.relative_to(root).as_posix()
                # Frames carry lines of Jinja's generated code; map them back to the template.
                line = self._plain.get_template(relative).get_corresponding_lineno(frame.lineno)
                return self._display(relative), line
        return self._display(name), None


def sms_segments(body: str) -> tuple[str, int]:
    """Encoding and segment count as carriers bill them (GSM-7 153/160, UCS-2 67/70)."""
    if all(ch in GSM7 or ch in GSM7_EXTENDED for ch in body):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in body)
        return "GSM-7", 1 if units <= 160 else -(-units // 153)
    units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in body)
    return "UCS-2", 1 if units <= 70 else -(-units // 67)
