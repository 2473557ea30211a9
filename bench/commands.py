"""The interactive commands at institute scale: wall time and peak RSS of each, as typed.

    .venv/bin/python bench/scale.py --no-smtp --keep --workdir /tmp/pd-scale   # build once
    .venv/bin/python bench/commands.py /tmp/pd-scale/config                   # then time

Each command runs as its own process (start-up, config and database opening included, as an
operator or subscriber meets it), against a work folder bench/scale.py kept (--keep keeps a
PostgreSQL schema; an SQLite file stays in the folder anyway). Commands that change the
database undo themselves (a mark, then its removal) or change nothing when nothing is new or
due (fetch, run --due a second time). Target: about a second or two each; none should grow
with the number of subscribers when it is about one subscriber or none.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

NOW = "2026-03-16T09:00:00+00:00"  # an hour after bench/scale.py's pass


def commands(name: str, paper: str) -> list[list[str]]:
    return [["status"], ["status", "--json"], ["subscribers"], ["subscribers", "--json"],
            ["check"], ["preview", name, "--now", NOW],
            ["preview", name, "--since", "7d", "--now", NOW],
            ["preview", name, "--below", "10", "--now", NOW],
            ["explain", name, paper], ["mark", name, paper, "--now", NOW],
            ["mark", name, paper, "--remove", "--now", NOW], ["retry"],
            ["fetch", "--now", NOW], ["run", "--due", "--now", NOW],
            ["run", "--due", "--now", NOW], ["run", "--dry-run", "--now", NOW]]


def timed(config: Path, args: list[str]) -> tuple[float, float, int]:
    """(seconds, peak RSS MiB, exit code) of one command in a process of its own."""
    command = [sys.executable, "-m", "worker", "--config", str(config), *args]
    start = time.perf_counter()
    pid = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid
    _, status, usage = os.wait4(pid, 0)
    return (time.perf_counter() - start, usage.ru_maxrss / 1024,  # KiB on Linux
            os.waitstatus_to_exitcode(status))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="a config folder bench/scale.py kept")
    parser.add_argument("--name", default="s00000", help="the subscriber to preview etc.")
    parser.add_argument("--paper", default="paper:1", help="the paper to explain and mark")
    args = parser.parse_args()
    print(f"{'command':<66} {'wall s':>7} {'peak MiB':>9} exit")
    for line in commands(args.name, args.paper):
        seconds, peak, code = timed(args.config, line)
        print(f"{' '.join(line):<66} {seconds:>7.2f} {peak:>9.0f} {code:>4}")


if __name__ == "__main__":
    main()
