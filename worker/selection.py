"""Which new papers go into each subscriber's digest: the matching stage of a pass.

    candidates(engine, papers)               papers new to a group of subscribers, prepared once
    match_papers(profile, candidates, ...)   one subscriber's items, best first
    match_each(profiles, candidates, ..., workers=N)
                                             every subscriber's, over N processes at once

Matching thousands of subscribers against one batch is pure computation on data that is the
same for all of them, so `match_each` forks N - 1 worker processes after the batch is prepared:
each inherits it (copy-on-write, nothing re-read or re-tokenized) and matches shares of the
profiles; what comes back is small (paper ids, scores, the reasons as the JSON the store keeps).
The running process is the N-th: whenever the share it must hand on next is not ready, it
matches the next share no worker has started itself, between writing digests. (It used to only
wait and write: one more process, and its copy of the caches, for no more cores; on 2 CPUs
the pass's processes took 424 MiB together that way.) Results are the same, in the same order,
whatever the number of processes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Generator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from worker.collector import paced_for_batches
from worker.fanout import FanOut, shared
from worker.profiles import Profile
from worker.store.marks import Mark
from worker.store.models import ItemSpec, StoredPaper

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from worker.semantic import StoredEmbedder

log = logging.getLogger("paper_digest")
# Below this many subscribers a group is matched in this process: starting processes and
# passing results back would cost more than it saves.
PARALLEL_MIN = 200
SHARE = 50  # profiles a worker process takes at a time (the last ones finish together)

Match = tuple[list[ItemSpec], int]  # a digest's items and how many more scored lower


def example_papers(profile: Profile, examples: dict[str, StoredPaper],
                   marked: Sequence[Mark] = ()) -> tuple[list[StoredPaper], list[StoredPaper]]:
    """(liked, unliked): the profile's `like`/`unlike` papers found among the stored ones, then
    the papers the subscriber marked. A mark is the later word: it overrides the file."""
    verdicts = {m.paper.id: m.verdict for m in marked}
    chosen: dict[int, tuple[StoredPaper, str]] = {}
    for refs, verdict in ((profile.interests.like, "like"), (profile.interests.unlike, "unlike")):
        for ref in refs:
            if ref in examples:
                paper = examples[ref]
                chosen.setdefault(paper.id, (paper, verdicts.get(paper.id, verdict)))
    for mark in marked:
        chosen.setdefault(mark.paper.id, (mark.paper, mark.verdict))
    return ([p for p, v in chosen.values() if v == "like"],
            [p for p, v in chosen.values() if v == "unlike"])


# The papers seen just before a batch that count, with it, in how common a term is (and so
# how much finding it tells: worker.matching.Corpus.reference). A source that lists only
# papers on one topic made that topic's words common within the batch, and its papers score
# low for the very subscribers they were for.
BACKGROUND = 1000


class Candidates(Sequence[StoredPaper]):
    """Papers new to a group of subscribers, prepared for matching once for all of them: their
    texts tokenized and indexed (worker.matching.Corpus), known to the embedder once.
    `background`: (title, abstract) of the papers seen just before them (`candidates`)."""

    def __init__(self, papers: Sequence[StoredPaper],
                 background: Sequence[tuple[str, str]] = ()):
        self.papers = list(papers)
        self.background = list(background)
        self._known: dict[int, bool] = {}  # embedders told about these papers: embedded?

    def __len__(self) -> int:
        return len(self.papers)

    def __getitem__(self, index: Any) -> Any:
        return self.papers[index]

    @cached_property
    def texts(self) -> list[Any]:
        return [paper_text(p) for p in self.papers]

    @cached_property
    def corpus(self) -> Any:
        from worker.matching import Corpus
        from worker.matching.reference import Reference

        return Corpus.of(self.texts, Reference.of(self.background) if self.background else None)

    @cached_property
    def by_key(self) -> dict[str, StoredPaper]:
        return {str(p.id): p for p in self.papers}

    def introduce(self, embedder: StoredEmbedder) -> bool:
        """Tell `embedder` these papers and have them looked up or embedded, once: False when
        its model cannot run (StoredEmbedder.ready)."""
        if id(embedder) not in self._known:
            embedder.know(self.texts)
            self._known[id(embedder)] = embedder.ready(self.texts)
        return self._known[id(embedder)]


def candidates(engine: Engine, papers: Sequence[StoredPaper]) -> Candidates:
    """`papers` as Candidates with their background: the BACKGROUND papers first seen just
    before the first of them. The same for a pass and for preview and explain, which rank a
    digest's papers again."""
    from worker.store.papers import texts_before

    first = min((p.first_seen_seq for p in papers), default=None)
    return Candidates(papers, [] if first is None else texts_before(engine, first, BACKGROUND))


def match_papers(profile: Profile, candidates: Sequence[StoredPaper],
                 examples: dict[str, StoredPaper], *, marks: Sequence[Mark] = (),
                 embedder: StoredEmbedder | None = None) -> Match:
    """(items for the digest, best first, within max_items; how many more scored lower).
    `marks`: papers the subscriber marked (more examples); `embedder`: semantic matching."""
    from worker.matching import Matcher

    if not candidates:
        return [], 0
    pool = candidates if isinstance(candidates, Candidates) else Candidates(candidates)
    liked, unliked = example_papers(profile, examples, marks)
    liked_texts, unliked_texts = [paper_text(p) for p in liked], [paper_text(p) for p in unliked]
    if embedder is not None and (liked_texts or unliked_texts):  # else nothing to compare
        embedder.know(liked_texts)
        if not (pool.introduce(embedder) and embedder.ready([*liked_texts, *unliked_texts])):
            embedder = None  # the model cannot run: by words and examples alone (logged)
    matcher = Matcher(profile.interests, examples=liked_texts, unlike=unliked_texts,
                      embedder=embedder)
    # The examples themselves are not news. They are left out of the ranking rather than the
    # candidates, so subscribers with the same candidates share one prepared batch.
    own = [str(p.id) for p in (*liked, *unliked)]
    ranking = matcher.top(pool.corpus, min_score=profile.min_score, limit=profile.max_items,
                          skip=own)
    # what json.dumps of the list of reasons gives (Reason.to_json)
    items = [ItemSpec(pool.by_key[m.paper.key].id, round(m.score, 4),
                      f"[{', '.join(r.to_json() for r in m.reasons)}]") for m in ranking.matches]
    return items, ranking.ranked - len(items)


def match_each(profiles: Sequence[Profile], candidates: Candidates,
               examples: dict[str, StoredPaper], marks: Mapping[str, Sequence[Mark]], *,
               embedder: StoredEmbedder | None = None, workers: int = 1,
               ) -> Generator[Match, None, None]:
    """match_papers for every profile against the same candidates, in order, over up to
    `workers` processes (one: all here), each as soon as it is known: the caller writes
    digests while workers go on, and never holds all of them (closing it early ends the
    worker processes, the shares they are matching done first). Semantic matching stays in
    this process: its model and database connection are not to be shared with forked
    children."""
    workers = min(workers, len(profiles) // PARALLEL_MIN) if embedder is None else 1
    with paced_for_batches(), FanOut(workers, "matching", shared={
            "profiles": profiles, "candidates": candidates, "examples": examples,
            "marks": marks}) as fan:  # worker/collector.py says why; workers inherit it
        if fan.workers > 1:
            _prepare(profiles, candidates, examples)
            shares = [(start, min(start + SHARE, len(profiles)))
                      for start in range(0, len(profiles), SHARE)]
            for share in fan.map(_matched, shares):
                for items, below in share:
                    yield [ItemSpec(*item) for item in items], below
            return
        for p in profiles:
            yield match_papers(p, candidates, examples, marks=marks.get(p.id, ()),
                               embedder=embedder)


def _matched(bounds: tuple[int, int]) -> list[tuple[list[tuple[int, float, str]], int]]:
    """profiles[start:end] of the fan-out under way, each its items as plain tuples (which
    cross the pipe several times cheaper than objects) and how many more scored lower."""
    state = shared("matching")
    profiles, candidates = state["profiles"], state["candidates"]
    examples, marks = state["examples"], state["marks"]
    out = []
    for profile in profiles[bounds[0]:bounds[1]]:
        items, below = match_papers(profile, candidates, examples, marks=marks.get(profile.id, ()))
        out.append(([(i.paper_id, i.score, i.reasons) for i in items], below))
    return out


def _prepare(profiles: Sequence[Profile], candidates: Candidates,
             examples: dict[str, StoredPaper]) -> None:
    """Work every worker process would otherwise repeat, done once before they are forked:
    the batch tokenized and indexed, and its tf-idf postings when examples are compared."""
    from worker.matching.examples import postings

    corpus = candidates.corpus
    candidates.by_key  # noqa: B018 - built once here, inherited by every worker
    if examples or any(p.interests.like or p.interests.unlike for p in profiles):
        postings(corpus)


def default_workers() -> int:
    """One worker process per CPU this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def paper_text(paper: StoredPaper) -> Any:
    from worker.matching import PaperText

    return PaperText(key=str(paper.id), title=paper.title, abstract=paper.abstract,
                     authors=paper.authors)
