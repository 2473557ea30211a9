"""Comparing a batch with a profile's examples by meaning (worker.matching.semantic.nearest).

    .venv/bin/python bench/semantic_compare.py                   # 2,000 papers; 3, 40, 200 examples
    .venv/bin/python bench/semantic_compare.py --papers 500 --examples 10

Semantic matching compares every paper of a batch with every liked and unliked example of a
profile, and a reader's marks become examples: a diligent reader has dozens. This times
`nearest` on random unit vectors of the model's size (384), seeded, for each number of
examples, against the same work written as plain Python loops (what it replaced), and checks
that both give every paper the same nearest example and z. No model is needed.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from worker.matching import semantic

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
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    def unit() -> semantic.Unit:
        return semantic._unit([rng.gauss(0.0, 1.0) for _ in range(DIMENSIONS)])

    papers = [unit() for _ in range(args.papers)]
    batch = np.array(papers)  # as corpus_embeddings keeps a batch's embeddings
    for count in args.examples:
        examples = [unit() for _ in range(count)]
        began = time.perf_counter()
        found = semantic.nearest(batch, examples)
        arrays = time.perf_counter() - began
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


if __name__ == "__main__":
    main()
