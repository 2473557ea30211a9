"""`paper-digest run` on a terminal shows progress; under cron or in a pipe it does not."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.integration.helpers import SEED_DAYS, add_seed_day, make_config

PROFILE = """
name = "Grounding Fan"
deliver = ["markdown", "email"]
email = "fan@example.org"
min_score = 0.01
[interests]
keywords = ["segmentation", "grounding"]
"""


def _run(config: Path, stderr_is_tty: bool) -> tuple[int, str, str]:
    env = {**os.environ, "PAPER_DIGEST_LOG_FORMAT": "text"}
    args = [sys.executable, "-m", "worker", "--config", str(config), "run",
            "--now", "2026-03-14T20:00:00+00:00"]
    if not stderr_is_tty:
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=follower, env=env) as proc:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        stdout = proc.stdout.read().decode() if proc.stdout else ""
        code = proc.wait(timeout=120)
    os.close(leader)
    return code, stdout, b"".join(chunks).decode()


def test_progress_on_a_terminal_only(tmp_path: Path, seeds_dir: Path, sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {f"fan{i}": PROFILE for i in range(3)})
    for day in SEED_DAYS:
        add_seed_day(tmp_path, seeds_dir, day)
    code, stdout, stderr = _run(config, stderr_is_tty=True)
    assert code == 0, stdout + stderr
    assert "\r\x1b[Kreading sources 0/1: local" in stderr
    assert "\r\x1b[Kdelivering digests" in stderr
    assert stderr.endswith("\r\x1b[K")  # the status line is gone before the summary
    assert "\r" not in stdout and "paper-digest run at" in stdout

    (tmp_path / "dumps" / "late.txt").write_text(
        "new\n\nMar 14\n\nLate grounding paper\n\nWe study grounding.\n")
    code, stdout, stderr = _run(config, stderr_is_tty=False)
    assert code == 0, stdout + stderr
    assert "fan0: 1 paper" in stdout  # work was done, silently
    assert "\r" not in stderr and "\x1b" not in stderr and "reading sources" not in stderr
