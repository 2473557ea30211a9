"""Score papers against one subscriber's interests, with the reasons for every score."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import cast

from worker.matching import examples as ex
from worker.matching import scoring, semantic
from worker.matching.corpus import Corpus, Doc, FieldHit, claim_spans, with_joined
from worker.matching.explain import build_explanation, build_match, parts
from worker.matching.interests import Interests
from worker.matching.model import Explanation, Match, PaperText
from worker.matching.query import Query, Term, parse_query
from worker.matching.semantic import Embedder
from worker.matching.terms import ProfileTerm, Synonyms, compile_terms, query_groups
from worker.matching.text import term_stems


@dataclass
class TermScore:
    term: ProfileTerm
    hits: dict[str, FieldHit]
    evidence: float  # BM25F saturation, 0..1
    specificity: dict[str, float]  # field -> 0..1
    shares: dict[str, float]  # field -> share of the evidence

    @property
    def strength(self) -> float:
        return scoring.TERM_STRENGTH * self.evidence


@dataclass
class Breakdown:
    """Everything known about one paper before it becomes a Match."""

    doc: Doc
    terms: list[TermScore] = field(default_factory=list)
    excludes: list[TermScore] = field(default_factory=list)
    gate: bool | None = None  # None: no query
    liked: tuple[int, float] = (-1, 0.0)  # (example index, cosine)
    unliked: tuple[int, float] = (-1, 0.0)
    semantic: tuple[int, float] = (-1, 0.0)  # (example index, embedding cosine)
    vectors: tuple[ex.Vector, ex.Vector] | None = None  # the paper's and its nearest example's

    @property
    def shared(self) -> tuple[str, ...]:
        """Stems the paper shares most with its nearest example."""
        return ex.shared_terms(*self.vectors) if self.vectors else ()


_SPACED = re.compile(r"[^\W_]+(?:\s+[^\W_]+)+")
_CORPORA: dict[tuple[PaperText, ...], Corpus] = {}


def prepare(papers: Sequence[PaperText] | Corpus) -> Corpus:
    """Tokenize and index papers once; reused when the same papers are ranked again (one run
    ranks the same candidates for many subscribers)."""
    if isinstance(papers, Corpus):
        return papers
    key = tuple(papers)
    corpus = _CORPORA.get(key)
    if corpus is None:
        if len(_CORPORA) >= 4:
            _CORPORA.pop(next(iter(_CORPORA)))
        corpus = _CORPORA[key] = Corpus.of(key)
    return corpus


def _field_df(hits: Iterable[dict[str, FieldHit]]) -> dict[str, int]:
    """field -> how many papers have the term in that field."""
    df: dict[str, int] = defaultdict(int)
    for by_field in hits:
        for name in by_field:
            df[name] += 1
    return df


class Matcher:
    def __init__(self, interests: Interests, *, examples: Sequence[PaperText] = (),
                 unlike: Sequence[PaperText] = (), embedder: Embedder | None = None) -> None:
        self.interests = interests
        self.query: Query | None = parse_query(interests.query) if interests.query else None
        synonyms = Synonyms(interests.synonyms)
        self.terms = compile_terms(self._term_sources(), synonyms)
        self.excludes = compile_terms(((t, "exclude", False, -1) for t in interests.exclude),
                                      synonyms)
        self._query_terms = {t.text: t for t in compile_terms(
            ((q.text, "query", False, -1) for q, _ in (self.query.terms() if self.query else ())),
            synonyms)}
        self.examples = tuple(examples)
        self.unlike = tuple(unlike)
        self._example_docs = [Doc.of(p) for p in self.examples]  # tokenized once per profile
        self._unlike_docs = [Doc.of(p) for p in self.unlike]
        self.weights = {**scoring.DEFAULT_FIELD_WEIGHTS, **interests.field_weights}
        self.embedder = embedder  # optional: see worker.matching.semantic
        self._example_units: list[semantic.Unit] | None = None

    def _term_sources(self) -> list[tuple[str, str, bool, int]]:
        # Words of a keyword written with spaces may also match close together (counting
        # half); a hyphenated compound (`vision-language`) is one expression and must be whole.
        items = [(k, "keyword", _SPACED.fullmatch(k.strip()) is not None, i)
                 for i, k in enumerate(self.interests.keywords)]
        items += [(p, "phrase", False, len(items) + i)
                  for i, p in enumerate(self.interests.phrases)]
        self._groups: dict[int, tuple[str, ...]] = {}  # query concept -> its terms' texts
        if self.query:
            # A quoted phrase or hyphenated word in a query means exactly that wording.
            for members in query_groups(self.query):
                group = len(items) + len(self._groups)
                self._groups[group] = tuple(t.text.strip() for t in members)
                items += [(t.text, "query", False, group) for t in members]
        return items

    # ---- public API ----------------------------------------------------------------------------

    def rank(self, papers: Sequence[PaperText] | Corpus, *, min_score: float = 0.0,
             limit: int | None = None) -> list[Match]:
        """Papers with score > 0 that are not excluded, best first, ties broken by key.

        `min_score` and `limit` are optional shortcuts: reasons are only worded for the papers
        returned, which matters when thousands of profiles are ranked against one batch."""
        corpus = prepare(papers)
        scored = [(p, b) for b in self._breakdowns(corpus) if (p := parts(b, self)).score > 0
                  and not p.excluded and p.score >= min_score]
        scored.sort(key=lambda pb: (-pb[0].score, pb[1].doc.paper.key))
        return [build_match(b, self, p) for p, b in scored[:limit]]

    def explain(self, paper: PaperText, papers: Sequence[PaperText] = ()) -> Explanation:
        """The full score breakdown for one paper, scored among `papers` (its batch)."""
        batch = list(papers)
        if all(p.key != paper.key for p in batch):
            batch.append(paper)
        corpus = prepare(batch)
        n = next(i for i, d in enumerate(corpus.docs) if d.paper.key == paper.key)
        breakdown = self._breakdowns(corpus, only={n})[0]
        return build_explanation(breakdown, self)

    def score(self, papers: Sequence[PaperText] | Corpus) -> list[Match]:
        """Every paper's Match, excluded and zero scores included, in input order."""
        corpus = prepare(papers)
        return [build_match(b, self) for b in self._breakdowns(corpus, only=None, every=True)]

    # ---- evidence ------------------------------------------------------------------------------

    def _breakdowns(self, corpus: Corpus, only: set[int] | None = None,
                    every: bool = False) -> list[Breakdown]:
        wanted = only if only is not None else set(range(len(corpus)))
        found: dict[int, Breakdown] = {}

        def get(n: int) -> Breakdown:
            if n not in found:
                found[n] = Breakdown(corpus.docs[n])
            return found[n]

        for n, scores in self._term_scores(corpus, wanted).items():
            get(n).terms += scores
        for term in self.excludes:
            hits = corpus.hits(term.variants, near=term.near)
            spec = scoring.field_specificity(_field_df(hits.values()), len(corpus))
            for n, by_field in hits.items():
                if n in wanted:
                    get(n).excludes.append(self._evidence(term, by_field, corpus.docs[n],
                                                          corpus, spec))
        if self.examples or self.unlike or every or only is not None:
            for n in wanted:
                get(n)
        if self.query:
            passing = self.query.select(lambda t: self._query_docs(t, corpus), wanted)
            for n, b in found.items():
                b.gate = n in passing
        if self.examples or self.unlike:
            self._similarities(corpus, found)
        return [found[n] for n in sorted(found)]

    def _term_scores(self, corpus: Corpus, wanted: set[int]) -> dict[int, list[TermScore]]:
        """doc -> its terms' scores, each piece of text counted for one term only."""
        found: dict[int, list[TermScore]] = defaultdict(list)
        for term in self.terms:
            for n, ts in self._scores_of(term, corpus).items():
                if n in wanted:
                    found[n].append(ts)
        for n, scores in found.items():
            if len(scores) > 1 and self._may_overlap(scores):
                found[n] = self._claim(scores, corpus.docs[n], corpus)
        return found

    def _scores_of(self, term: ProfileTerm, corpus: Corpus) -> dict[int, TermScore]:
        """Every paper's evidence for one term; cached on the corpus, so profiles sharing a term
        (with the same field weights and concept) share the work."""
        group = self._groups.get(term.group, ())
        key = ("scores", term.variants, term.near, tuple(sorted(self.weights.items())), group)
        cached = corpus.cache.get(repr(key))
        if cached is None:
            hits = corpus.hits(term.variants, near=term.near)
            spec = self._specificity(term, hits, corpus)
            cached = corpus.cache[repr(key)] = {
                n: self._evidence(term, by_field, corpus.docs[n], corpus, spec)
                for n, by_field in hits.items()}
        return cast(dict[int, TermScore], cached)

    def _may_overlap(self, scores: list[TermScore]) -> bool:
        # Two terms' occurrences can only overlap if they share a word (or a joined form).
        seen: set[str] = set()
        for ts in scores:
            words = {w for v in with_joined(ts.term.variants) for w in v}
            if seen & words:
                return True
            seen |= words
        return False

    def _claim(self, scores: list[TermScore], doc: Doc, corpus: Corpus) -> list[TermScore]:
        claimed = claim_spans(doc, [ts.hits for ts in scores])
        return [self._evidence(ts.term, by_field, doc, corpus, ts.specificity)
                for ts, by_field in zip(scores, claimed, strict=True) if by_field]

    def _specificity(self, term: ProfileTerm, hits: dict[int, dict[str, FieldHit]],
                     corpus: Corpus) -> dict[str, float]:
        """Per field. A query concept is as telling as the share of papers any of its
        alternatives hits (`multimodal OR VLM` in a batch of multimodal papers tells nothing)."""
        members = self._groups.get(term.group)
        if not members:
            return scoring.field_specificity(_field_df(hits.values()), len(corpus))
        docs: dict[int, dict[str, FieldHit]] = {}
        for text in members:
            compiled = self._query_terms.get(text)
            if compiled is not None:
                for n, by_field in corpus.hits(compiled.variants, near=False).items():
                    docs[n] = {**docs.get(n, {}), **by_field}
        for n, by_field in hits.items():
            docs[n] = {**docs.get(n, {}), **by_field}
        return scoring.field_specificity(_field_df(docs.values()), len(corpus))

    def _evidence(self, term: ProfileTerm, by_field: dict[str, FieldHit], doc: Doc,
                  corpus: Corpus, spec: dict[str, float]) -> TermScore:
        lengths = {f: len(doc.fields[f].tokens) for f in by_field}
        evidence, shares = scoring.term_evidence(by_field, lengths, corpus, self.weights, spec)
        return TermScore(term, by_field, evidence, spec, shares)

    def _query_docs(self, term: Term, corpus: Corpus) -> set[int]:
        compiled = self._query_terms.get(term.text.strip())
        if compiled is None:  # only for terms without letters, which parse_query rejects
            return set() if not term_stems(term.text) else set(range(len(corpus)))
        return set(corpus.hits(compiled.variants, near=False))

    def _similarities(self, corpus: Corpus, found: dict[int, Breakdown]) -> None:
        liked = ex.example_set(self._example_docs, corpus)
        unliked = ex.example_set(self._unlike_docs, corpus)
        best_liked = ex.nearest_all(liked, corpus)
        best_unliked = ex.nearest_all(unliked, corpus)
        vectors = ex.corpus_vectors(corpus)
        for n, b in found.items():
            b.liked = best_liked.get(n, (-1, 0.0))
            b.unliked = best_unliked.get(n, (-1, 0.0))
            if b.liked[0] >= 0:
                b.vectors = (vectors[n], liked.vectors[b.liked[0]])
        if self.embedder is not None and self.examples:
            self._semantic(corpus, found, self.embedder)

    def _semantic(self, corpus: Corpus, found: dict[int, Breakdown], embedder: Embedder,
                  ) -> None:
        if self._example_units is None:
            self._example_units = semantic.embed(embedder, self.examples)
        units = semantic.corpus_embeddings(corpus, embedder)
        for n, b in found.items():
            b.semantic = semantic.nearest(units[n], self._example_units)

    def example_title(self, index: int, unlike: bool = False) -> str:
        pool = self.unlike if unlike else self.examples
        return pool[index].title if 0 <= index < len(pool) else ""
