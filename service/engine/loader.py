"""Read journey files into compiled journeys, with errors that name file, line and field."""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from service.engine.core import CompiledJourney
from service.engine.durations import format_duration
from service.engine.guards import Guard, GuardSyntaxError
from service.engine.model import Journey, Stage, Transition
from service.errors import JourneyError, JourneyErrors

Path_ = tuple[str | int, ...]


class LineDict(dict[Any, Any]):
    """A YAML mapping that remembers the line of itself and of each key."""

    line: int = 0
    key_lines: dict[Any, int]


class LineList(list[Any]):
    """A YAML sequence that remembers the line of itself and of each item."""

    line: int = 0
    item_lines: list[int]


class LineLoader(yaml.SafeLoader):
    """SafeLoader that keeps line numbers, rejects duplicate keys, and reads YAML 1.2 booleans.

    YAML 1.1 reads `on`, `off`, `yes` and `no` as booleans, which would turn every stage's
    `on:` key into `True`; only true/false are booleans here.
    """


LineLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
LineLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_mapping(loader: LineLoader, node: yaml.MappingNode) -> LineDict:
    data = LineDict()
    data.line = node.start_mark.line + 1
    data.key_lines = {}
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in data:
            raise yaml.MarkedYAMLError(
                problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark
            )
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key] = key_node.start_mark.line + 1
    return data


def _construct_sequence(loader: LineLoader, node: yaml.SequenceNode) -> LineList:
    data = LineList(loader.construct_object(child, deep=True) for child in node.value)
    data.line = node.start_mark.line + 1
    data.item_lines = [child.start_mark.line + 1 for child in node.value]
    return data


def _construct_timestamp(loader: LineLoader, node: yaml.ScalarNode) -> Any:
    """A date YAML recognises by its shape but that does not exist (2027-02-30) is an error
    at its line, not a crash."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        raise yaml.constructor.ConstructorError(
            problem=f"bad date {node.value!r}: {exc}", problem_mark=node.start_mark
        ) from None


LineLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def plain(value: Any) -> Any:
    """The same data as built-in dicts and lists, for code that must not see line tracking."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def line_of(raw: Any, path: Path_) -> int | None:
    """The line of the deepest node along `path` that the YAML text defines."""
    line: int | None = getattr(raw, "line", None)
    node = raw
    for part in path:
        if isinstance(node, LineDict) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line


def _field_name(loc: Iterable[str | int]) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-"))]
    return ".".join(parts)


@dataclass
class JourneySource:
    """One journey file's text with its parsed model and raw tree (for line numbers)."""

    path: str
    text: str
    journey: Journey
    raw: Any
    version: str

    def error(self, message: str, *path: str | int) -> JourneyError:
        """An error pointing at the line that holds `path`."""
        return JourneyError(message, path=self.path, line=line_of(self.raw, path))


def content_version(text: str) -> str:
    """A version derived from the file's content, for files that do not declare one."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def parse_source(text: str, *, path: str, stored: bool = False) -> JourneySource:
    """Parse and type-check one journey's YAML text; raises JourneyErrors."""
    try:
        raw = yaml.load(text, Loader=LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        raise JourneyErrors(
            [JourneyError(f"YAML error: {exc.problem}", path=path, line=line)]
        ) from None
    except yaml.YAMLError as exc:
        raise JourneyErrors([JourneyError(f"YAML error: {exc}", path=path)]) from None
    if not isinstance(raw, dict):
        raise JourneyErrors(
            [JourneyError("a journey file must be a YAML mapping", path=path, line=1)]
        )
    try:
        journey = Journey.model_validate(plain(raw), context={"stored": stored})
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            name = _field_name(loc)
            if err["type"] == "extra_forbidden":
                message = f"unknown field '{name}'"
            elif err["type"] == "missing":
                message = f"missing field '{name}'"
            else:
                message = f"{name}: {err['msg'].removeprefix('Value error, ')}"
            errors.append(JourneyError(message, path=path, line=line_of(raw, loc)))
        raise JourneyErrors(errors) from None
    version = journey.version or content_version(text)
    return JourneySource(path=path, text=text, journey=journey, raw=raw, version=version)


def check_graph(source: JourneySource) -> list[JourneyError]:
    """The rules a schema cannot express: stages, reachability, ways out, guards, cycles."""
    journey = source.journey
    stages = journey.stages
    errors: list[JourneyError] = []
    if journey.initial not in stages:
        errors.append(source.error(f"initial stage '{journey.initial}' is not defined", "initial"))
    for name, stage in stages.items():
        for index, transition in enumerate(stage.on):
            where = ("stages", name, "on", index)
            if transition.to not in stages:
                errors.append(
                    source.error(
                        f"stage '{name}' moves to unknown stage '{transition.to}'", *where, "to"
                    )
                )
            elif transition.to == name and not transition.is_timer:
                errors.append(
                    source.error(
                        f"stage '{name}' moves to itself on an event; only timers may loop",
                        *where,
                    )
                )
        for branch, arm in (stage.split or {}).items():
            if arm.to not in stages:
                errors.append(
                    source.error(
                        f"stage '{name}' splits to unknown stage '{arm.to}'",
                        *("stages", name, "split", branch, "to"),
                    )
                )
        if not stage.final and not stage.on and not stage.split:
            errors.append(
                source.error(
                    f"stage '{name}' has no way out: add an 'on' transition or mark it final: true",
                    "stages",
                    name,
                )
            )
    errors.extend(_guard_errors(source))
    errors.extend(_shadowed_timers(source))
    if errors:
        return errors
    reachable = _reachable(journey)
    for name in stages:
        if name not in reachable:
            errors.append(
                source.error(
                    f"stage '{name}' is unreachable from '{journey.initial}'", "stages", name
                )
            )
    cycle = _zero_delay_cycle(journey)
    if cycle:
        loop = " -> ".join([*cycle, cycle[0]])
        errors.append(
            source.error(
                f"zero-delay cycle {loop}: these moves can repeat at once, with no wait or event",
                "stages",
                cycle[0],
            )
        )
    return errors


def _guard_errors(source: JourneySource) -> list[JourneyError]:
    journey = source.journey
    places: list[tuple[str | None, Path_]] = [(journey.entry.when, ("entry", "when"))]
    places += [(m.when, ("exit", "events", i, "when")) for i, m in enumerate(journey.exit.events)]
    if journey.goal:
        places.append((journey.goal.when, ("goal", "when")))
    for name, stage in journey.stages.items():
        places += [(t.when, ("stages", name, "on", i, "when")) for i, t in enumerate(stage.on)]
    errors = []
    for when, where in places:
        if when is None:
            continue
        try:
            Guard(when)
        except GuardSyntaxError as exc:
            errors.append(source.error(str(exc), *where))
    return errors


def _shadowed_timers(source: JourneySource) -> list[JourneyError]:
    """A fixed wait longer than an unguarded one in the same stage can never fire."""
    errors = []
    for name, stage in source.journey.stages.items():
        fixed = [(d, i) for i, t in enumerate(stage.on) if (d := t.trigger.delay()) is not None]
        unguarded = [(delay, index) for delay, index in fixed if not stage.on[index].when]
        if not unguarded:
            continue
        first_delay, first = min(unguarded)
        winner = line_of(source.raw, ("stages", name, "on", first))
        for delay, index in fixed:
            if (delay, index) > (first_delay, first):
                errors.append(
                    source.error(
                        f"stage '{name}': {_wait(stage.on[index], delay)} can never fire;"
                        f" {_wait(stage.on[first], first_delay)} on line {winner}"
                        " always fires first",
                        "stages",
                        name,
                        "on",
                        index,
                    )
                )
    return errors


def _wait(transition: Transition, delay: timedelta) -> str:
    """The wait as a journey file writes it, e.g. 'after: 1w'."""
    return f"'{transition.trigger.kind}: {format_duration(delay)}'"


def _reachable(journey: Journey) -> set[str]:
    seen = {journey.initial}
    queue = deque([journey.initial])
    while queue:
        for target in _targets(journey.stages[queue.popleft()]):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def _targets(stage: Stage, *, at_once: bool = False) -> list[str]:
    """Where a stage leads: every way out and split branch, or (`at_once`) only those that
    can be taken the moment she enters it."""
    ways = [t.to for t in stage.on if not at_once or t.trigger.fires_on_entry()]
    return ways + [arm.to for arm in (stage.split or {}).values()]


def _zero_delay_cycle(journey: Journey) -> list[str] | None:
    """A cycle of moves that can all fire on entry: `after: 0s`, a past `at` (if_past: now),
    or a split."""
    edges = {name: _targets(stage, at_once=True) for name, stage in journey.stages.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in edges[node]:
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in edges:
        if start not in state and (found := visit(start)):
            return found
    return None


def compile_source(source: JourneySource, *, default_tz: str = "UTC") -> CompiledJourney:
    """Check the graph and compile; raises JourneyErrors naming every problem."""
    errors = check_graph(source)
    if errors:
        raise JourneyErrors(errors)
    return CompiledJourney(
        source.journey, version=source.version, path=source.path, default_tz=default_tz
    )


def compile_text(
    text: str, *, path: str, default_tz: str = "UTC", stored: bool = False
) -> CompiledJourney:
    """Parse and compile journey text: a file's, or (`stored`) a version enrollments are
    pinned to, which must keep working even if it no longer passes today's checks."""
    return compile_source(parse_source(text, path=path, stored=stored), default_tz=default_tz)


def journey_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories to their *.yaml / *.yml files, sorted for stable output."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        else:
            files.append(path)
    return files


@dataclass
class Catalog:
    """The journeys currently defined in files, by id, with their sources."""

    journeys: dict[str, CompiledJourney] = field(default_factory=dict)
    sources: dict[str, JourneySource] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadedFile:
    """One journey file: its source and compiled journey, or the problems that stopped it."""

    errors: list[JourneyError]
    source: JourneySource | None = None
    journey: CompiledJourney | None = None


def load_files(paths: Iterable[Path], *, default_tz: str = "UTC") -> Iterator[LoadedFile]:
    """Read, check and compile each journey file in turn; an id may be defined only once."""
    seen: dict[str, str] = {}
    for file in journey_files(paths):
        display = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            yield LoadedFile([JourneyError(f"cannot read: {exc}", path=display)])
            continue
        try:
            source = parse_source(text, path=display)
            compiled = compile_source(source, default_tz=default_tz)
        except JourneyErrors as exc:
            yield LoadedFile(exc.errors)
            continue
        if compiled.id in seen:
            message = f"journey id '{compiled.id}' is also defined in {seen[compiled.id]}"
            yield LoadedFile([source.error(message, "journey")])
            continue
        seen[compiled.id] = display
        yield LoadedFile([], source, compiled)


def load_catalog(paths: Iterable[Path], *, default_tz: str = "UTC") -> Catalog:
    """Load every journey file; raises JourneyErrors listing every problem in every file."""
    catalog = Catalog()
    errors: list[JourneyError] = []
    for loaded in load_files(paths, default_tz=default_tz):
        errors.extend(loaded.errors)
        if loaded.source is not None and loaded.journey is not None:
            catalog.journeys[loaded.journey.id] = loaded.journey
            catalog.sources[loaded.journey.id] = loaded.source
    if errors:
        raise JourneyErrors(errors)
    return catalog
