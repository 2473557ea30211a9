"""The rendering stage of bench/scale.py alone, again, on a work folder the pass kept.

    .venv/bin/python bench/scale.py --no-smtp --keep --workdir /tmp/pd-scale   # build once
    .venv/bin/python bench/rendering.py /tmp/pd-scale --repeat 3

Renders every digest of that pass as the scale pass's "rendering (templates)" stage does
(scale.render_every_digest: the digests read 500 at a time, each in its subscriber's forms),
with the render caches emptied before each repetition, as a pass starts; prints each
repetition's wall and CPU time without putting the emails together and without hashing (as
the stage reports it), and the fingerprint, which must be the pass's. Seconds of one stage
in a process of its own: two versions of the code can be compared alternately in minutes,
which whole scale passes (matching just before, in the same process) are too noisy for.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from scale import NOW, render_every_digest  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir", type=Path, help="a work folder bench/scale.py --keep left")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from sqlalchemy import select

    from worker.render import forget_pieces
    from worker.settings import load_config
    from worker.store.opening import open_engine
    from worker.store.schema import digests

    config_dir = args.workdir.resolve() / "config"  # as the pass named it (the footer)
    config = load_config(config_dir, {})
    engine = open_engine(config.settings.database_url)
    with engine.connect() as conn:
        made = list(conn.execute(select(digests.c.id, digests.c.subscriber_id)
                                 .where(digests.c.created_at == NOW).order_by(digests.c.id)))
    walls = []
    for n in range(1, args.repeat + 1):
        forget_pieces()
        began, cpu = time.perf_counter(), time.process_time()
        info = render_every_digest(config, engine, made, config_dir)
        wall = time.perf_counter() - began - info["assembly"] - info["hashing"]
        cpu = time.process_time() - cpu - info["assembly_cpu"] - info["hashing_cpu"]
        walls.append(wall)
        print(f"rendering {n}: {info['count']:,} digests, {info['forms']:,} forms in "
              f"{wall:.2f} s (CPU {cpu:.2f} s); fingerprint {info['fingerprint']}; HTML parts "
              f"compacted {info['compacted']}", flush=True)
    engine.dispose()
    print(f"rendering: median of {len(walls)}: {statistics.median(walls):.2f} s")


if __name__ == "__main__":
    main()
