"""Requirements: what each chunk (quickly) and the full text (finally) must satisfy.

A :class:`Requirement` answers ``stream_validate(chunk)`` with ``"pass"``, ``"fail"`` or
``"unknown"`` and ``validate(full_text)`` with passed or not. Requirements written the mellea
way, ``stream_validate(chunk, *, backend, ctx)`` and ``validate(backend, ctx, *, format=None,
model_options=None)``, work too: :func:`bind_checks` decides once per run how to call each one,
and :func:`judge_chunk` and :func:`validate_text` run every requirement of a run concurrently
(docs/validation.md).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self, TypeVar

if TYPE_CHECKING:
    from llmring._stream import ChatStream
    from llmring.schemas import LLMRequest, LLMResponse

__all__ = [
    "Backend",
    "Check",
    "Context",
    "Forbidden",
    "MaxLength",
    "PartialValidationResult",
    "Requirement",
    "ValidationResult",
    "bind_checks",
    "judge_chunk",
    "validate_text",
]

CheckStatus = Literal["pass", "fail", "unknown"]
_T = TypeVar("_T")


class Backend(Protocol):
    """What a mellea-style requirement gets as ``backend``: the ``LLMRing`` of the run (its
    ``ring=``, else the shared ring of the event loop), for a requirement that asks a model
    itself. Named as in mellea, for annotations."""

    def chat_stream(self, request: LLMRequest, profile: str | None = None) -> ChatStream: ...

    async def chat(self, request: LLMRequest, profile: str | None = None) -> LLMResponse: ...


class Context(Protocol):
    """What a mellea-style requirement gets as ``ctx``: the run itself (a ``ChunkedStream``):
    ``full_text`` is the text released so far, ``chunks`` its chunks. Named as in mellea."""

    chunks: list[str]

    @property
    def full_text(self) -> str: ...


@dataclass(frozen=True, repr=False)
class PartialValidationResult:
    """A requirement's verdict on one chunk: ``"pass"``, ``"fail"`` (stops the run) or
    ``"unknown"`` (cannot tell yet). The run fills in ``requirement`` with its name.

    As mellea's: ``PartialValidationResult("fail", reason=..., score=...)``, ``success`` (the
    status), ``as_bool()`` and ``bool()`` (true only for ``"pass"``), and its ``repr`` with
    ``requirement`` added.
    """

    status: CheckStatus
    reason: str = ""
    requirement: str = ""
    score: float | None = None

    def __post_init__(self) -> None:
        if self.status not in ("pass", "fail", "unknown"):
            raise ValueError(f"status must be 'pass', 'fail' or 'unknown', not {self.status!r}")

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    @property
    def success(self) -> CheckStatus:
        """The status, under mellea's name."""
        return self.status

    def as_bool(self) -> bool:
        return self.status == "pass"

    __bool__ = as_bool

    def __repr__(self) -> str:
        # mellea's repr, so code that prints results prints what mellea prints
        return (
            f"PartialValidationResult({self.status!r}, reason={self.reason!r}, "
            f"score={self.score!r})"
        )


@dataclass(frozen=True, init=False, repr=False)
class ValidationResult:
    """A requirement's verdict on the full text. The run fills in ``requirement``.

    ``ValidationResult(passed, reason="")``, or mellea's ``ValidationResult(result=...,
    reason=..., score=...)``; ``result``, ``as_bool()`` and ``bool()`` say whether it passed.
    """

    passed: bool
    reason: str
    requirement: str
    score: float | None

    def __init__(
        self,
        passed: bool | None = None,
        reason: str = "",
        requirement: str = "",
        *,
        result: bool | None = None,
        score: float | None = None,
    ) -> None:
        if (passed is None) == (result is None):
            raise TypeError("ValidationResult takes passed (or mellea's result=), exactly one")
        object.__setattr__(self, "passed", bool(passed if result is None else result))
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "requirement", requirement)
        object.__setattr__(self, "score", score)

    @property
    def result(self) -> bool:
        """Whether it passed, under mellea's name."""
        return self.passed

    def as_bool(self) -> bool:
        return self.passed

    __bool__ = as_bool

    def __repr__(self) -> str:
        return f"ValidationResult({self.passed!r}, reason={self.reason!r}, score={self.score!r})"


class Requirement:
    """A check on a stream: per chunk (:meth:`stream_validate`) and on the whole text
    (:meth:`validate`). Subclass and override either or both.

    Every run works on its own :meth:`fresh` copy (a deep copy by default), so state kept on
    ``self`` (counters, text seen so far) starts anew each run and the original is untouched.
    ``name`` defaults to the class name.
    """

    name: str = "Requirement"
    description: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__

    async def stream_validate(self, chunk: str) -> PartialValidationResult:
        """Judge one chunk (chunks arrive in order). May raise: the run then ends with an
        :class:`ErrorEvent`. The default cannot tell: ``"unknown"``.

        An override may take mellea's keywords instead, ``(chunk, *, backend, ctx)``: it then
        gets the run's :data:`Backend` and :data:`Context`."""
        return PartialValidationResult("unknown")

    async def validate(self, full_text: str) -> ValidationResult:
        """Judge the whole text once the source has ended. The default passes.

        An override may take mellea's ``(backend, ctx, *, format=None, model_options=None)``
        instead; ``ctx.full_text`` is then the text."""
        return ValidationResult(True)

    def fresh(self) -> Self:
        """The copy a run works on; override when a deep copy is wrong (shared clients)."""
        return copy.deepcopy(self)

    @staticmethod
    def from_callables(
        name: str,
        *,
        on_chunk: Callable[[str], bool | None | Awaitable[bool | None]] | None = None,
        on_text: Callable[[str], bool | Awaitable[bool]] | None = None,
        description: str = "",
    ) -> Requirement:
        """A stateless requirement from plain (or async) functions: ``on_chunk`` returns
        ``True`` (pass), ``False`` (fail) or ``None`` (unknown); ``on_text`` returns a bool."""
        return _CallableRequirement(name, on_chunk, on_text, description)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


async def _maybe_await(value: _T | Awaitable[_T]) -> _T:
    return await value if inspect.isawaitable(value) else value


class _CallableRequirement(Requirement):
    def __init__(
        self,
        name: str,
        on_chunk: Callable[[str], Any] | None,
        on_text: Callable[[str], Any] | None,
        description: str,
    ) -> None:
        self.name = name
        self.description = description
        self._on_chunk, self._on_text = on_chunk, on_text

    async def stream_validate(self, chunk: str) -> PartialValidationResult:
        if self._on_chunk is None:
            return PartialValidationResult("unknown")
        verdict = await _maybe_await(self._on_chunk(chunk))
        if verdict is None:
            return PartialValidationResult("unknown")
        return PartialValidationResult("pass" if verdict else "fail")

    async def validate(self, full_text: str) -> ValidationResult:
        if self._on_text is None:
            return ValidationResult(True)
        return ValidationResult(bool(await _maybe_await(self._on_text(full_text))))


class MaxLength(Requirement):
    """At most ``limit`` characters in all (counted as the chunks arrive)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen = 0

    async def stream_validate(self, chunk: str) -> PartialValidationResult:
        self.seen += len(chunk)
        if self.seen > self.limit:
            return PartialValidationResult("fail", f"{self.seen} characters > {self.limit}")
        return PartialValidationResult("pass")

    async def validate(self, full_text: str) -> ValidationResult:
        ok = len(full_text) <= self.limit
        return ValidationResult(ok, "" if ok else f"{len(full_text)} characters > {self.limit}")


class Forbidden(Requirement):
    """None of ``phrases`` may appear (case-insensitive unless ``case_sensitive``), even across
    a chunk boundary."""

    def __init__(self, phrases: Iterable[str], *, case_sensitive: bool = False) -> None:
        self.case_sensitive = case_sensitive
        self.phrases = [self._norm(p) for p in phrases]
        self._tail = ""

    def _norm(self, text: str) -> str:
        return text if self.case_sensitive else text.casefold()

    def _find(self, text: str) -> str | None:
        return next((p for p in self.phrases if p and p in self._norm(text)), None)

    async def stream_validate(self, chunk: str) -> PartialValidationResult:
        window = self._tail + chunk
        longest = max((len(p) for p in self.phrases), default=0)
        self._tail = window[-longest:] if longest else ""
        found = self._find(window)
        return (
            PartialValidationResult("fail", f"contains {found!r}")
            if found
            else (PartialValidationResult("pass"))
        )

    async def validate(self, full_text: str) -> ValidationResult:
        found = self._find(full_text)
        return ValidationResult(found is None, f"contains {found!r}" if found else "")


@dataclass(frozen=True, slots=True)
class Check:
    """One requirement of a run and how to call it: its own way (llmring's or mellea's),
    decided once by :func:`bind_checks`, not on every chunk."""

    requirement: Requirement
    on_chunk: Callable[[str], Awaitable[object]]
    on_text: Callable[[str], Awaitable[object]]


def _mellea_style(method: Callable[..., Any]) -> bool:
    """Whether ``method`` wants mellea's ``backend`` and ``ctx`` rather than text alone."""
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):  # no signature to read (a builtin): called with the text
        return False
    return "backend" in parameters or "ctx" in parameters


def bind_checks(
    requirements: list[Requirement], backend: Callable[[], Backend], ctx: Context
) -> list[Check]:
    """How to call each requirement in this run: mellea-style methods get ``backend()`` (only
    called if one needs it) and ``ctx`` (the text being in ``ctx.full_text``), llmring's get
    the text."""
    checks = []
    for requirement in requirements:
        on_chunk: Callable[[str], Awaitable[object]] = requirement.stream_validate
        if _mellea_style(on_chunk):
            on_chunk = functools.partial(_chunk_mellea_style, on_chunk, backend(), ctx)
        on_text: Callable[[str], Awaitable[object]] = requirement.validate
        if _mellea_style(on_text):
            on_text = functools.partial(_text_mellea_style, on_text, backend(), ctx)
        checks.append(Check(requirement, on_chunk, on_text))
    return checks


def _chunk_mellea_style(
    stream_validate: Callable[..., Awaitable[object]], backend: Backend, ctx: Context, chunk: str
) -> Awaitable[object]:
    return stream_validate(chunk, backend=backend, ctx=ctx)


def _text_mellea_style(
    validate: Callable[..., Awaitable[object]], backend: Backend, ctx: Context, full_text: str
) -> Awaitable[object]:
    return validate(backend, ctx)  # the text is ctx.full_text


_R = TypeVar("_R", PartialValidationResult, ValidationResult)


def _named(result: object, requirement: Requirement, kind: type[_R]) -> _R:
    if not isinstance(result, kind):
        raise TypeError(f"{requirement!r} returned {result!r}, not a {kind.__name__}")
    return (
        result if result.requirement else dataclasses.replace(result, requirement=requirement.name)
    )


async def judge_chunk(checks: list[Check], chunk: str) -> list[PartialValidationResult]:
    """Every requirement's verdict, in requirement order; the first failure cancels the rest
    (only the verdicts given by then are returned). A requirement's exception propagates."""
    if len(checks) == 1:  # nothing to run alongside: no task needed
        only = checks[0]
        return [_named(await only.on_chunk(chunk), only.requirement, PartialValidationResult)]
    tasks = [asyncio.ensure_future(c.on_chunk(chunk)) for c in checks]
    verdicts: dict[int, PartialValidationResult] = {}
    try:
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                position = tasks.index(task)
                verdicts[position] = _named(
                    task.result(), checks[position].requirement, PartialValidationResult
                )
            if any(v.failed for v in verdicts.values()):
                break
    finally:
        await _cancel_all(tasks)
    return [verdicts[i] for i in sorted(verdicts)]


async def validate_text(checks: list[Check], text: str) -> list[ValidationResult]:
    """Every requirement's verdict on the full text, run concurrently, in requirement order."""
    results = await _gather_or_cancel([c.on_text(text) for c in checks])
    return [
        _named(result, c.requirement, ValidationResult)
        for result, c in zip(results, checks, strict=True)
    ]


async def _gather_or_cancel(coros: list[Awaitable[_T]]) -> list[_T]:
    """Run ``coros`` concurrently; on the first exception cancel the others and raise it."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        await _cancel_all(tasks)


async def _cancel_all(tasks: Sequence[asyncio.Future[Any]]) -> None:
    running = [task for task in tasks if not task.done()]
    for task in running:
        task.cancel()
    if running:  # our own cancellation, if any, is re-raised by the caller's ``finally``
        await asyncio.wait(running)
    for task in tasks:  # retrieve every outcome (no "exception was never retrieved")
        if not task.cancelled():
            task.exception()
