"""Progress of long work on a terminal: one status line, redrawn in place, gone when done.

The pipeline reports progress through a plain callable, `progress(stage, done, total, label)`
(`total` is None when it is not known in advance, e.g. digests claimed batch by batch). Only
the CLI, and only when stderr is a terminal, draws it: under cron, in a container or in a
pipe nothing is drawn and the log lines (JSON there) are the record. A log line printed while
the status line is up clears it first, so the two never run into each other.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from worker.logs import one_line

Progress = Callable[[str, int, "int | None", str], None]


def no_progress(stage: str, done: int, total: int | None, label: str) -> None:
    """The default: report nothing."""


class TerminalProgress:
    """Draws `stage done/total: label` on one line of `stream`, at most every `interval` s."""

    def __init__(self, stream: IO[str], *, interval: float = 0.1,
                 clock: Callable[[], float] = time.monotonic,
                 width: Callable[[], int] = lambda: shutil.get_terminal_size().columns):
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self.width = width
        self.shown = False
        self._last = float("-inf")

    def __call__(self, stage: str, done: int, total: int | None, label: str) -> None:
        now = self.clock()
        finished = total is not None and done >= total
        if now - self._last < self.interval and not finished:
            return  # thousands of sends a second need not be thousands of redraws
        self._last = now
        count = f"{done}/{total}" if total is not None else str(done)
        line = one_line(f"{stage} {count}" + (f": {label}" if label else ""))
        limit = max(self.width() - 1, 10)
        if len(line) > limit:
            line = line[: limit - 1] + "…"
        self.stream.write(f"\r\x1b[K{line}")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False

    def _before_log_line(self, record: logging.LogRecord) -> bool:
        self.clear()
        return True  # a filter that lets every record through, after wiping the status line


@contextmanager
def terminal_progress(stream: IO[str], logger: str = "paper_digest") -> Iterator[Progress]:
    """A TerminalProgress when `stream` is a terminal, else `no_progress`; cleared at exit."""
    isatty = getattr(stream, "isatty", None)
    if not (isatty and isatty()):
        yield no_progress
        return
    progress = TerminalProgress(stream)
    handlers = logging.getLogger(logger).handlers
    for handler in handlers:
        handler.addFilter(progress._before_log_line)
    try:
        yield progress
    finally:
        for handler in handlers:
            handler.removeFilter(progress._before_log_line)
        progress.clear()
