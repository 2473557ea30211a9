"""Relevance benchmark (issue 6): paper-digest's pipeline against two reference methods.

    .venv/bin/python bench/relevance.py              # lexical matching and examples (< 1 min)
    .venv/bin/python bench/relevance.py --semantic   # with the semantic extra installed
    .venv/bin/python bench/relevance.py --ceiling    # and a classifier trained on the labels
    .venv/bin/python bench/relevance.py --feedback   # and a reader who marks each digest
    .venv/bin/python bench/relevance.py --variants   # and each profile's terms / examples alone

Data: the five seed dumps in ../shared/seeds and the judgements in ../shared/relevance.
Profiles: bench/relevance/D1..D4.toml, written from PROFILES.md's descriptions alone.

How it is measured (the same for all three methods):
- The real pipeline runs over a temporary SQLite database: a `dump_dir` source to which the
  seeds are added day by day (Mar 12: seeds 001 then 004, Mar 13: 000 then 002, Mar 14: 003),
  one `run_pass` per day with the four profiles as subscriber files. Each day's digest is read
  back from the database: its items are what paper-digest sent that day.
- A paper belongs to the day it was first seen; each day's new papers are one batch, and the
  reference methods see exactly the batches the pipeline stored.
- A profile's three `like` papers are its own examples, not news: the pipeline leaves them out
  of its digests, and every method's candidates and relevant set leave them out.
- Digest = the union of the three daily digests. Precision, recall and F1 compare it with the
  relevant papers. AP is the average precision of one ranking of all candidates (papers a method
  does not rank at all count as never retrieved).

Methods:
- paper-digest: the digests as stored (the profile's own min_score and max_items). Ranking:
  every candidate scored by the same function the pipeline used (worker.selection.match_papers, with
  no threshold or limit), each day with the example papers stored by then, by score: scores are
  calibrated, so scores from different days are comparable. The bench checks that each digest
  is the top of that ranking.
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
  value. Ranking: by decision value. Needs scikit-learn (`pip install scikit-learn`).

With --feedback, the pipeline runs a second time over a fresh database, and after each day's
pass every profile marks each item of its digest (worker.marking.mark_paper, what `paper-digest
mark` runs): liked when the judgements say it is relevant, unliked when not. A second table
compares the two runs on the days after the first, when marks can count; each day's ranking is
scored with the marks that day's pass had.

With --variants, the pipeline runs twice more, each profile with only its terms (keywords,
phrases, query, synonyms, exclude) and with only its `like` examples, at its own min_score and
max_items; all three are judged on the same papers (without the examples of the profile as
written).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scaledata import toml  # noqa: E402  (bench/, this script's folder)

from worker.app import run_pass  # noqa: E402
from worker.delivery import Channel, Rendered  # noqa: E402
from worker.marking import mark_paper  # noqa: E402
from worker.matching import PaperText  # noqa: E402
from worker.profiles import Profile  # noqa: E402
from worker.records import normalize_title  # noqa: E402
from worker.selection import candidates, example_papers, match_papers, paper_text  # noqa: E402
from worker.semantic import embedder_for  # noqa: E402
from worker.settings import Config, load_config  # noqa: E402
from worker.store import identity, outbox, papers  # noqa: E402
from worker.store.db import reading  # noqa: E402
from worker.store.marks import Mark, marks_for  # noqa: E402
from worker.store.models import StoredPaper  # noqa: E402
from worker.store.opening import open_engine  # noqa: E402

SHARED = ROOT.parent / "shared"
YEAR = 2025  # the seeds' dates carry no year; any year will do, the same for every day
ARRIVAL = [("Mar 12", ("001", "004")), ("Mar 13", ("000", "002")), ("Mar 14", ("003",))]
PROFILES = ("D1", "D2", "D3", "D4")
SVM_TOP = 20
SVM_NEGATIVES = 100
# --variants: each profile as written, with its terms only, and with its examples only.
AS_WRITTEN = "as written"
VARIANTS = {
    AS_WRITTEN: frozenset(),
    "terms only": frozenset({"keywords", "phrases", "query", "exclude", "exclude_mode",
                             "synonyms", "field_weights"}),
    "examples only": frozenset({"like", "unlike", "field_weights"}),
}

Day = tuple[str, list[StoredPaper]]


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    ap: float
    best_f1: float = 0.0  # F1 of the ranking cut at its best place, chosen from the labels


class _Discard(Channel):
    """Delivery is not what is measured: accept every digest and keep nothing."""

    def __init__(self, name: str):
        self.name = name

    def send(self, rendered: Rendered) -> str:
        return "discarded"

    def would(self, rendered: Rendered) -> str:
        return "would discard"


# ---- the pipeline --------------------------------------------------------------------------

def write_config(folder: Path, names: Sequence[str], semantic: bool,
                 variant: str = AS_WRITTEN) -> Path:
    """A config directory: worker.toml over a fresh database and an empty dump folder, and
    the profiles as subscriber files (as written, or only some of their `[interests]`:
    VARIANTS)."""
    (folder / "dumps").mkdir()
    (folder / "subscribers").mkdir()
    (folder / "worker.toml").write_text(
        f'database_url = "sqlite:///{folder / "bench.db"}"\n'
        f'output_dir = "{folder / "out"}"\n'
        f"[[sources]]\nname = \"seeds\"\nkind = \"dump_dir\"\npath = \"{folder / 'dumps'}\"\n"
        f"[matching]\nsemantic = {'true' if semantic else 'false'}\n"
        'example_lookup = ""\n', encoding="utf-8")  # offline: the seeds list every example
    for name in names:
        source = ROOT / "bench" / "relevance" / f"{name}.toml"
        if variant == AS_WRITTEN:
            shutil.copy(source, folder / "subscribers")
        else:
            (folder / "subscribers" / source.name).write_text(
                variant_file(source, VARIANTS[variant]), encoding="utf-8")
    return folder


def variant_file(source: Path, keep: frozenset[str]) -> str:
    """The subscriber file with only these keys of its `[interests]`."""
    data = tomllib.loads(source.read_text(encoding="utf-8"))
    interests = {k: v for k, v in data.pop("interests").items() if k in keep}
    if "query" in interests:  # one line: the writer below makes basic strings
        interests["query"] = " ".join(interests["query"].split())
    return toml({**data, "interests": interests})


@dataclass
class Passes:
    """What run_days gives: the database, each day's batch, per subscriber each day's digest,
    and each day's marks as that day's pass used them."""
    engine: Any
    days: list[Day]
    sent: dict[str, list[list[int]]]
    marks: list[dict[str, list[Mark]]]


def run_days(folder: Path, config: Config, reader: dict[str, set[str]] | None = None,
             ) -> Passes:
    """Feed the seeds day by day through run_pass. With `reader` (the judgements), each
    subscriber then marks every item of its digest as a diligent reader would: liked when it
    is relevant, unliked when not, through `paper-digest mark`'s own code; the next day's pass
    matches with those marks."""
    engine = open_engine(config.settings.database_url)
    days: list[Day] = []
    ids = [p.id for p in config.profiles]
    sent: dict[str, list[list[int]]] = {sid: [] for sid in ids}
    marks_of_day: list[dict[str, list[Mark]]] = []
    seq = 0
    for day, prefixes in ARRIVAL:
        now = datetime.strptime(f"{day} {YEAR} 09:00", "%b %d %Y %H:%M").replace(tzinfo=UTC)
        for prefix in prefixes:
            [seed] = (SHARED / "seeds").glob(f"{prefix}_*.txt")
            target = folder / "dumps" / seed.name
            shutil.copy(seed, target)
            os.utime(target, (now.timestamp(), now.timestamp()))  # when the dump was written
        marks_of_day.append(marks_for(engine, ids))
        report = run_pass(config, engine, now, channel_factory=_Discard)
        if not report.ok:
            raise SystemExit(f"the pass of {day} was not clean: {report.errors or report}")
        for sid in ids:
            sub = report.subscribers.get(sid)
            items = (outbox.load_digest(engine, sub.digest_id).items
                     if sub is not None and sub.digest_id is not None else [])
            sent[sid].append([item.paper.id for item in items])
            for item in items if reader is not None else ():
                relevant = sid in reader.get(normalize_title(item.paper.title), ())
                mark_paper(engine, sid, item.paper.key, verdict="like" if relevant else "unlike",
                           remove=False, now=now + timedelta(hours=1))
        with reading(engine) as conn:
            upto = papers.current_seq(conn)
            days.append((day, papers.papers_in_range(conn, seq, upto)))
        seq = upto
    return Passes(engine, days, sent, marks_of_day)


def pipeline_ranking(engine: Any, profile: Profile, days: list[Day],
                     examples: dict[str, StoredPaper], marks: list[dict[str, list[Mark]]],
                     embedder: Any) -> list[tuple[float, int]]:
    """(score, paper id) of every candidate, as match_papers scored it in the pipeline: each
    day's batch with its background (the papers seen before it), the example papers stored by
    then (an example a later day lists was not known yet) and the marks of that day's pass."""
    everyone = replace(profile, min_score=0.0, max_items=10**9)
    scored: list[tuple[float, int]] = []
    for (_, batch), marked in zip(days, marks, strict=True):
        seen = max((p.first_seen_seq for p in batch), default=0)
        known = {ref: p for ref, p in examples.items() if p.first_seen_seq <= seen}
        items, _ = match_papers(everyone, candidates(engine, batch), known,
                                marks=marked[profile.id],
                                embedder=embedder)
        scored += [(item.score, item.paper_id) for item in items]
    return scored


def check_digest(profile: Profile, days: list[Day], scored: list[tuple[float, int]],
                 sent: list[int]) -> list[int]:
    """The stored digests must be the top of the ranking: else the bench measures something
    other than what the pipeline sends. Exits if they differ; else []."""
    score = {pid: s for s, pid in scored}
    expected = []
    for _, batch in days:
        ids = {p.id for p in batch}
        day = sorted((pid for pid in score if pid in ids and score[pid] >= profile.min_score),
                     key=lambda pid: -score[pid])
        expected += day[: profile.max_items]
    # Stored scores are rounded to 4 places: a paper right at min_score may fall either way.
    differ = [pid for pid in set(expected) ^ set(sent)
              if abs(score.get(pid, 0.0) - profile.min_score) > 1e-4]
    if differ:
        raise SystemExit(f"{profile.id}: the stored digests are not the top of the ranking "
                         f"this bench judges ({len(sent)} sent, {len(expected)} expected; "
                         f"papers {sorted(differ)[:5]} differ): it would measure a ranking "
                         "the pipeline did not make")
    return differ


# ---- the reference methods ------------------------------------------------------------------

def run_keyword_or(profile: Profile, days: list[tuple[str, list[PaperText]]],
                   ) -> tuple[list[str], list[str]]:
    patterns = [re.compile(rf"\b{re.escape(k)}\b", re.IGNORECASE)
                for k in profile.interests.keywords]
    counted = []
    for _, batch in days:
        for paper in batch:
            text = f"{paper.title}\n{paper.abstract}"
            counted.append((sum(1 for p in patterns if p.search(text)), paper.key))
    digest = [key for n, key in counted if n]
    ranking = [key for n, key in sorted(counted, key=lambda c: -c[0]) if n]
    return digest, ranking


def run_svm(days: list[tuple[str, list[PaperText]]], examples: list[PaperText],
            ) -> tuple[list[str], list[str]]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    everything = [p for _, batch in days for p in batch]
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
    for _, papers_of_day in days:
        batch = [p for p in papers_of_day if p.key not in own]
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


def supervised_ceiling(days: list[Day], labels: dict[str, set[str]], name: str,
                       ) -> tuple[float, float]:
    """How learnable a profile's judgements are from the words at all: tf-idf + logistic
    regression trained on the judgements themselves (5-fold cross-validation over every seed
    paper), its AP and its F1 at the best threshold chosen after the fact. Not a method a user
    could run (it needs ~270 judged papers per profile); a yardstick for the targets."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, precision_recall_curve
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    everything = [p for _, batch in days for p in batch]
    x = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, stop_words="english",
                        ).fit_transform([f"{p.title}. {p.title}. {p.abstract}" for p in everything])
    y = [name in labels.get(normalize_title(p.title), ()) for p in everything]
    model = LogisticRegression(C=10, class_weight="balanced", max_iter=2000)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    proba = cross_val_predict(model, x, y, cv=folds, method="predict_proba")[:, 1]
    precision, recall, _ = precision_recall_curve(y, proba)
    f1 = max(2 * p * r / (p + r) for p, r in zip(precision, recall, strict=True) if p + r)
    return float(average_precision_score(y, proba)), float(f1)


# ---- scoring --------------------------------------------------------------------------------

def read_labels() -> dict[str, set[str]]:
    lines = (SHARED / "relevance" / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    return {normalize_title((d := json.loads(line))["title"]): set(d["relevant_to"])
            for line in lines if line}


def evaluate(digest: Sequence[str], ranking: Sequence[str], relevant: set[str]) -> Scores:
    hits = len(set(digest) & relevant)
    precision = hits / len(digest) if digest else 0.0
    recall = hits / len(relevant) if relevant else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    found, total, best = 0, 0.0, 0.0
    for rank, key in enumerate(ranking, 1):
        if key in relevant:
            found += 1
            total += found / rank
            best = max(best, 2 * found / (rank + len(relevant)))  # F1 of the first `rank`
    return Scores(precision, recall, f1, total / len(relevant) if relevant else 0.0, best)


def own_examples(engine: Any, profile: Profile) -> tuple[dict[str, StoredPaper], list[StoredPaper]]:
    refs = [*profile.interests.like, *profile.interests.unlike]
    examples = identity.find_papers(engine, refs)
    missing = [r for r in refs if r not in examples]
    if missing:
        raise SystemExit(f"{profile.id}: examples not found in the seeds: {missing}")
    return examples, example_papers(profile, examples)[0]


def pipeline_scores(passes: Passes, profile: Profile, labels: dict[str, set[str]],
                    embedder: Any, since: int = 0, written: Profile | None = None) -> Scores:
    """paper-digest's digests and ranking, judged over the days from `since` on, without the
    example papers of the profile as written (`written`, when `profile` is a variant of it):
    they are not news to its reader, and every variant is judged on the same papers."""
    examples, _ = own_examples(passes.engine, profile)
    own = {p.id for p in own_examples(passes.engine, written or profile)[1]}
    days = passes.days[since:]
    relevant = {str(p.id) for _, batch in days for p in batch
                if profile.id in labels.get(normalize_title(p.title), ())
                and p.id not in own}
    scored = pipeline_ranking(passes.engine, profile, days, examples, passes.marks[since:],
                              embedder)
    sent = [pid for day in passes.sent[profile.id][since:] for pid in day]
    check_digest(profile, days, scored, sent)
    ranking = [str(pid) for _, pid in sorted(scored, key=lambda s: (-s[0], s[1]))
               if pid not in own]
    return evaluate([str(pid) for pid in sent if pid not in own], ranking, relevant)


def bench_profile(passes: Passes, profile: Profile, labels: dict[str, set[str]], embedder: Any,
                  ) -> dict[str, Scores]:
    _, liked = own_examples(passes.engine, profile)
    own = {p.id for p in liked}
    texts = [(day, [paper_text(p) for p in batch if p.id not in own])
             for day, batch in passes.days]
    relevant = {p.key for _, batch in texts for p in batch
                if profile.id in labels.get(normalize_title(p.title), ())}
    return {
        "paper-digest": pipeline_scores(passes, profile, labels, embedder),
        "keyword OR": evaluate(*run_keyword_or(profile, texts), relevant),
        "tf-idf SVM": evaluate(*run_svm(texts, [paper_text(p) for p in liked]), relevant),
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


def pipeline(names: Sequence[str], semantic: bool, tmp: Path,
             reader: dict[str, set[str]] | None = None, variant: str = AS_WRITTEN,
             ) -> tuple[Config, Passes, float]:
    config = load_config(write_config(tmp, names, semantic, variant), {})
    if config.problems:
        raise SystemExit("\n".join(str(p) for p in config.problems))
    start = time.perf_counter()
    passes = run_days(tmp, config, reader)
    return config, passes, time.perf_counter() - start


def run(names: Sequence[str], semantic: bool, ceiling: bool = False, feedback: bool = False,
        variants: bool = False) -> tuple[dict[str, dict[str, Scores]], str]:
    labels = read_labels()
    with tempfile.TemporaryDirectory(prefix="relevance-") as tmp:
        config, passes, elapsed = pipeline(names, semantic, Path(tmp))
        embedder = embedder_for(config.settings, passes.engine, None)
        if semantic and embedder is None:
            raise SystemExit("--semantic: the semantic extra is not installed "
                             "(see docs/matching.md)")
        profiles = sorted(config.profiles, key=lambda p: p.id)
        results = {p.id: bench_profile(passes, p, labels, embedder) for p in profiles}
        if ceiling:
            for name in results:
                ap, f1 = supervised_ceiling(passes.days, labels, name)
                ours = results[name]["paper-digest"].best_f1
                print(f"{name}: paper-digest's ranking cut at its best place: F1 {ours:.2f}; "
                      f"supervised on the judgements (5-fold): AP {ap:.2f}, "
                      f"F1 at the best threshold {f1:.2f}")
        if feedback:
            print_feedback(names, semantic, passes, profiles, labels, embedder)
        if variants:
            print_variants(names, semantic, passes, profiles, labels, embedder)
        passes.engine.dispose()
    count = sum(len(b) for _, b in passes.days)
    return results, f"{count} papers in {len(passes.days)} daily passes, pipeline {elapsed:.1f} s"


def print_feedback(names: Sequence[str], semantic: bool, plain: Passes,
                   profiles: list[Profile], labels: dict[str, set[str]], embedder: Any) -> None:
    """The same pipeline again, with a reader who marks every item of each day's digest by
    the judgements; both judged on the days after the first, when the marks can count."""
    with tempfile.TemporaryDirectory(prefix="relevance-marks-") as tmp:
        _, marked, _ = pipeline(names, semantic, Path(tmp), reader=labels)
        results = {p.id: {"no marks": pipeline_scores(plain, p, labels, embedder, since=1),
                          "marks": pipeline_scores(marked, p, labels, embedder, since=1)}
                   for p in profiles}
        counts = {p.id: sum(len(day) for day in marked.sent[p.id][:-1]) for p in profiles}
        marked.engine.dispose()
    later = ", ".join(day for day, _ in plain.days[1:])
    print(f"With marks: each digest's items marked by the judgements (liked when relevant, "
          f"unliked when not) before the next day's pass; judged on {later} only.")
    print("\n".join(table(results)))
    print("marks made before the last day: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print()


def print_variants(names: Sequence[str], semantic: bool, plain: Passes,
                   profiles: list[Profile], labels: dict[str, set[str]], embedder: Any) -> None:
    """The pipeline again with each profile's terms only, and with its examples only, at the
    profile's own min_score and max_items: do the thresholds still mean what they say?"""
    results = {p.id: {AS_WRITTEN: pipeline_scores(plain, p, labels, embedder)} for p in profiles}
    sizes = {p.id: {AS_WRITTEN: sum(map(len, plain.sent[p.id]))} for p in profiles}
    written = {p.id: p for p in profiles}
    for variant in VARIANTS:
        if variant == AS_WRITTEN:
            continue
        with tempfile.TemporaryDirectory(prefix="relevance-variant-") as tmp:
            config, passes, _ = pipeline(names, semantic, Path(tmp), variant=variant)
            own = embedder_for(config.settings, passes.engine, None)  # this run's database
            for p in config.profiles:
                results[p.id][variant] = pipeline_scores(passes, p, labels, own,
                                                         written=written[p.id])
                sizes[p.id][variant] = sum(map(len, passes.sent[p.id]))
            passes.engine.dispose()
    print("Each profile with only its terms (keywords, query, synonyms) or only its three "
          "`like` examples, at its own min_score and max_items:")
    print("\n".join(table(dict(sorted(results.items())))))
    print("papers sent over the three days: " + "; ".join(
        f"{name} " + ", ".join(f"{n}" for n in by_variant.values())
        for name, by_variant in sorted(sizes.items())) + f" ({', '.join(VARIANTS)})")
    print()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--semantic", action="store_true",
                        help="turn on [matching] semantic (needs the semantic extra)")
    parser.add_argument("--profile", action="append", choices=PROFILES,
                        help="only this profile (repeatable)")
    parser.add_argument("--ceiling", action="store_true",
                        help="also print what a classifier trained on the judgements reaches")
    parser.add_argument("--feedback", action="store_true",
                        help="also run with a reader who marks each digest's items")
    parser.add_argument("--variants", action="store_true",
                        help="also run each profile with its terms only and its examples only")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results, note = run(args.profile or PROFILES, args.semantic, args.ceiling,
                        args.feedback, args.variants)
    print("\n".join(table(results)))
    mean = _mean([r["paper-digest"] for r in results.values()])
    print(f"\npaper-digest{' (semantic)' if args.semantic else ''}: mean F1 {mean.f1:.3f} "
          f"(target >= 0.80), MAP {mean.ap:.3f} (target >= 0.85); {note}; "
          f"{time.perf_counter() - start:.1f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
