"""Matching alone, in memory: many generated profiles against one batch of new papers.

    .venv/bin/python bench/matching.py                    # 10,000 subscribers, 2,000 papers
    .venv/bin/python bench/matching.py --subscribers 2000 --workers 1 --profile

The inner loop of bench/scale.py's "matching" stage (worker.selection.match_papers for every
subscriber against one prepared batch) without the database, so a change to the matcher can
be measured in seconds. It prints the wall time, subscribers/s, and a fingerprint of every
digest's items (paper, score, reasons; weights to nine places): a faster matcher must print the
same fingerprint.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from scaledata import Generator, load_profiles  # noqa: E402

from worker.records import Links  # noqa: E402
from worker.selection import Candidates, default_workers, match_each, match_papers  # noqa: E402
from worker.store.models import StoredPaper  # noqa: E402

NOW = datetime(2026, 3, 16, 8, 0, tzinfo=UTC)


def stored(n: int, title: str, abstract: str) -> StoredPaper:
    return StoredPaper(id=n, title=title, abstract=abstract, arxiv_id=None, version=None,
                       authors=(), links=Links(), published=None, upvotes=None,
                       first_seen_at=NOW, first_seen_seq=n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--new", type=int, default=2_000)
    parser.add_argument("--history", type=int, default=4_000,
                        help="papers the profiles' examples are drawn from")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="processes matching at once, as [matching] workers (default: "
                             "one per CPU)")
    parser.add_argument("--profile", action="store_true",
                        help="print a pyinstrument report (of this process: use --workers 1)")
    parser.add_argument("--verify", type=int, default=0, metavar="N",
                        help="also match every N-th profile alone, on a batch with nothing "
                             "cached, and check it gets the same digest")
    parser.add_argument("--dump", type=Path, help="write every digest's items here (JSON lines)")
    args = parser.parse_args()

    history = [stored(n + 1, p.title, p.abstract)
               for n, p in enumerate(Generator(args.seed + 11).papers(args.history))]
    examples = {p.title: p for p in history}
    fresh = Generator(args.seed + 1000)
    fresh.serial = 10_000_000
    new = [stored(len(history) + n + 1, p.title, p.abstract)
           for n, p in enumerate(fresh.papers(args.new))]
    profiles = load_profiles(Generator(args.seed), args.subscribers, list(examples))

    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()
    start, cpu = time.perf_counter(), time.process_time()
    pool = Candidates(new)
    results = list(match_each(profiles, pool, examples, {}, workers=args.workers))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False), file=sys.stderr)

    if args.verify:
        verify(profiles[::args.verify], results[::args.verify], pool, examples)
    digest = hashlib.sha256()
    lines = []
    for profile, (items, below) in zip(profiles, results, strict=True):
        lines.append(json.dumps([profile.id, below, [(i.paper_id, i.score, json.loads(
            i.reasons, parse_float=rounded)) for i in items]], sort_keys=True))
        digest.update(lines[-1].encode())
    if args.dump:
        args.dump.write_text("\n".join(lines) + "\n", encoding="utf-8")
    count = sum(len(items) for items, _ in results)
    print(f"matching: {args.subscribers:,} subscribers x {args.new:,} papers: {wall:.2f} s "
          f"({args.subscribers / wall:,.0f} subscribers/s, {args.workers} process(es); CPU of "
          f"this process {cpu:.2f} s), {count:,} items; "
          f"fingerprint {digest.hexdigest()[:16]}")


def rounded(text: str) -> float:
    """A reason's weight in the fingerprint: to nine places, so that adding the same numbers
    in another order (which may change the last bit) leaves the fingerprint as it was, while
    any difference a reader could see changes it."""
    return round(float(text), 9)


def verify(profiles: list[Any], results: list[Any], pool: Candidates,
           examples: dict[str, StoredPaper]) -> None:
    """What each profile gets alone, with no work shared with other profiles, must be what it
    got among all of them."""
    from worker.matching import Corpus

    shared = pool.corpus
    wrong = 0
    for profile, got in zip(profiles, results, strict=True):
        alone = Candidates(pool.papers)
        alone.__dict__["corpus"] = Corpus(shared.docs, shared.index, shared.avg_len)
        if match_papers(profile, alone, examples) != got:
            wrong += 1
            print(f"verify: {profile.id} differs when matched alone", file=sys.stderr)
    print(f"verify: {len(profiles) - wrong} of {len(profiles)} profiles matched alone agree")
    if wrong:
        sys.exit(1)


if __name__ == "__main__":
    main()
