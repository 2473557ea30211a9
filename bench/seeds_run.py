"""Wall time and peak memory of `paper-digest run` over the five seeds, 4 subscribers, fresh DB.

    .venv/bin/python bench/seeds_run.py [--repeat 5]

Each repetition copies config/subscribers into a new temporary config whose only source is
../shared/seeds, starts `paper-digest run` as a subprocess on a new SQLite file, and measures
its wall time and peak RSS (ru_maxrss of the child). Prints every run and the median.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "seeds"


def one_run(root: Path) -> tuple[float, float]:
    config = root / "config"
    shutil.copytree(REPO / "config" / "subscribers", config / "subscribers")
    (config / "worker.toml").write_text(
        f'database_url = "sqlite:///{root}/pd.db"\noutput_dir = "{root}/out"\n'
        f'[[sources]]\nname = "seeds"\nkind = "dump_dir"\npath = "{SEEDS}"\n'
        # offline: the sample subscribers' examples are in examples/, not in the seeds
        '[matching]\nexample_lookup = ""\n', encoding="utf-8")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run([str(REPO / ".venv" / "bin" / "paper-digest"), "--config",
                           str(config), "run"], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"run failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024  # KiB -> MiB (ru_maxrss is the max over children)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not SEEDS.is_dir():
        sys.exit(f"{SEEDS} not found")
    walls, peaks = [], []
    for index in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            wall, peak = one_run(Path(tmp))
        walls.append(wall)
        peaks.append(peak)
        print(f"run {index + 1}: {wall:.3f} s wall, peak RSS so far {peak:.1f} MiB")
    print(f"median wall {statistics.median(walls):.3f} s over {args.repeat} runs "
          f"(min {min(walls):.3f}, max {max(walls):.3f}); peak RSS {max(peaks):.1f} MiB")


if __name__ == "__main__":
    main()
