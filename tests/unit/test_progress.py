"""The terminal status line: drawn in place, throttled, escaped, cleared for log lines."""

from __future__ import annotations

import io
import logging

from worker.progress import TerminalProgress, no_progress, terminal_progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_draws_in_place_and_throttles() -> None:
    clock = iter([0.0, 0.05, 0.2, 0.21]).__next__
    out = Tty()
    progress = TerminalProgress(out, clock=clock, width=lambda: 80)
    progress("reading sources", 0, 3, "hf-daily")
    progress("reading sources", 1, 3, "arxiv")  # 50 ms later: not redrawn
    progress("reading sources", 2, 3, "mirror")
    progress("reading sources", 3, 3, "")  # the end is always drawn
    assert out.getvalue() == ("\r\x1b[Kreading sources 0/3: hf-daily"
                              "\r\x1b[Kreading sources 2/3: mirror"
                              "\r\x1b[Kreading sources 3/3")
    progress.clear()
    assert out.getvalue().endswith("\r\x1b[K") and not progress.shown


def test_unknown_total_hostile_label_and_narrow_terminal() -> None:
    out = Tty()
    progress = TerminalProgress(out, clock=lambda: 0.0, width=lambda: 40)
    progress("delivering digests", 12, None, "evil\n\x1b[2Jname" + "x" * 50)
    line = out.getvalue().removeprefix("\r\x1b[K")
    assert line.startswith("delivering digests 12: evil\\n")
    assert "\n" not in line and "\x1b[2J" not in line
    assert len(line) == 39 and line.endswith("…")


def test_a_log_line_clears_the_status_line_first() -> None:
    out = Tty()
    logger = logging.getLogger("paper_digest.test_progress")
    handler = logging.StreamHandler(out)
    logger.handlers[:] = [handler]
    logger.propagate = False
    with terminal_progress(out, logger=logger.name) as progress:
        progress("reading sources", 0, 2, "a")
        logger.warning("source a failed")
        progress("reading sources", 2, 2, "")
    logger.warning("after")
    assert out.getvalue() == ("\r\x1b[Kreading sources 0/2: a\r\x1b[Ksource a failed\n"
                              "\r\x1b[Kreading sources 2/2\r\x1b[Kafter\n")
    assert handler.filters == []  # removed again


def test_nothing_is_drawn_when_not_a_terminal() -> None:
    out = io.StringIO()
    with terminal_progress(out) as progress:
        assert progress is no_progress
        progress("reading sources", 1, 2, "a")
    assert out.getvalue() == ""
