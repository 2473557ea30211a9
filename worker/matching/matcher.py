"""Score papers against one subscriber's interests, with the reasons for every score."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from worker.matching import examples as ex
from worker.matching import scoring
from worker.matching.corpus import Corpus, Doc, FieldHit, claim_spans
from worker.matching.explain import build_explanation, build_match
from worker.matching.interests import Interests
from worker.matching.model import Explanation, Match, PaperText
from worker.matching.query import Query, Term, parse_query
from worker.matching.terms import ProfileTerm, Synonyms, compile_terms, query_groups
from worker.matching.text import term_stems

# Optional semantic hook: texts -> vectors (any length, compared by cosine). The core install
# ships none; worker.matching.semantic may provide one when the extra is installed.
Embedder = Callable[[Sequence[str]], Sequence[Sequence[float]]]


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
    shared: tuple[str, ...] = ()  # stems the paper shares most with its nearest example


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
        self.weights = {**scoring.DEFAULT_FIELD_WEIGHTS, **interests.field_weights}
        self.embedder = embedder  # reserved: semantic similarity is not wired in yet

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

    def rank(self, papers: Sequence[PaperText] | Corpus) -> list[Match]:
        """Papers with score > 0 that are not excluded, best first, ties broken by key."""
        corpus = prepare(papers)
        matches = [build_match(b, self) for b in self._breakdowns(corpus)]
        kept = [m for m in matches if m.score > 0 and not m.excluded]
        return sorted(kept, key=lambda m: (-m.score, m.paper.key))

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
        found: dict[int, list[tuple[ProfileTerm, dict[str, FieldHit]]]] = defaultdict(list)
        specs = {}
        for term in self.terms:
            hits = corpus.hits(term.variants, near=term.near)
            specs[term.text] = self._specificity(term, hits, corpus)
            for n, by_field in hits.items():
                if n in wanted:
                    found[n].append((term, by_field))
        out: dict[int, list[TermScore]] = {}
        for n, pairs in found.items():
            doc = corpus.docs[n]
            claimed = claim_spans(doc, [h for _, h in pairs]) if len(pairs) > 1 else \
                [h for _, h in pairs]
            out[n] = [self._evidence(term, by_field, doc, corpus, specs[term.text])
                      for (term, _), by_field in zip(pairs, claimed, strict=True) if by_field]
        return out

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
        vectors = ex.corpus_vectors(corpus)
        liked = ex.example_set([Doc.of(p) for p in self.examples], corpus)
        unliked = ex.example_set([Doc.of(p) for p in self.unlike], corpus)
        for n, b in found.items():
            b.liked = ex.nearest(vectors[n], liked)
            b.unliked = ex.nearest(vectors[n], unliked)
            if b.liked[0] >= 0:
                b.shared = ex.shared_terms(vectors[n], liked.vectors[b.liked[0]])

    def example_title(self, index: int, unlike: bool = False) -> str:
        pool = self.unlike if unlike else self.examples
        return pool[index].title if 0 <= index < len(pool) else ""
