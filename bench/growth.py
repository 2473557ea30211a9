"""Growth benchmark: does ingest slow down as history grows? (issue 7)

    .venv/bin/python bench/growth.py                   # 1,000 new papers over 0 and 1,000,000
    .venv/bin/python bench/growth.py --history 200000 --database-url postgresql+psycopg://...

For each history size (none, then --history papers written straight into the store by
bench/history.py, as a long-running install would hold them), ingests --repeat dumps of --new
papers each through the real path (a dump_dir source, Pipeline.ingest: parse, look up by title
key, insert papers and sightings in one transaction) and takes the median time. Each dump also
lists 1% papers already in history, found by title, as real dumps do. Prints both medians and
their ratio (target: at most 2x), and how long writing the history took.

PostgreSQL: a private schema of the given database per history size, dropped afterwards.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

NOW = datetime(2026, 3, 16, 8, 0, tzinfo=UTC)


def one_size(args: argparse.Namespace, size: int, workdir: Path) -> tuple[list[float], float]:
    """(ingest times, seconds to write the history) for one history size."""
    import history as hist
    from scale import database
    from scaledata import Generator, Paper, dump_text

    from worker.app import Pipeline
    from worker.settings import load_config
    from worker.store.opening import open_engine

    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "config").mkdir(parents=True)
    with database(args.database_url, workdir, keep=False) as url:
        engine = open_engine(url)
        start = time.perf_counter()
        titles = hist.write(engine, hist.History(size, NOW - timedelta(days=1))) if size else []
        written = time.perf_counter() - start
        gen = Generator(args.seed)
        gen.serial = 20_000_000  # names unlike history's
        rng = random.Random(args.seed)
        times = []
        for run in range(args.repeat):
            folder = workdir / f"dumps{run}"
            folder.mkdir()
            papers = list(gen.papers(args.new))
            known = [Paper(t, f"Listed again: {t}.", ()) for t in
                     rng.sample(titles, min(len(titles), args.new // 100))]
            (folder / "day.txt").write_text(dump_text(papers + known, "Mar 16"),
                                            encoding="utf-8")
            (workdir / "config" / "worker.toml").write_text(
                f'database_url = "{url}"\n[[sources]]\nname = "day"\nkind = "dump_dir"\n'
                f'path = "{folder}"\n', encoding="utf-8")
            pipeline = Pipeline(load_config(workdir / "config", {}), engine,
                                NOW + timedelta(hours=run))
            start = time.perf_counter()
            [report] = pipeline.ingest()
            times.append(time.perf_counter() - start)
            if report.failures or report.new_papers != args.new:
                sys.exit(f"ingest went wrong: {report}")
        engine.dispose()
    return times, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", help="default: an SQLite file in the work folder")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=BENCH / "out" / "growth")
    args = parser.parse_args()
    results = {}
    for size in (0, args.history):
        times, written = one_size(args, size, args.workdir.resolve())
        results[size] = statistics.median(times)
        what = f"history written in {written:.1f} s ({size / written:,.0f} papers/s); " \
            if size else ""
        print(f"{args.new:,} new papers over {size:,} papers of history: median "
              f"{results[size]:.3f} s ({', '.join(f'{t:.3f}' for t in times)}); {what}"
              f"{args.new / results[size]:,.0f} papers/s")
    ratio = results[args.history] / results[0]
    backend = "postgresql" if args.database_url else "sqlite"
    print(f"growth ({backend}): {ratio:.2f}x (target <= 2x: "
          f"{'met' if ratio <= 2 else 'NOT MET'})")


if __name__ == "__main__":
    main()
