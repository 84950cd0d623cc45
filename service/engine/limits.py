"""Template limits: render time, output size, loop and range sizes, nesting depth.

A template runs in Jinja2's immutable sandbox with these added guards, so neither a slow or
runaway template nor a number taken from a contact's data can hold a worker or its memory:

- every loop is counted (at most `max_range` turns) and `range()` refuses more numbers;
- `*`, `**`, `%` and `+` are intercepted (which also keeps Jinja2 from folding them at compile
  time) and refuse results larger than the limits before computing them; so do the string
  methods and filters that pad, repeat or join (`center`, `replace`, `join`, `format`, ...);
- every value a call, filter or `~` makes, and everything a template outputs (in macros and
  `set` blocks too), is counted against `max_output_bytes`;
- calls (macros calling macros) nest at most `max_depth` deep;
- with a clock, the render stops once it has run `timeout_seconds`, checked as it goes.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import wraps
from typing import Any

from jinja2 import nodes
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg
from jinja2.visitor import NodeTransformer

# Integers past this many bits only come from runaway arithmetic (and take long to print).
MAX_INT_BITS = 10_000
MAX_JSON_INDENT = 64
TICKS_PER_CLOCK_READ = 16
LOOP_GUARD = "_nurture_loop"
SIZE_GUARD = "_nurture_size"
OUTPUT_GUARD = "_nurture_output"
SETTING = {
    "timeout": "NURTURE_TEMPLATE_TIMEOUT_SECONDS",
    "output": "NURTURE_TEMPLATE_MAX_OUTPUT_BYTES",
    "range": "NURTURE_TEMPLATE_MAX_RANGE",
    "depth": "NURTURE_TEMPLATE_MAX_DEPTH",
}


@dataclass(frozen=True)
class TemplateLimits:
    """How much one message's render may take; `clock` (monotonic seconds) enables the timeout."""

    timeout_seconds: float = 2.0
    max_output_bytes: int = 1_000_000
    max_range: int = 10_000
    max_depth: int = 50
    clock: Callable[[], float] | None = None


class TemplateLimitError(Exception):
    """A template went over one of its limits; the message says which and how to change it."""


def _over(what: str, limit: int | float, setting: str) -> TemplateLimitError:
    return TemplateLimitError(f"{what} is over the limit of {limit:,} ({SETTING[setting]})")


class Budget:
    """One render's use of its limits, shared by the guards through a context variable."""

    def __init__(self, limits: TemplateLimits) -> None:
        self.limits = limits
        self.deadline = (
            limits.clock() + limits.timeout_seconds if limits.clock is not None else None
        )
        self.ticks = 0
        self.produced = 0
        self.depth = 0

    def tick(self) -> None:
        """One more step of work; every few steps, the clock is read against the deadline."""
        self.ticks += 1
        if (
            self.deadline is not None
            and self.limits.clock is not None
            and self.ticks % TICKS_PER_CLOCK_READ == 0
            and self.limits.clock() > self.deadline
        ):
            raise TemplateLimitError(
                f"rendering took longer than {self.limits.timeout_seconds:g}s "
                f"({SETTING['timeout']})"
            )

    def produce(self, size: int) -> None:
        """Count text a template outputs, wherever it goes (macros and `set` blocks too)."""
        self.tick()
        self.produced += size
        if self.produced > self.limits.max_output_bytes:
            raise _over(
                f"output of {self.produced:,} characters", self.limits.max_output_bytes, "output"
            )

    def iterate(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """A loop's items, counted, so no loop turns more than `max_range` times."""
        limit = self.limits.max_range
        for turns, item in enumerate(iterable, start=1):
            if turns > limit:
                raise TemplateLimitError(
                    f"a loop of more than {limit:,} turns ({SETTING['range']})"
                )
            self.tick()
            yield item


ACTIVE: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "nurture_template_budget", default=None
)


def _budget() -> Budget:
    """The running render's budget; compile-time constant folding finds none and gives up."""
    budget = ACTIVE.get()
    if budget is None:
        raise TemplateLimitError("templates render only through the content library")
    return budget


# ----- sizes, checked before a value is made ------------------------------------------------


def _check_size(limits: TemplateLimits, size: int) -> None:
    if size > limits.max_output_bytes:
        raise TemplateLimitError(
            f"a value of {size:,} characters or items would be over the limit of "
            f"{limits.max_output_bytes:,} ({SETTING['output']})"
        )


def _check_value(limits: TemplateLimits, value: Any) -> Any:
    """A value made by the template stays within the output limit (and sane for integers)."""
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset):
        _check_size(limits, len(value))
    elif isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise TemplateLimitError(f"an integer of {value.bit_length():,} bits is too large")
    return value


def _length(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple) else len(str(value))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


_FIELD = re.compile(r"\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}")  # a str.format field, one nesting
_PERCENT = re.compile(r"%[^a-zA-Z%]*[a-zA-Z%]")  # a %-conversion
_NUMBER = re.compile(r"\d+")


def _check_format(limits: TemplateLimits, fmt: str, args: Iterable[Any], *, percent: bool) -> None:
    """Format widths, written or taken from the values, stay within the output limit."""
    from_values = False
    for spec in (_PERCENT if percent else _FIELD).findall(fmt):
        from_values = from_values or ("*" in spec if percent else spec.count("{") > 1)
        for number in _NUMBER.findall(spec):
            _check_size(limits, int(number) if len(number) < 12 else limits.max_output_bytes + 1)
    if from_values:
        for arg in args:
            _check_size(limits, abs(_int(arg)))


def _check_binop(limits: TemplateLimits, operator: str, left: Any, right: Any) -> None:
    sequences = str | list | tuple
    if operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise TemplateLimitError("a product of integers is too large")
        elif isinstance(left, sequences) or isinstance(right, sequences):
            sequence, times = (left, right) if isinstance(left, sequences) else (right, left)
            _check_size(limits, len(sequence) * max(_int(times), 0))
    elif operator == "**":
        ints = isinstance(left, int) and isinstance(right, int) and right > 0
        if ints and abs(left) > 1 and right * left.bit_length() > MAX_INT_BITS:
            raise TemplateLimitError("a power of integers is too large")
    elif operator == "+":
        if isinstance(left, sequences) and isinstance(right, sequences):
            _check_size(limits, len(left) + len(right))
    elif operator == "%" and isinstance(left, str):
        values = right if isinstance(right, tuple) else (right,)
        _check_format(limits, left, values, percent=True)


def _check_text_call(
    limits: TemplateLimits, name: str, text: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, ...]:
    """Refuse padding, repeating or joining past the limit before it is done; the arguments."""
    # A joined iterable comes back read into a tuple, so it is read only once.
    first = args[0] if args else None
    if name in ("center", "ljust", "rjust", "zfill"):
        _check_size(
            limits, max(len(text), _int(first if first is not None else kwargs.get("width")))
        )
    elif name == "expandtabs":
        _check_size(limits, len(text) + text.count("\t") * _int(first or kwargs.get("tabsize", 8)))
    elif name == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        hits = text.count(old) if old else len(text) + 1
        _check_size(limits, len(text) + hits * len(new))
    elif name == "join" and first is not None:
        items = tuple(first)
        _check_size(limits, sum(_length(i) for i in items) + len(text) * max(len(items) - 1, 0))
        return (items, *args[1:])
    elif name == "indent":
        width = first if first is not None else kwargs.get("width", 4)
        size = len(width) if isinstance(width, str) else _int(width)
        _check_size(limits, len(text) + (text.count("\n") + 1) * size)
    elif name == "wordwrap":
        width = max(_int(first if first is not None else kwargs.get("width", 79)), 1)
        wrap = kwargs.get("wrapstring") or (args[2] if len(args) > 2 else None) or "\n"
        _check_size(limits, len(text) + (len(text) // width + 1) * len(str(wrap)))
    elif name == "format":
        _check_format(limits, text, [*args, *kwargs.values()], percent=False)
    elif name == "format_map" and first is not None:
        _check_format(limits, text, dict(first).values(), percent=False)
    return args


# ----- filters ------------------------------------------------------------------------------

TEXT_FILTERS = frozenset({"center", "indent", "wordwrap", "replace"})
COUNT_FILTERS = {"batch": "linecount", "slice": "slices"}


def _check_filter(
    limits: TemplateLimits, name: str, value: Any, rest: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[Any, ...]]:
    """Refuse a filter's result over the limits before it is made; the value and arguments."""
    if name in TEXT_FILTERS:
        rest = _check_text_call(limits, name, str(value), rest, kwargs)
    elif name == "format":
        _check_format(limits, str(value), [*rest, *kwargs.values()], percent=True)
    elif name == "join":
        value = tuple(value)
        separator = str(rest[0] if rest else kwargs.get("d", ""))
        size = sum(_length(item) for item in value)
        _check_size(limits, size + len(separator) * max(len(value) - 1, 0))
    elif name in COUNT_FILTERS:
        count = rest[0] if rest else kwargs.get(COUNT_FILTERS[name])
        if _int(count) > limits.max_range:
            raise _over(f"{name}({count})", limits.max_range, "range")
    elif name == "tojson":
        indent = rest[0] if rest else kwargs.get("indent")
        if _int(indent) > MAX_JSON_INDENT:
            raise TemplateLimitError(f"tojson indent {indent} is over {MAX_JSON_INDENT}")
    return value, rest


def _guarded_filter(limits: TemplateLimits, name: str, func: Callable[..., Any]) -> Any:
    """A built-in filter that refuses sizes over the limits before it makes them."""
    passes = 1 if _PassArg.from_obj(func) is not None else 0

    @wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = ACTIVE.get()
        if budget is not None:
            budget.tick()
        head, value, rest = args[:passes], args[passes], args[passes + 1 :]
        value, rest = _check_filter(limits, name, value, rest, kwargs)
        return _check_value(limits, func(*head, value, *rest, **kwargs))

    return guarded


def _loop_guard(value: Any) -> Iterator[Any]:
    return _budget().iterate(value)


def _size_guard(value: Any) -> Any:
    budget = _budget()
    budget.tick()
    return _check_value(budget.limits, value)


def _output_guard(value: Any) -> Any:
    _budget().produce(len(value) if isinstance(value, str) else len(str(value)))
    return value


class _Guards(NodeTransformer):
    """Counts every loop's turns, every `~` and everything a template outputs."""

    @staticmethod
    def _wrap(node: nodes.Node, guard: str) -> nodes.Filter:
        return nodes.Filter(node, guard, [], [], None, None, lineno=node.lineno)

    def visit_For(self, node: nodes.For) -> nodes.For:
        self.generic_visit(node)
        node.iter = self._wrap(node.iter, LOOP_GUARD)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Filter:
        self.generic_visit(node)
        return self._wrap(node, SIZE_GUARD)

    def visit_Output(self, node: nodes.Output) -> nodes.Output:
        self.generic_visit(node)
        node.nodes = [self._wrap(child, OUTPUT_GUARD) for child in node.nodes]
        return node


class LimitedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with the limits above."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, limits: TemplateLimits, **options: Any) -> None:
        super().__init__(**options)
        self.limits = limits
        for name, func in list(self.filters.items()):
            self.filters[name] = _guarded_filter(limits, name, func)
        self.filters.update(
            {LOOP_GUARD: _loop_guard, SIZE_GUARD: _size_guard, OUTPUT_GUARD: _output_guard}
        )
        self.globals["range"] = self._range

    def _range(self, *args: int) -> range:
        """`range` that refuses more than `max_range` numbers."""
        numbers = range(*args)
        if len(numbers) > self.limits.max_range:
            raise _over(f"range of {len(numbers):,} numbers", self.limits.max_range, "range")
        return numbers

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Parse, then add the guards, before Jinja2 optimises and compiles the template."""
        tree = super()._parse(source, name, filename)
        guarded = _Guards().visit(tree)
        guarded.set_environment(self)
        return guarded

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        """Compile with no render running, so the guards refuse compile-time constant folding."""
        token = ACTIVE.set(None)
        try:
            return super()._generate(source, name, filename, defer_init=defer_init)
        finally:
            ACTIVE.reset(token)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """`*`, `**`, `%` and `+`, refused when their result would be over the limits."""
        _check_binop(self.limits, operator, left, right)
        budget = ACTIVE.get()
        if budget is not None:
            budget.tick()
        return _check_value(self.limits, super().call_binop(context, operator, left, right))

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Attribute access, counted as a step of work."""
        budget = ACTIVE.get()
        if budget is not None:
            budget.tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """Item access, counted as a step of work."""
        budget = ACTIVE.get()
        if budget is not None:
            budget.tick()
        return super().getitem(obj, argument)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """A call, counted and nested at most `max_depth` deep; string methods checked first."""
        limits = __self.limits
        method = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(method, "__self__", None)
        if isinstance(owner, str):
            args = _check_text_call(limits, getattr(method, "__name__", ""), owner, args, kwargs)
        budget = _budget()
        budget.tick()
        budget.depth += 1
        try:
            if budget.depth > limits.max_depth:
                raise TemplateLimitError(
                    f"calls (macros) nested more than {limits.max_depth} deep ({SETTING['depth']})"
                )
            result = super().call(__context, __obj, *args, **kwargs)
        finally:
            budget.depth -= 1
        return _check_value(limits, result)
