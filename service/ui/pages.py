"""Rendering pages: one template environment, what every page is given, and the date range
and redirects the pages share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from service.errors import InvalidInput
from service.ui import words
from service.ui.session import Operator, csrf_token


@dataclass(frozen=True)
class Range:
    """The date range a page shows: [since, until)."""

    since: datetime
    until: datetime


PREFIX = "/ui"
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
DEFAULT_DAYS = 30
MAX_DAYS = 3660

environment = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters.update(
    percent=words.percent,
    number=words.number,
    money=words.money,
    duration=words.duration,
    moment=words.moment,
)
environment.globals["prefix"] = PREFIX


def compile_templates() -> None:
    """Compile every template at start-up, so no page's first visitor waits for its own."""
    for name in environment.list_templates(extensions=["html"]):
        environment.get_template(name)


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """A page, given the signed-in operator and her CSRF token when there is one."""
    operator: Operator | None = getattr(request.state, "ui_operator", None)
    secret: str = request.app.state.secret
    page = environment.get_template(template).render(
        operator=operator,
        csrf=csrf_token(operator, secret=secret) if operator else "",
        path=request.url.path,
        **context,
    )
    return HTMLResponse(page, status_code=status)


def redirect(url: str) -> RedirectResponse:
    """After a form or to another page: 303, so the browser follows with a GET."""
    return RedirectResponse(url, status_code=303)


def local_path(candidate: str | None) -> str:
    """Where to go after signing in: a dashboard path only, never another site."""
    if (
        candidate
        and candidate.startswith(PREFIX + "/")
        and not candidate.startswith("//")
        and "\\" not in candidate
        and all(ch.isprintable() for ch in candidate)
    ):
        return candidate
    return f"{PREFIX}/journeys"


def _day(value: str | None, field: str) -> date | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{field}: {value!r} is not a date (YYYY-MM-DD)", field=field) from None


def date_range(now: datetime, start: str | None = None, end: str | None = None) -> Range:
    """The days a page covers, both inclusive, in UTC; by default the last 30 days."""
    try:
        last = _day(end, "to") or now.astimezone(UTC).date()
        first = _day(start, "from") or last - timedelta(days=DEFAULT_DAYS - 1)
        until = datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC)
    except OverflowError:
        raise InvalidInput("the range lies outside the calendar", field="to") from None
    if first > last:
        raise InvalidInput("'from' must not be after 'to'", field="from")
    if (last - first).days >= MAX_DAYS:
        raise InvalidInput(f"a range may cover at most {MAX_DAYS} days", field="from")
    return Range(since=datetime.combine(first, time(0), tzinfo=UTC), until=until)


def range_days(window: Range) -> tuple[str, str]:
    """The range as the form's from/to values."""
    return window.since.date().isoformat(), (window.until - timedelta(days=1)).date().isoformat()


# A rendered email is shown as written, styles and all, but nothing in it may run or call out
# except images; only our own pages may frame it.
EMAIL_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; frame-ancestors 'self'"
)


def email_html(page: str) -> HTMLResponse:
    """An email's HTML part for the sandboxed frame, under the email policy."""
    return HTMLResponse(
        page,
        headers={"content-security-policy": EMAIL_POLICY, "x-frame-options": "SAMEORIGIN"},
    )
