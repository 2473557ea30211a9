"""Relevance benchmark (issue 6): paper-digest's matcher against two reference methods.

    .venv/bin/python bench/relevance.py

Data: the five seed dumps in ../shared/seeds and the judgements in ../shared/relevance.
Profiles: bench/relevance/D1..D4.toml, written from PROFILES.md's descriptions alone.

How it is measured (the same for all three methods):
- Papers arrive day by day (Mar 12: seeds 001 then 004, Mar 13: 000 then 002, Mar 14: 003); a
  paper belongs to the day it is first seen. Each day's new papers are one batch.
- A profile's three `like` papers are its own examples, not news: they are left out of the
  candidates and out of the relevant set for every method.
- Digest = the union of the three daily digests. Precision, recall and F1 compare it with the
  relevant papers. AP is the average precision of one ranking of all candidates (papers a method
  does not rank at all count as never retrieved).

Methods:
- paper-digest: worker.matching.Matcher with the profile as written; each day's digest keeps
  scores >= min_score, at most max_items. Ranking: by score (scores are calibrated, so scores
  from different days are comparable).
- keyword OR (the common alert scripts): a paper is sent when any of the profile's keywords
  occurs as a whole word, case-insensitively, in title + abstract. Ranking: by how many distinct
  keywords occur, then arrival order.
- tf-idf + LinearSVC (arxiv-sanity-lite): tf-idf over all seed papers with arxiv-sanity-lite's
  settings (word 1-2-grams, English stop words, sublinear tf, max_df 0.1) but min_df 2 instead
  of 5 for a corpus this small; LinearSVC(C=0.01, class_weight="balanced") trained on the three
  examples as positives against a fixed random sample (seed 0) of 100 other papers as negatives.
  We sample instead of taking every other paper (what arxiv-sanity-lite does with its whole
  library) because here "every other paper" would be the very papers being judged, half of
  some profiles' relevant papers among them. Digest: the top 20 of each day's batch by decision
  value. Ranking: by decision value.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worker.matching import Matcher, PaperText  # noqa: E402
from worker.settings import Profile, load_profile  # noqa: E402

SHARED = ROOT.parent / "shared"
ARRIVAL = [("Mar 12", ("001", "004")), ("Mar 13", ("000", "002")), ("Mar 14", ("003",))]
PROFILES = ("D1", "D2", "D3", "D4")
SVM_TOP = 20
SVM_NEGATIVES = 100


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    ap: float


def read_days() -> list[tuple[str, list[PaperText]]]:
    """Each day's newly seen papers, in arrival order."""
    seen: set[str] = set()
    days = []
    for day, prefixes in ARRIVAL:
        papers = []
        for prefix in prefixes:
            [path] = (SHARED / "seeds").glob(f"{prefix}_*.txt")
            text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
            blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()][5:]
            for title, abstract in zip(blocks[::2], blocks[1::2], strict=True):
                if title not in seen:
                    seen.add(title)
                    papers.append(PaperText(f"title:{title}", title, abstract))
        days.append((day, papers))
    return days


def read_labels() -> dict[str, set[str]]:
    lines = (SHARED / "relevance" / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    return {(d := json.loads(line))["title"]: set(d["relevant_to"]) for line in lines if line}


def evaluate(digest: Sequence[str], ranking: Sequence[str], relevant: set[str]) -> Scores:
    hits = len(set(digest) & relevant)
    precision = hits / len(digest) if digest else 0.0
    recall = hits / len(relevant) if relevant else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    found, total = 0, 0.0
    for rank, key in enumerate(ranking, 1):
        if key in relevant:
            found += 1
            total += found / rank
    return Scores(precision, recall, f1, total / len(relevant) if relevant else 0.0)


def run_ours(profile: Profile, days: list[tuple[str, list[PaperText]]],
             examples: list[PaperText]) -> tuple[list[str], list[str]]:
    matcher = Matcher(profile.interests, examples=examples)
    digest, scored = [], []
    for _, papers in days:
        matches = matcher.rank(papers)
        digest += [m.paper.key for m in matches if m.score >= profile.min_score][
            : profile.max_items]
        scored += [(m.score, m.paper.key) for m in matches]
    ranking = [key for _, key in sorted(scored, key=lambda s: (-s[0], s[1]))]
    return digest, ranking


def run_keyword_or(profile: Profile, days: list[tuple[str, list[PaperText]]],
                   ) -> tuple[list[str], list[str]]:
    patterns = [re.compile(rf"\b{re.escape(k)}\b", re.IGNORECASE)
                for k in profile.interests.keywords]
    counted = []
    for _, papers in days:
        for paper in papers:
            text = f"{paper.title}\n{paper.abstract}"
            counted.append((sum(1 for p in patterns if p.search(text)), paper.key))
    digest = [key for n, key in counted if n]
    ranking = [key for n, key in sorted(counted, key=lambda c: -c[0]) if n]
    return digest, ranking


def run_svm(days: list[tuple[str, list[PaperText]]], examples: list[PaperText],
            ) -> tuple[list[str], list[str]]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    everything = [p for _, papers in days for p in papers]
    own = {p.key for p in examples}
    vectorizer = TfidfVectorizer(strip_accents="unicode", lowercase=True, stop_words="english",
                                 token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",
                                 ngram_range=(1, 2), max_features=20000, norm="l2",
                                 sublinear_tf=True, max_df=0.1, min_df=2)
    vectorizer.fit([f"{p.title}. {p.abstract}" for p in everything])
    others = [p for p in everything if p.key not in own]
    negatives = random.Random(0).sample(others, min(SVM_NEGATIVES, len(others)))
    train = [*examples, *negatives]
    x = vectorizer.transform([f"{p.title}. {p.abstract}" for p in train])
    y = [1] * len(examples) + [0] * len(negatives)
    svm = LinearSVC(C=0.01, class_weight="balanced").fit(x, y)
    digest, scored = [], []
    for _, papers in days:
        batch = [p for p in papers if p.key not in own]
        if not batch:
            continue
        values = svm.decision_function(vectorizer.transform(
            [f"{p.title}. {p.abstract}" for p in batch]))
        day = sorted(zip(values, (p.key for p in batch), strict=True),
                     key=lambda s: (-s[0], s[1]))
        digest += [key for _, key in day[:SVM_TOP]]
        scored += day
    ranking = [key for _, key in sorted(scored, key=lambda s: (-s[0], s[1]))]
    return digest, ranking


def resolve_examples(like: Sequence[str], papers: Sequence[PaperText]) -> list[PaperText]:
    by_title = {p.title.casefold(): p for p in papers}
    missing = [t for t in like if t.casefold() not in by_title]
    if missing:
        raise SystemExit(f"like examples not found in the seeds: {missing}")
    return [by_title[t.casefold()] for t in like]


def bench_profile(name: str, days: list[tuple[str, list[PaperText]]],
                  labels: dict[str, set[str]]) -> dict[str, Scores]:
    profile, problems, _ = load_profile(ROOT / "bench" / "relevance" / f"{name}.toml")
    if profile is None:
        raise SystemExit("\n".join(str(p) for p in problems))
    everything = [p for _, papers in days for p in papers]
    examples = resolve_examples(profile.interests.like, everything)
    own = {p.key for p in examples}
    candidates = [(day, [p for p in papers if p.key not in own]) for day, papers in days]
    relevant = {p.key for p in everything if name in labels[p.title]} - own
    return {
        "paper-digest": evaluate(*run_ours(profile, candidates, examples), relevant),
        "keyword OR": evaluate(*run_keyword_or(profile, candidates), relevant),
        "tf-idf SVM": evaluate(*run_svm(days, examples), relevant),
    }


def table(results: dict[str, dict[str, Scores]]) -> list[str]:
    methods = list(next(iter(results.values())))
    head = f"{'profile':<8}" + "".join(f" | {m:^23}" for m in methods)
    sub = f"{'':<8}" + " | prec   rec    F1     AP " * len(methods)
    lines = [head, sub.rstrip(), "-" * len(head)]
    rows = {**results, "mean": {m: _mean([r[m] for r in results.values()]) for m in methods}}
    for name, by_method in rows.items():
        cells = "".join(f" | {s.precision:.2f}   {s.recall:.2f}   {s.f1:.2f}   {s.ap:.2f}"
                        for s in by_method.values())
        lines.append(f"{name:<8}{cells}")
    return lines


def _mean(scores: list[Scores]) -> Scores:
    n = len(scores)
    return Scores(*(sum(getattr(s, f) for s in scores) / n
                    for f in ("precision", "recall", "f1", "ap")))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    start = time.perf_counter()
    days, labels = read_days(), read_labels()
    results = {name: bench_profile(name, days, labels) for name in PROFILES}
    print("\n".join(table(results)))
    mean = _mean([r["paper-digest"] for r in results.values()])
    print(f"\npaper-digest mean F1 {mean.f1:.3f} (target >= 0.80), MAP {mean.ap:.3f} "
          f"(target >= 0.85); {sum(len(p) for _, p in days)} papers, "
          f"{time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
