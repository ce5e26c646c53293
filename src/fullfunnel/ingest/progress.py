"""How far a load has come, told to a callback: the library never prints.

A load goes through four phases per file, in order: ``hashing`` (bytes read of
the file's size: exact), ``reading``, ``checking`` and ``writing`` (percent,
from DuckDB's own progress of the running statement, polled from a background
thread, and from the warehouse's per-table steps). A file loaded before stops
after hashing. Within a phase the numbers only grow, and a phase that completes
ends at its total.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

PHASES = ("hashing", "reading", "checking", "writing")
_POLL_SECONDS = 0.2


class Progress(Protocol):
    """Called with the file, its phase, and ``done`` of ``total`` in that phase.

    ``total`` is the file's size in bytes while hashing and 100 (percent) in the
    other phases. It may be called from a background thread.
    """

    def __call__(self, file: str, phase: str, done: float, total: float) -> None: ...


class Meter:
    """Reports one file's phases to a :class:`Progress`, monotone within each phase."""

    def __init__(self, progress: Progress | None, file: str) -> None:
        self._progress = progress
        self.file = file
        self._lock = threading.Lock()
        self._phase = ""
        self._total = 100.0
        self._done = 0.0
        self._weights: Sequence[float] = (1.0,)
        self._step = 0

    @property
    def active(self) -> bool:
        return self._progress is not None

    def start(self, phase: str, *, total: float = 100.0, weights: Sequence[float] = (1,)) -> None:
        """Begin ``phase`` (completing the one before) with steps of these weights."""
        self.finish()
        with self._lock:
            self._phase, self._total, self._done = phase, float(total), -1.0
            self._weights, self._step = [w / (sum(weights) or 1) for w in weights], 0
        self.report(0.0)

    def report(self, done: float) -> None:
        """``done`` of the phase's total, ignored if it would go backwards."""
        if self._progress is None:
            return
        with self._lock:
            done = min(float(done), self._total)
            if done <= self._done:
                return
            self._done = done
            self._progress(self.file, self._phase, done, self._total)

    def finish(self) -> None:
        """Complete the current phase."""
        if self._phase:
            self.report(self._total)

    @contextmanager
    def step(self, con: Any = None) -> Iterator[Any]:
        """The phase's next step; while it runs, the progress DuckDB reports on ``con``.

        Yields a function that reports a fraction (0-1) of the step done, for
        steps that know it themselves.
        """
        base = sum(self._weights[: self._step]) * self._total
        width = self._weights[min(self._step, len(self._weights) - 1)] * self._total

        def part(fraction: float) -> None:
            self.report(base + width * max(0.0, min(fraction, 1.0)))

        stop = threading.Event()
        poller = None
        if con is not None and self._progress is not None:

            def poll() -> None:
                while not stop.wait(_POLL_SECONDS):
                    try:
                        percent = con.query_progress()
                    except Exception:  # the connection is busy closing: no figure
                        return
                    if percent >= 0:
                        part(percent / 100)

            poller = threading.Thread(target=poll, name="fullfunnel-progress", daemon=True)
            poller.start()
        try:
            yield part
        finally:
            stop.set()
            if poller is not None:
                poller.join()
        self._step += 1
        part(1.0)


def enable(con: Any) -> None:
    """Make a DuckDB connection track its statements' progress without printing it."""
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    con.execute("SET progress_bar_time = 0")
