"""Code that staff write and the server runs: jinja2 templates (broadcast subjects and
bodies, rule replies, canned replies) and regular expressions (rule conditions), bounded
so that none of them can freeze the server.

**Templates** render in :class:`BoundedSandbox`, jinja2's sandbox with limits on top:

* ``range()`` makes at most ``MAX_RANGE`` numbers, and all the loops of one render run
  ``MAX_ITERATIONS`` times in all (every ``{% for %}`` is wrapped in a counting iterator);
* sizes are in characters, counted through lists, tuples and dicts
  (:mod:`bot.core.bounded_size`); ``*``, ``**``, ``%``, ``+``, ``~``, every ``{{ }}``
  and the widening filters and string methods (``join``, ``expandtabs``, ``center``,
  ``replace``, ``format``, ``indent``, ``wordwrap`` …) refuse a result over
  ``template_max_bytes`` before they build it; the output stops at ``template_max_bytes``;
* lists and dicts cannot grow in place (jinja2's immutable sandbox); ``lipsum()`` and
  ``pprint`` are gone;
* each loop step, call, attribute look-up and operator checks the render's deadline
  (``template_timeout_seconds``), so a render that runs out of time stops itself, in
  whichever thread it runs: :func:`render_async` runs it off the event loop, in a small
  pool of its own.

Any failure is a :class:`TemplateProblem` (a ``jinja2.TemplateError``) with one clear line.

**Regular expressions** compile and run with the ``regex`` module and its ``timeout=``
(``regex_timeout_ms``): :func:`check_pattern` refuses a bad pattern, and
:func:`search` counts a pattern that runs out of time as no match, logged once per
pattern. :func:`configure` takes the limits from the settings (the composition root
calls it); until then the settings' defaults hold.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import math
import operator
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import regex
from jinja2 import StrictUndefined, Template, TemplateError, nodes
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.core import bounded_size as sized
from config import Settings

log = logging.getLogger("switchboard.templates")
MAX_RANGE = 10_000
MAX_ITERATIONS = 100_000
_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(Settings)}


@dataclasses.dataclass
class Limits:
    timeout: float = float(_DEFAULTS["template_timeout_seconds"])
    max_bytes: int = int(_DEFAULTS["template_max_bytes"])
    regex_timeout: float = float(_DEFAULTS["regex_timeout_ms"]) / 1000


LIMITS = Limits()


def configure(settings: Settings) -> None:
    """Take the limits from the settings (process-wide, like the log level)."""
    LIMITS.timeout = settings.template_timeout_seconds
    LIMITS.max_bytes = settings.template_max_bytes
    LIMITS.regex_timeout = settings.regex_timeout_ms / 1000


class TemplateProblem(TemplateError):
    """A template that fails while rendering (``1/0``, a bad argument) or over a limit."""


class TemplateLimit(TemplateProblem):
    """A template over one of the limits (time, size, loops, ``range()``)."""


# --- the render's budget (per thread: a render runs in one thread from start to end) ------

_budget = threading.local()


def _tick() -> None:
    deadline = getattr(_budget, "deadline", None)
    if deadline is None:
        return
    _budget.steps += 1
    if _budget.steps > MAX_ITERATIONS:
        raise TemplateLimit(f"the template loops more than {MAX_ITERATIONS} times")
    if time.monotonic() > deadline:
        raise TemplateLimit(f"the template took longer than {LIMITS.timeout:g} s to render")


def _size(value: Any) -> float:
    """``value``'s size in characters, counted through lists, tuples and dicts
    (:func:`bot.core.bounded_size.size`); ``math.inf`` past the limit."""
    return sized.size(value, LIMITS.max_bytes)


def _too_big(size: float) -> None:
    if size > LIMITS.max_bytes:
        raise TemplateLimit(f"the template makes a value over {LIMITS.max_bytes} bytes")


def _checked(value: Any) -> Any:
    """``value``, if it is within the size limit (every ``{{ }}`` passes here before it
    is turned into text)."""
    _too_big(_size(value))
    return value


def _joined(items: Any, sep: Any) -> list[Any]:
    """The items of a ``join``, taken one by one and refused as soon as the joined text
    would be over the limit (before it is built)."""
    out, total = sized.joined(items, sep if isinstance(sep, str) else "", LIMITS.max_bytes,
                              _tick)
    _too_big(total)
    return out


def _format_widths(spec: str) -> None:
    """A format string whose widths or precisions would make a huge value."""
    _too_big(sized.widest(spec))


def _check_args(args: Iterable[Any]) -> None:
    for a in args:
        if isinstance(a, int) and not isinstance(a, bool) and abs(a) > LIMITS.max_bytes:
            _too_big(abs(a))


_WIDENING = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "format",
                       "format_map", "join", "replace", "indent", "wordwrap", "truncate",
                       "translate", "slice", "batch"})


def _bounded_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    passes = getattr(fn, "jinja_pass_arg", None) is not None

    @functools.wraps(fn)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        skip = 1 if passes else 0  # the context or environment jinja passes first
        value, rest = (args[skip], args[skip + 1:]) if len(args) > skip else (None, ())
        if name in _WIDENING:
            _check_args([*rest, *kwargs.values()])
        if name != "join":  # a list literal of lists may repeat a value many times over
            _too_big(_size(value))
        if name == "join" and len(args) > skip:
            sep = rest[0] if rest else kwargs.get("d", "")
            args = (*args[:skip], _joined(value, sep), *rest)
        elif name == "format" and isinstance(value, str):
            _format_widths(value)
            _too_big(sized.formatted(value, (rest, kwargs), LIMITS.max_bytes))
        else:
            _too_big(sized.widened(name, value, rest, kwargs))
        result = fn(*args, **kwargs)
        _too_big(_size(result))
        return result
    bounded.jinja_pass_arg = getattr(fn, "jinja_pass_arg", None)  # type: ignore[attr-defined]
    return bounded


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """jinja2's sandbox, with the limits above (see the module's docstring)."""

    intercepted_binops = frozenset({"*", "**", "%", "+", "//"})

    def __init__(self, **options: Any) -> None:
        options.setdefault("undefined", StrictUndefined)
        options.setdefault("finalize", _checked)
        super().__init__(**options)
        # lipsum() is one unbounded call; range() is capped; dict, cycler, joiner and
        # namespace only hold what they are given (and lists and dicts cannot grow in place)
        self.globals.pop("lipsum", None)
        self.globals["range"] = self.bounded_range
        self.filters = {name: _bounded_filter(name, fn) for name, fn in self.filters.items()
                        if name not in ("pprint", "urlize")}  # pprint's indentation grows
        # with the depth; urlize adds its target and rel to every word

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):  # every loop counts its steps
            loop.iter = nodes.Call(nodes.EnvironmentAttribute("bounded_iter"), [loop.iter],
                                   [], None, None, lineno=loop.lineno)
        for concat in list(tree.find_all(nodes.Concat)):  # ``~`` checks its size first
            call = nodes.Call(nodes.EnvironmentAttribute("bounded_concat"), concat.nodes,
                              [], None, None, lineno=concat.lineno)
            concat.nodes = [call]
        return tree

    def bounded_iter(self, iterable: Any) -> Iterator[Any]:
        for item in iterable:
            _tick()
            yield item

    def bounded_concat(self, *parts: Any) -> str:
        _tick()
        _too_big(sum(_size(p) for p in parts))
        return "".join(str(p) for p in parts)

    def bounded_range(self, *args: int) -> range:
        numbers = range(*args)
        if len(numbers) > MAX_RANGE:
            raise TemplateLimit(f"range() of {len(numbers)} numbers; at most {MAX_RANGE}")
        return numbers

    def call_binop(self, context: Context, op: str, left: Any, right: Any) -> Any:
        _tick()
        if op == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int):
                    _too_big(_size(seq) * n)
        elif op == "**" and isinstance(left, int) and isinstance(right, int):
            _too_big(right * math.log2(abs(left) or 1) / 8)
        elif op == "%" and isinstance(left, str):
            _format_widths(left)
            if "*" in left:  # '%*d': a width taken from the arguments
                _check_args(right if isinstance(right, tuple) else (right,))
            _too_big(sized.formatted(left, right, LIMITS.max_bytes))
        elif op == "+" and isinstance(left, str | list | tuple):
            _too_big(_size(left) + _size(right))
        ops: dict[str, Callable[[Any, Any], Any]] = {
            "*": operator.mul, "**": operator.pow, "%": operator.mod, "+": operator.add,
            "//": operator.floordiv}
        if op in ops:
            return ops[op](left, right)
        return super().call_binop(context, op, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any,  # noqa: N805 (jinja's)
             **kwargs: Any) -> Any:
        _tick()
        name = getattr(__obj, "__name__", "")
        bound = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        if isinstance(bound, str) and name in ("format", "format_map"):
            _format_widths(bound)  # the sandbox wraps str.format; this is its string
            if sized.NESTED.search(bound):  # '{0:>{1}}': a width taken from the arguments
                _check_args([*args, *kwargs.values()])
            _too_big(sized.formatted(bound, (args, kwargs), LIMITS.max_bytes))
        elif name in _WIDENING:
            _check_args([*args, *kwargs.values()])
            if isinstance(bound, str) and name == "join" and args:
                args = (_joined(args[0], bound),)
            else:
                _too_big(sized.widened(name, bound, args, kwargs))
        result = ImmutableSandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)
        _too_big(_size(result))
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)


ENV = BoundedSandbox(autoescape=False, trim_blocks=True, lstrip_blocks=True)


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    return ENV.from_string(source)


def check(source: str) -> None:
    """Raise TemplateError if ``source`` is not a template this environment takes."""
    _compiled(source)


def render(source: str, context: dict[str, Any]) -> str:
    """Render in this thread, within the limits (a TemplateProblem if it cannot)."""
    template = _compiled(source)
    _budget.deadline, _budget.steps = time.monotonic() + LIMITS.timeout, 0
    try:
        out: list[str] = []
        size = 0
        for chunk in template.generate(context):
            size += len(chunk)
            _too_big(size)
            out.append(chunk)
        return "".join(out)
    except TemplateError:
        raise
    except RecursionError:
        raise TemplateLimit("the template calls itself too deeply") from None
    except MemoryError:
        raise TemplateLimit("the template needs too much memory") from None
    except Exception as exc:  # 1/0, a bad argument: the marketer's mistake, said plainly
        raise TemplateProblem(f"{type(exc).__name__}: {exc}") from None
    finally:
        _budget.deadline = None


_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="template")


async def render_async(source: str, context: dict[str, Any]) -> str:
    """:func:`render` off the event loop, in the template pool. A render out of time stops
    itself at its next step; the wait here also gives up a moment after the deadline,
    counted from when the render started (not from when it joined the pool's queue)."""
    loop = asyncio.get_running_loop()
    started = asyncio.Event()

    def run() -> str:
        loop.call_soon_threadsafe(started.set)
        return render(source, context)
    future: asyncio.Future[Any] = loop.run_in_executor(_pool, run)
    waiting: asyncio.Future[Any] = asyncio.ensure_future(started.wait())
    await asyncio.wait({waiting, future}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    try:
        return await asyncio.wait_for(future, LIMITS.timeout + 1.0)
    except TimeoutError:
        raise TemplateLimit(
            f"the template took longer than {LIMITS.timeout:g} s to render") from None


async def check_template(source: str, sample: dict[str, Any]) -> None:
    """The one check of a template staff save (broadcasts, rules, canned replies): its
    syntax, and a render with ``sample`` data within the limits, off the event loop.
    Only a limit (or the syntax) fails it, with a TemplateError: a value the sample lacks
    may well be there for a real contact."""
    check(source)
    try:
        await render_async(source, sample)
    except TemplateLimit:
        raise
    except TemplateError:
        pass


# --- regular expressions --------------------------------------------------------------------

_timed_out: set[str] = set()


def check_pattern(pattern: str) -> None:
    """Raise ValueError if ``pattern`` is not a regular expression ``regex`` compiles."""
    try:
        _pattern(pattern)
    except (regex.error, OverflowError, RecursionError, ValueError) as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None


@functools.lru_cache(maxsize=512)
def _pattern(pattern: str) -> Any:
    return regex.compile(pattern, regex.VERSION0)


def search(pattern: str, text: str, timeout: float | None = None) -> bool:
    """Whether ``pattern`` matches somewhere in ``text`` within ``timeout`` (default
    ``regex_timeout_ms``); a pattern that runs out of time is no match (logged, once per
    pattern). The match releases the GIL, so it never holds up the event loop's thread."""
    try:
        return _pattern(pattern).search(text, timeout=LIMITS.regex_timeout if timeout is None
                                        else timeout, concurrent=True) is not None
    except TimeoutError:
        if pattern not in _timed_out:
            _timed_out.add(pattern)
            log.warning("a rule's regular expression ran out of time: counted as no match",
                        extra={"pattern": pattern[:300],
                               "timeout_ms": LIMITS.regex_timeout * 1000})
        return False


def search_all(patterns: Iterable[str], text: str) -> set[str]:
    """Which of ``patterns`` match ``text``, all of them within one ``regex_timeout_ms``
    (each runs with the time left); those the budget does not reach are no match."""
    deadline = time.monotonic() + LIMITS.regex_timeout
    return {p for p in dict.fromkeys(patterns)
            if search(p, text, max(deadline - time.monotonic(), 1e-6))}


async def search_all_async(patterns: Iterable[str], text: str) -> set[str]:
    """:func:`search_all` off the event loop (a message's patterns, one budget)."""
    wanted = list(dict.fromkeys(patterns))
    return await asyncio.to_thread(search_all, wanted, text) if wanted else set()
