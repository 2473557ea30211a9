"""Shares of one stage's work over forked worker processes and the running one, in order.

A pass's CPU-heavy stages (matching subscribers, rendering digests) are the same pure work on
many independent shares. `FanOut(workers)` forks `workers - 1` processes the first time it is
used; each inherits what the running process holds (copy-on-write: nothing re-read or
re-prepared). Shares name their work by reference into what the caller passed as `shared`,
which workers read as `shared(what)`: set before the fork, so never pickled. One fan-out of a
stage at a time: a second, concurrent one (another thread of serve) gets no workers and does
its work where it runs. `map` yields each share's result in order. The running process is the
N-th worker: whenever the result it must yield next is not back yet, it does the next share not
yet handed to a worker itself, at most AHEAD shares ahead; with `ahead=0` it only waits
(delivery: it has the sending to do). A worker that dies (killed, out of memory) costs only
time: its shares, and every later one, are done here.

Linux only: macOS has fork, but its system frameworks are not safe in forked children.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any, TypeVar

log = logging.getLogger("paper_digest")
AHEAD = 8  # shares the running process may do ahead of the one it must hand on next

S = TypeVar("S")
R = TypeVar("R")


# By stage: what its fan-out under way shares with its workers, and who holds it.
_SHARED: dict[str, dict[str, Any]] = {}
_HELD: dict[str, threading.Lock] = {}


def can_fork() -> bool:
    return sys.platform.startswith("linux")


def shared(what: str) -> dict[str, Any]:
    """What the fan-out of stage `what` under way passed as `shared` (in it or its workers)."""
    return _SHARED[what]


class FanOut:
    """`workers` processes (this one included) for the shares of a stage; a context manager
    (the worker processes end with it). Once entered, `workers` is 1 if it cannot fork or
    another fan-out of the stage is under way: then `shared` is not set, and the caller
    does the work itself. `setup` runs first in each forked process."""

    def __init__(self, workers: int, what: str, shared: dict[str, Any] | None = None,
                 setup: Callable[[], None] | None = None, *, ahead: int = AHEAD):
        self.workers = workers if can_fork() else 1
        self.what = what  # the stage: "matching", "rendering"
        self.shared = shared or {}
        self.setup = setup
        self.ahead = ahead  # 0: this process never takes a share (it has other work)
        self.pool: Any = None
        self.broken = False

    @property
    def started(self) -> bool:
        """Whether its worker processes were forked (on first use)."""
        return self.pool is not None

    def __enter__(self) -> FanOut:
        if self.workers > 1:
            if _HELD.setdefault(self.what, threading.Lock()).acquire(blocking=False):
                _SHARED[self.what] = self.shared
            else:
                self.workers = 1
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        if self.workers > 1:
            del _SHARED[self.what]
            _HELD[self.what].release()

    def map(self, work: Callable[[S], R], shares: Sequence[S]) -> Iterator[R]:
        """work(share) for every share, in order. `work` must be a module-level function."""
        if self.workers < 2 or self.broken:
            yield from map(work, shares)
            return
        from concurrent.futures.process import BrokenProcessPool

        done = 0
        try:
            for result in self._forked(work, shares):
                yield result
                done += 1
        except BrokenProcessPool:
            self.broken = True
            log.warning("a %s worker process died; the rest of the %s is done in the running "
                        "process", self.what, self.what)
            yield from map(work, shares[done:])

    def _forked(self, work: Callable[[S], R], shares: Sequence[S]) -> Iterator[R]:
        if self.pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            release_free_heap()
            self.pool = ProcessPoolExecutor(self.workers - 1,
                                            mp_context=multiprocessing.get_context("fork"),
                                            initializer=_started, initargs=(self.setup,))
        # Shares are handed to the workers as they go, two each at a time (one running, one
        # queued), and none more than `ahead` + two a worker past the one the caller waits for,
        # so that results wait for the caller only that many at a time. While share i is not
        # back, this process does the next share not yet handed to a worker, at most `ahead`
        # past i. (It used to take back shares handed over but not started, with
        # Future.cancel(): on Python 3.11 a worker dying while a cancelled share is still
        # queued crashes the pool's manager thread, and the futures after it never complete.
        # Left early, the shares still queued are cancelled as the pool shuts down.)
        size, in_flight = len(shares), 2 * (self.workers - 1)
        window = self.ahead + in_flight
        futures: dict[int, Any] = {}  # by share, until handed on
        here: dict[int, R] = {}
        frontier = 0  # shares before it were handed to a worker or done here

        def hand_out(i: int) -> None:
            nonlocal frontier
            while frontier < min(size, i + window) and sum(
                    not f.done() for f in futures.values()) < in_flight:
                futures[frontier] = self.pool.submit(work, shares[frontier])
                frontier += 1

        for i in range(size):
            hand_out(i)
            future = futures.pop(i, None)
            while future is not None and not future.done() and frontier < min(size,
                                                                              i + self.ahead):
                here[frontier] = work(shares[frontier])
                frontier += 1
                hand_out(i)
            yield here.pop(i) if future is None else future.result()


def release_free_heap() -> None:
    """Hand the heap this process has freed back to the OS (glibc's malloc_trim), before it
    forks: a page that holds nothing stays in its memory otherwise, and the forked workers
    share it for as long as they run. At the scale case, delivery starts with ~30 MiB of what
    building the digests freed (bench/scale.py: peak PSS of all processes 389-393 -> 362
    MiB). Nothing happens where the C library is not glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@cache
def _malloc_trim() -> Any:
    import ctypes

    try:
        return ctypes.CDLL("libc.so.6").malloc_trim  # glibc's name on Linux
    except (OSError, AttributeError):
        return None


def _started(setup: Callable[[], None] | None) -> None:
    # Each worker first leaves everything it inherited out of its garbage collections (an O(1)
    # move of the collector's lists): else each collection walks, and so copies page by page,
    # the whole inherited heap.
    gc.freeze()
    if setup is not None:
        setup()
