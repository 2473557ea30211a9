"""A `paper-digest run` with nothing new: everything already seen, nothing pending (issue 7).

    .venv/bin/python bench/nothing_new.py [--runs 9]

Copies the sample config and dumps (config/, examples/) to a temporary folder, runs
`paper-digest run` once there (untimed: it ingests the samples and writes the digests), then
times --runs more runs of the same command as a user starts it (a new process each time), and
prints the median wall time against the 0.3 s target. For scale, it also times a Python that
only starts, and one that only imports SQLAlchemy (also with the garbage collector off, as
paper-digest imports it), each the median of as many runs.

The runs use compiled bytecode, as an installed paper-digest does (pip compiles every module
at install, the Docker image too): PYTHONDONTWRITEBYTECODE is dropped from their environment
and the cache goes to a temporary PYTHONPYCACHEPREFIX, filled by the untimed first run. With
that variable set and an editable checkout (this repo's .venv), every run compiles the worker
package again: the last line times that case too, for comparison.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = 0.3


def timed(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False,
                          env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    cli = str(Path(sys.executable).with_name("paper-digest"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(REPO / "config", work / "config")
        shutil.copytree(REPO / "examples", work / "examples")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        run = [cli, "--config", "config", "run"]
        timed(run, work, env)  # sees everything, compiles; the ones timed see nothing new
        walls = [timed(run, work, env) for _ in range(args.runs)]
        bare = [timed([sys.executable, "-c", "pass"], work, env) for _ in range(args.runs)]
        sqla = [timed([sys.executable, "-c", "import sqlalchemy"], work, env)
                for _ in range(args.runs)]
        # As paper-digest imports it: with the collector off during start-up (cli.main).
        sqla_off = [timed([sys.executable, "-c", "import gc; gc.disable(); import sqlalchemy"],
                          work, env) for _ in range(args.runs)]
        uncached = {k: v for k, v in env.items() if k != "PYTHONPYCACHEPREFIX"}
        uncached["PYTHONDONTWRITEBYTECODE"] = "1"  # site-packages' own caches still serve
        recompiled = [timed(run, work, uncached) for _ in range(args.runs)]
    median = statistics.median(walls)
    print(f"nothing_new: `paper-digest run` with nothing new, median of {args.runs}: "
          f"{median:.3f} s (min {min(walls):.3f}, max {max(walls):.3f}); target <= {TARGET} s: "
          f"{'met' if median <= TARGET else 'NOT MET'}")
    print(f"  for scale: python -c pass {statistics.median(bare):.3f} s; "
          f"python -c 'import sqlalchemy' {statistics.median(sqla):.3f} s "
          f"({statistics.median(sqla_off):.3f} s with the collector off, as paper-digest "
          "starts)")
    print(f"  without a bytecode cache (PYTHONDONTWRITEBYTECODE=1, editable checkout): "
          f"{statistics.median(recompiled):.3f} s")


if __name__ == "__main__":
    main()
