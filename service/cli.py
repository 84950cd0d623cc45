"""The `nurture` command: serve, worker, db upgrade, validate, simulate."""

from __future__ import annotations

import argparse
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
    if args.command == "serve":
        from service.main import serve

        return serve(host=args.host, port=args.port)
    if args.command == "worker":
        from service.scheduler.worker import run_worker

        return run_worker()
    from service.store.migrate import upgrade

    return upgrade()


if __name__ == "__main__":
    sys.exit(main())
