"""The `nurture` command: serve, worker, db upgrade, validate, simulate, reload, and the
journey tools."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from service.config import Settings, get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nurture", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API and the scheduler")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes serving the API, each with its applier and scheduler (PostgreSQL only)",
    )

    commands.add_parser("worker", help="run the scheduler alone, without HTTP")

    db = commands.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"], help="apply all migrations")

    validate = commands.add_parser("validate", help="check journeys and their templates")
    validate.add_argument("paths", nargs="*", type=Path, help="journey files or folders")
    validate.add_argument("--content", type=Path, help="content folder (default: settings)")
    validate.add_argument(
        "--today",
        type=date.fromisoformat,
        help="render templates as of this date (YYYY-MM-DD; default: today), for repeatable runs",
    )

    simulate = commands.add_parser("simulate", help="run one contact through a journey")
    simulate.add_argument("journey", help="journey id (from the journeys folder) or file")
    simulate.add_argument("--scenario", type=Path, required=True, help="scenario YAML file")
    simulate.add_argument("--until", help="run timers this long after the start, e.g. 180d")
    simulate.add_argument("--journeys", type=Path, help="journeys folder (default: settings)")
    simulate.add_argument("--content", type=Path, help="content folder (default: settings)")

    reload = commands.add_parser("reload", help="reload journeys in the running service")
    reload.add_argument(
        "--url",
        default=os.environ.get("NURTURE_URL", "http://127.0.0.1:8000"),
        help="the service (default: NURTURE_URL or http://127.0.0.1:8000)",
    )
    reload.add_argument(
        "--api-key",
        default=os.environ.get("NURTURE_API_KEY"),
        help="a key with the write scope (default: NURTURE_API_KEY)",
    )

    diagram = commands.add_parser("diagram", help="print a journey's map")
    diagram.add_argument("journey", help="journey id (from the journeys folder) or file")
    diagram.add_argument("--format", choices=["mermaid", "svg"], default="mermaid")
    diagram.add_argument("--journeys", type=Path, help="journeys folder (default: settings)")

    render = commands.add_parser("render", help="render one message for a contact")
    render.add_argument("template", help="e.g. bride/welcome (or bride/welcome.email)")
    who = render.add_mutually_exclusive_group()
    who.add_argument("--contact", type=Path, help="a YAML file: email, timezone, attributes...")
    who.add_argument("--contact-id", help="a stored contact (default: the sample contact)")
    render.add_argument("--stage", help="the stage that sends it (default: the first that does)")
    render.add_argument("--html", type=Path, help="where to write the HTML (default: ./NAME.html)")
    render.add_argument("--today", type=date.fromisoformat, help="render as of this date")
    render.add_argument(
        "--send-to",
        help="also send it once, marked as a test, to this address through the configured provider",
    )

    load = commands.add_parser("import", help="import contacts from a CSV file")
    load.add_argument("file", type=Path, help="CSV with a header row (README, Audiences)")
    load.add_argument("--journey", help="enrol each imported contact in this journey")
    load.add_argument("--dry-run", action="store_true", help="check and count, change nothing")

    figures = commands.add_parser("report", help="print a journey's analytics as tables")
    figures.add_argument("journey", help="journey id")
    figures.add_argument("--since", help="from this time (RFC 3339), inclusive")
    figures.add_argument("--until", help="before this time (RFC 3339)")
    figures.add_argument("--version", help="one version only")

    schema = commands.add_parser("schema", help="print the JSON Schema of a journey file")
    schema.add_argument("--output", type=Path, help="write it to this file instead")
    return parser


def _setting_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable a settings error is about (aliases already carry the prefix)."""
    name = "_".join(map(str, loc)).upper()
    return name if name.startswith("NURTURE_") else f"NURTURE_{name}"


def _settings() -> Settings:
    """Settings, or one clear line and exit status 2 when they are invalid."""
    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(f"{_setting_name(e['loc'])}: {e['msg']}" for e in exc.errors())
        print(f"nurture: invalid settings: {problems}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = _parser().parse_args(argv)
    settings = _settings()  # invalid settings stop every command here, with one line
    if args.command == "validate":
        from service.engine.validate import run_validate

        return run_validate(
            args.paths or [settings.journeys_dir],
            content_dir=args.content or settings.content_dir,
            today=args.today or date.today(),
            out=sys.stdout,
            limits=settings.template_limits(),
        )
    if args.command == "simulate":
        from service.engine.simulate import run_simulate

        return run_simulate(
            args.journey,
            scenario=args.scenario,
            until=args.until,
            journeys_dir=args.journeys or settings.journeys_dir,
            content_dir=args.content or settings.content_dir,
            out=sys.stdout,
        )
    if args.command == "diagram":
        from service.engine.diagram import run_diagram

        return run_diagram(
            args.journey,
            journeys_dir=args.journeys or settings.journeys_dir,
            fmt=args.format,
            out=sys.stdout,
        )
    if args.command == "render":
        from service.catalog.preview import run_render

        return run_render(
            args.template,
            settings=settings,
            contact_file=args.contact,
            contact_id=args.contact_id,
            stage=args.stage,
            html_out=args.html,
            today=args.today or date.today(),
            out=sys.stdout,
            send_to=args.send_to,
        )
    if args.command == "import":
        from service.enrollments.imports import run_import
        from service.runtime import run_command

        return run_command(
            settings,
            lambda runtime: run_import(
                runtime,
                args.file,
                journey_id=args.journey,
                dry_run=args.dry_run,
                out=sys.stdout,
                err=sys.stderr,
            ),
            err=sys.stderr,
        )
    if args.command == "report":
        from service.analytics.terminal import run_report

        return run_report(
            settings,
            args.journey,
            since=args.since,
            until=args.until,
            version=args.version,
            out=sys.stdout,
            err=sys.stderr,
        )
    if args.command == "schema":
        from service.engine.schema import schema_text

        if args.output:
            args.output.write_text(schema_text(), encoding="utf-8")
        else:
            sys.stdout.write(schema_text())
        return 0
    if args.command == "reload":
        from service.catalog.remote import run_reload

        return run_reload(url=args.url, api_key=args.api_key, out=sys.stdout)
    if args.command == "serve":
        from service.main import serve

        return serve(host=args.host, port=args.port, workers=args.workers)
    if args.command == "worker":
        from service.scheduler.worker import run_worker

        return run_worker()
    from service.store.migrate import upgrade

    return upgrade()


if __name__ == "__main__":
    sys.exit(main())
