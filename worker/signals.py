"""Signals that ask a command to stop cleanly: `run` and `serve` (SIGTERM, SIGINT)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def stopped_by(*signals: signal.Signals, stop: threading.Event | None = None,
               again_aborts: bool = False) -> Iterator[threading.Event]:
    """An event each of `signals` sets while the block runs (the handlers before it are put
    back after). Unhandled, SIGTERM killed the process mid-work; in a container, where the
    command is PID 1, the kernel drops a signal it has no handler for, and `docker stop`
    waited its 10 seconds and killed it. Only the main thread may set handlers: elsewhere
    (a test's thread) the event is only `stop`'s. `again_aborts`: a second SIGINT (Ctrl-C
    pressed again) raises KeyboardInterrupt, for who would rather not wait."""
    stop = stop or threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def asked(signum: int, _frame: object) -> None:
        if again_aborts and signum == signal.SIGINT and stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, asked) for sig in signals}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
