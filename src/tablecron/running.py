"""The runs executing in this process: what each prints and logs, captured and written as
it goes, and whether someone asked to stop it.

``execute()`` opens a ``RunContext`` for each run. While it is current (a context variable:
the run's thread, and the ``async def`` task it awaits), whatever the task writes to
``sys.stdout`` or ``sys.stderr`` and every log record that reaches the root logger go to
its output, each line with its time and its stream or level; the rest of the process is
not touched. Two runs in two threads each get their own lines.

One thread per process, the watcher, wakes about once a second while runs execute: it
writes the output each run wrote since, all runs in one transaction (a run that writes
nothing costs nothing), and reads which of its runs someone asked to cancel
(``JobRun.cancel()``), and tells them. What is left when a run ends travels with its
outcome, in the same commit (``Outcome.output``).

A run's output keeps its first and last ``OUTPUT_LIMIT / 2`` characters; what lies
between is dropped as it goes, and the reader marks the gap.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple, TextIO

from django.db import transaction

from tablecron.conf import settings
from tablecron.db import close_all_connections, close_old_connections
from tablecron.models import JobRun, RunOutput

logger = logging.getLogger("tablecron")

FLUSH_EVERY = 1.0  # seconds between the watcher's rounds
_current: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar(
    "tablecron_running", default=None
)


class Chunk(NamedTuple):
    offset: int
    text: str


class Taken(NamedTuple):
    """A run's output to write: chunks to add, and the offsets of chunks to delete (the
    tail moved past them)."""

    added: list[Chunk]
    gone: list[int]

    @property
    def empty(self) -> bool:
        return not self.added and not self.gone


class Output:
    """One run's output in this process, not yet written: the head as it comes, then a
    window over the tail. Thread-safe: a task's threads may all write. Each line costs
    the same however much was written before it (the tail's window slides, in order)."""

    def __init__(self, limit: int) -> None:
        self.head = limit - limit // 2
        self.tail = limit // 2
        self.total = 0  # characters written by the task so far
        self._head: list[str] = []  # pending text of the head, from _head_offset on
        self._head_offset = 0
        self._tail: deque[Chunk] = deque()  # pending lines past the head, in order
        self._written_tail: deque[Chunk] = deque()  # in the table, past the head
        self._gone: list[int] = []  # offsets of chunks in the table that the tail left
        self._partial: dict[str, list[str]] = {}  # a line not yet ended, per stream
        self._lock = threading.Lock()

    def write(self, stream: str, text: str) -> None:
        with self._lock:
            if "\n" not in text:  # print() writes its pieces one by one
                self._partial.setdefault(stream, []).append(text)
                return
            if stream in self._partial:
                text = "".join(self._partial.pop(stream)) + text
            *lines, rest = text.split("\n")
            if rest:
                self._partial[stream] = [rest]
            now = stamp()
            for line in lines:
                self._add(f"{now} {stream} {line}\n")

    def log(self, level: str, message: str) -> None:
        with self._lock:
            self._add(f"{stamp()} {level} {message}\n")

    def _add(self, line: str) -> None:
        offset = self.total
        self.total += len(line)
        if offset < self.head:
            self._head.append(line[: self.head - offset])
            line, offset = line[self.head - offset :], self.head
            if not line:
                return
        self._tail.append(Chunk(offset, line))
        start = self.total - self.tail  # what ends before it is cut from the middle
        while self._tail and _end(self._tail[0]) <= start:
            self._tail.popleft()
        while self._written_tail and _end(self._written_tail[0]) <= start:
            self._gone.append(self._written_tail.popleft().offset)

    def take(self, *, final: bool = False) -> Taken:
        """What to write now (contiguous text joined) and the offsets to delete. Lines
        not yet ended are taken too: the operator sees a line still being written."""
        with self._lock:
            for stream, rest in sorted(self._partial.items()):
                self._add(f"{stamp()} {stream} {''.join(rest)}\n")
            self._partial.clear()
            chunks: list[Chunk] = []
            if self._head:
                text = "".join(self._head)
                chunks.append(Chunk(self._head_offset, text))
                self._head, self._head_offset = [], self._head_offset + len(text)
            tail = _joined(self._tail)
            self._tail.clear()
            if not final:
                self._written_tail.extend(tail)
            gone, self._gone = self._gone, []
            return Taken(chunks + tail, gone)


def _joined(lines: Iterable[Chunk]) -> list[Chunk]:
    """Contiguous lines as one chunk each."""
    chunks: list[Chunk] = []
    parts: list[str] = []
    start = end = 0
    for line in lines:
        if parts and line.offset != end:
            chunks.append(Chunk(start, "".join(parts)))
            parts = []
        if not parts:
            start = line.offset
        parts.append(line.text)
        end = _end(line)
    if parts:
        chunks.append(Chunk(start, "".join(parts)))
    return chunks


def _end(chunk: Chunk) -> int:
    return chunk.offset + len(chunk.text)


_second: tuple[int, str] = (0, "")  # the last whole second stamped, formatted


def stamp() -> str:
    """Now, UTC, to the millisecond: 2026-12-07 19:30:01.123. Formatted once a second."""
    global _second
    now = time.time()
    second = int(now)
    if _second[0] != second:
        _second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%d %H:%M:%S"))
    return f"{_second[1]}.{int((now - second) * 1000):03d}"


class RunContext:
    """One run executing in this process: its output, and its cancel request. Light:
    a run that writes nothing makes no buffer (thousands start a second)."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.started = time.monotonic()
        self.cancelled = False  # someone asked to cancel it
        self.cancelled_by = ""
        self.interrupted = False  # its thread was interrupted to stop it (a signal)
        self._output: Output | None = None
        self._on_cancel: list[Callable[[], object]] = []

    @property
    def output(self) -> Output:
        if self._output is None:
            self._output = Output(settings.OUTPUT_LIMIT)
        return self._output

    def take(self, *, final: bool = False) -> Taken | None:
        """What its output holds to write (``Output.take()``), None if it wrote nothing."""
        return None if self._output is None else self._output.take(final=final)

    def on_cancel(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` (from the watcher's thread) when someone asks to cancel."""
        self._on_cancel.append(callback)
        if self.cancelled:
            callback()

    def request_cancel(self, by: str) -> None:
        if self.cancelled:
            return
        self.cancelled_by = by
        self.cancelled = True
        for callback in self._on_cancel:
            try:
                callback()
            except Exception:
                logger.exception("tablecron: could not stop run %d", self.run_id)


def current() -> RunContext | None:
    return _current.get()


def cancel_requested() -> bool:
    """Whether someone asked to cancel the run this code executes in (see
    ``tablecron.execution.cancel_requested()``)."""
    context = _current.get()
    return context is not None and context.cancelled


class Running:
    """``with Running(run_id) as context:`` the run's output is captured and its cancel
    request watched while the block runs, in this thread."""

    def __init__(self, run_id: int, *, capture: bool = True) -> None:
        self.context = RunContext(run_id)
        self.capture = capture
        self._token: contextvars.Token[RunContext | None] | None = None

    def __enter__(self) -> RunContext:
        if self.capture:
            _install()
            self._token = _current.set(self.context)
        watcher.add(self.context)
        return self.context

    def __exit__(self, *exc: object) -> None:
        watcher.remove(self.context)
        if self._token is not None:
            _current.reset(self._token)


# -- capturing ---------------------------------------------------------------------


class _Stream:
    """Stands in for ``sys.stdout`` or ``sys.stderr``: a run's writes go to its output,
    everyone else's to the stream it stands for, which answers everything else
    (``encoding``, ``fileno()``, ``isatty()`` …: not an ``io`` subclass, whose defaults
    would answer instead)."""

    def __init__(self, name: str, stream: TextIO) -> None:
        self.name_ = name
        self.stream = stream

    def write(self, text: str) -> int:
        context = _current.get()
        if context is None:
            return self.stream.write(text)
        context.output.write(self.name_, text)
        return len(text)

    def flush(self) -> None:
        if _current.get() is None:
            self.stream.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, fileno, isatty, buffer …
        return getattr(self.stream, name)


class _Handler(logging.Handler):
    """On the root logger: the records of the code a run executes go to its output, at
    the levels the project's logging lets through."""

    def emit(self, record: logging.LogRecord) -> None:
        context = _current.get()
        if context is None or record.name == "tablecron" or record.name.startswith("tablecron."):
            return
        try:
            message = self.format(record)
        except Exception:
            self.handleError(record)
            return
        context.output.log(record.levelname, f"{record.name}: {message}")


_handler = _Handler()
_install_lock = threading.Lock()


def _install() -> None:
    """Put the stand-ins in place, once; again if someone replaced ``sys.stdout`` since
    (Celery's worker, pytest's capture)."""
    if isinstance(sys.stdout, _Stream) and isinstance(sys.stderr, _Stream):
        return
    with _install_lock:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if not isinstance(stream, _Stream):
                setattr(sys, name, _Stream(name, stream))
        root = logging.getLogger()
        if _handler not in root.handlers:
            root.addHandler(_handler)


# -- the watcher -------------------------------------------------------------------


def write_output(chunks: dict[int, Taken]) -> None:
    """Write runs' output (run id: chunks to add, offsets to delete) in the caller's
    transaction."""
    rows = [
        RunOutput(run_id=run_id, offset=chunk.offset, text=chunk.text)
        for run_id, (added, _) in chunks.items()
        for chunk in added
    ]
    if rows:
        RunOutput.objects.bulk_create(rows, ignore_conflicts=True)
    for run_id, (_, gone) in chunks.items():
        if gone:
            RunOutput.objects.filter(run_id=run_id, offset__in=gone).delete()


class Watcher:
    """This process's thread that writes the output of its runs and tells them of cancel
    requests, once a second while any run executes.

    A run coming and going takes no lock (thousands a second in a draining scheduler):
    the registry is a dict, whose single operations the GIL makes atomic. Only a run that
    finds the watcher asleep, waiting for a first run, wakes it under the lock; the
    watcher sets ``_asleep`` under that lock before it looks for runs, so no wake-up is
    lost."""

    def __init__(self) -> None:
        self._runs: dict[int, RunContext] = {}
        self._changed = threading.Condition()
        self._asleep = False
        self._thread: threading.Thread | None = None

    def add(self, context: RunContext) -> None:
        self._runs[context.run_id] = context
        thread = self._thread
        if self._asleep or thread is None or not thread.is_alive():
            self._wake()

    def _wake(self) -> None:
        with self._changed:
            self._changed.notify_all()  # the watcher waits for a first run
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._watch, name="tablecron-watcher", daemon=True
                )
                self._thread.start()

    def remove(self, context: RunContext) -> None:
        if self._runs.get(context.run_id) is context:
            self._runs.pop(context.run_id, None)

    def running_ids(self) -> set[int]:
        return set(self._runs.copy())

    def cancel_here(self, run_ids: Iterable[int], by: str) -> None:
        """Tell the runs ``run_ids`` of this process to stop, without asking the
        database (a scheduler stopping)."""
        runs = self._runs.copy()
        for pk in run_ids:
            if pk in runs:
                runs[pk].request_cancel(by)

    def _watch(self) -> None:
        """A round a second while runs execute: runs coming and going do not hurry it
        (a draining scheduler starts thousands a second). Idle, it holds no connection:
        after a round that found no run, it sleeps until one comes."""
        while True:
            with self._changed:
                if not self._runs:
                    close_all_connections()
                    self._asleep = True
                    self._changed.wait_for(lambda: bool(self._runs))
                    self._asleep = False
                self._changed.wait(FLUSH_EVERY)  # runs younger than a round wait for it
            runs = list(self._runs.copy().values())
            if not runs:
                continue
            try:
                self.round(runs)
                close_old_connections()
            except Exception:  # the database away, say: the next round tries again
                # (Never raised out of the thread: the runs still need it.)
                logger.warning("tablecron: could not watch the runs here", exc_info=True)
                close_all_connections()

    def round(self, runs: list[RunContext]) -> None:
        """Write what ``runs`` wrote since the last round; tell those someone asked to
        cancel."""
        # The output of runs younger than a round is left alone: most end within it,
        # and their output goes with their outcome, in its commit.
        old = time.monotonic() - FLUSH_EVERY
        taken = {c.run_id: c.take() for c in runs if c.started < old}
        chunks = {run_id: t for run_id, t in taken.items() if t is not None and not t.empty}
        if chunks:
            with transaction.atomic(using=settings.DATABASE):
                # Only runs that still have a row: a person may delete one while it runs.
                there = JobRun.objects.filter(pk__in=chunks).values_list("pk", flat=True)
                write_output({pk: chunks[pk] for pk in there})
        asked = (
            JobRun.objects.filter(pk__in=[c.run_id for c in runs if not c.cancelled])
            .cancelling()
            .values_list("pk", "cancel_requested_by")
        )
        by_id = {context.run_id: context for context in runs}
        for run_id, by in asked:
            by_id[run_id].request_cancel(by)


watcher = Watcher()
