"""Semantic matching's own work, without the model: comparing by meaning, and ranking.

    .venv/bin/python bench/semantic_compare.py                   # 2,000 papers; 3, 40, 200 examples
    .venv/bin/python bench/semantic_compare.py --papers 500 --examples 10 --profiles 50

Semantic matching compares every paper of a batch with every liked and unliked example of a
profile, and a reader's marks become examples: a diligent reader has dozens. First this times
`nearest` on random unit vectors of the model's size (384), seeded, for each number of
examples, against the same work written as plain Python loops (what it replaced), and checks
that both give every paper the same nearest example and z.

Then it ranks the generated papers (bench/scaledata.py, as bench/matching.py does) for the
generated profiles that have liked examples, with a stand-in embedder (each word counted in
one of 24 dimensions), as a digest does (Matcher.top): bounded, as matching runs, and with
every paper scored in full (as semantic matching used to), checking both give the same digests.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from scaledata import Generator, load_profiles  # noqa: E402

from worker.matching import Matcher, PaperText, prepare, semantic  # noqa: E402
from worker.matching.batch import Batch  # noqa: E402

DIMENSIONS = 384  # all-MiniLM-L6-v2's


def loops(units: Sequence[semantic.Unit], examples: Sequence[semantic.Unit],
          ) -> list[tuple[int, float]]:
    """The nearest example and z of each paper, pair by pair in Python."""
    columns = [[sum(x * y for x, y in zip(u, e, strict=True)) for u in units] for e in examples]
    baselines = []
    for column in columns:
        n, median = len(column), statistics.median(column)
        spread = 1.4826 * statistics.median(abs(c - median) for c in column)
        shrunk = (n * spread + semantic.SPREAD_WEIGHT * semantic.PRIOR_SPREAD) / (
            n + semantic.SPREAD_WEIGHT)
        baselines.append(((n * median + semantic.MEDIAN_WEIGHT * semantic.PRIOR_MEDIAN) / (
            n + semantic.MEDIAN_WEIGHT), max(shrunk, 1e-3)))
    out = []
    for n in range(len(units)):
        best, best_z = -1, 0.0
        for i, (column, (median, spread)) in enumerate(zip(columns, baselines, strict=True)):
            z = (column[n] - median) / spread
            if z > best_z:
                best, best_z = i, z
        out.append((best, best_z))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument("--examples", type=int, nargs="+", default=[3, 40, 200])
    parser.add_argument("--profiles", type=int, default=300,
                        help="generated profiles to rank for (those with liked examples count)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    compare(args)
    rank(args)


def compare(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)

    def unit() -> semantic.Unit:
        return semantic._unit([rng.gauss(0.0, 1.0) for _ in range(DIMENSIONS)])

    papers = [unit() for _ in range(args.papers)]
    batch = np.array(papers)  # as corpus_embeddings keeps a batch's embeddings
    for count in args.examples:
        examples = [unit() for _ in range(count)]
        began = time.perf_counter()
        index, z = semantic.nearest(batch, examples)
        arrays = time.perf_counter() - began
        found = list(zip(index.tolist(), z.tolist(), strict=True))
        began = time.perf_counter()
        expected = loops(papers, examples)
        plain = time.perf_counter() - began
        same = all(a[0] == b[0] and math.isclose(a[1], b[1], abs_tol=1e-9)
                   for a, b in zip(found, expected, strict=True))
        print(f"semantic: {args.papers:,} papers x {count} examples: {arrays:.4f} s a profile "
              f"(plain Python loops: {plain:.3f} s); "
              f"{'the same' if same else 'NOT the same'} nearest example and z for every paper")
        if not same:
            sys.exit(1)


def words(texts: Sequence[str]) -> list[list[float]]:
    """A stand-in for a sentence model: each word counted in one of 24 dimensions."""
    out = []
    for text in texts:
        vector = [0.1] * 24
        for word in re.findall(r"[a-z]+", text.lower()):
            vector[sum(map(ord, word)) % 24] += 1.0
        out.append(vector)
    return out


def rank(args: argparse.Namespace) -> None:
    history = {p.title: PaperText(f"h{n}", p.title, p.abstract)
               for n, p in enumerate(Generator(args.seed + 11).papers(2000))}
    fresh = Generator(args.seed + 1000)
    fresh.serial = 10_000_000
    corpus = prepare([PaperText(f"p{n}", p.title, p.abstract)
                      for n, p in enumerate(fresh.papers(args.papers))])
    profiles = [p for p in load_profiles(Generator(args.seed), args.profiles, list(history))
                if p.interests.like]

    def digests() -> tuple[float, list[object]]:
        began, out = time.perf_counter(), []
        for profile in profiles:
            liked = [history[t] for t in profile.interests.like]
            matcher = Matcher(profile.interests, examples=liked, embedder=words)
            out.append(matcher.top(corpus, min_score=profile.min_score,
                                   limit=profile.max_items, skip={p.key for p in liked}))
        return time.perf_counter() - began, out

    semantic.corpus_embeddings(corpus, words)  # the batch embedded once, for both runs
    bounded, got = digests()
    Batch.exhaustive = property(lambda self: True)  # type: ignore[assignment,method-assign]
    everything, expected = digests()
    same = got == expected
    print(f"semantic ranking: {len(profiles)} profiles with liked examples x {args.papers:,} "
          f"papers: {bounded:.2f} s bounded, {everything:.2f} s scoring every paper; "
          f"{'the same' if same else 'NOT the same'} digests")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
