"""Score papers against one subscriber's interests, with the reasons for every score."""

from __future__ import annotations

import operator
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache, reduce
from typing import cast

import numpy as np

from worker.matching import scoring, semantic
from worker.matching.batch import Batch
from worker.matching.conjunction import Conjunction
from worker.matching.corpus import Corpus, Doc, FieldHit, with_joined
from worker.matching.evidence import TermCounts, TermEvidence, TermScore
from worker.matching.explain import build_explanation, build_match, listed
from worker.matching.interests import Interests
from worker.matching.model import Explanation, Match, PaperText, Ranking, Reason
from worker.matching.query import And, Node, Not, Or, Query, Term, parse_query
from worker.matching.semantic import Embedder
from worker.matching.terms import (
    ProfileTerm,
    Synonyms,
    compile_terms,
    conjuncts,
    query_groups,
)
from worker.matching.text import term_stems
from worker.mathtext import display_text

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


_parse = lru_cache(maxsize=4096)(parse_query)  # queries are immutable: profiles share them


@lru_cache(maxsize=4096)
def _words(variants: tuple[tuple[str, ...], ...]) -> frozenset[str]:
    """Every word a term's occurrences can consist of (joined forms included)."""
    return frozenset(w for v in with_joined(variants) for w in v)


def _lengths(doc: Doc, by_field: Iterable[str]) -> dict[str, int]:
    return {f: len(doc.fields[f].stems) for f in by_field}


def _field_df(hits: Iterable[Iterable[str]]) -> dict[str, int]:
    """field -> how many papers have the term in that field."""
    df: dict[str, int] = defaultdict(int)
    for by_field in hits:
        for name in by_field:
            df[name] += 1
    return df


def _specificity(corpus: Corpus, hits: Iterable[Iterable[str]],
                 alternatives: Sequence[tuple[tuple[tuple[str, ...], ...], bool]],
                 ) -> dict[str, float]:
    """How telling a term (or a concept: any of its `alternatives`, as (variants, near)) is
    in each field the batch has it in, from `hits` (the fields of each batch paper it is in)
    and, with the batch, the papers of the corpus's reference (seen just before it)."""
    df = _field_df(hits)
    n = len(corpus)
    reference = corpus.reference
    if reference is not None and reference.size:
        every = [stems for variants, _ in alternatives for stems in variants]
        for name in df:  # (a field the batch lacks it in needs no specificity)
            df[name] += reference.df(name, every)
        n += reference.size
    return scoring.field_specificity(df, n)


class Matcher:
    def __init__(self, interests: Interests, *, examples: Sequence[PaperText] = (),
                 unlike: Sequence[PaperText] = (), embedder: Embedder | None = None) -> None:
        self.interests = interests
        self.query: Query | None = _parse(interests.query) if interests.query else None
        self.query_text = str(self.query) if self.query else ""  # as reasons quote it
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
        weights = self._weights_key = tuple(sorted(self.weights.items()))
        # Keys of per-term results cached on a corpus, shared by every profile with the term
        # (and, for a query term, the same alternatives in any order).
        self._cache_keys = {t: repr(("scores", t.variants, t.near, weights,
                                     self._concept(t.group))) for t in self.terms}
        self._cache_keys.update({t: repr(("exclude", t.variants, t.near, weights))
                                 for t in self.excludes})
        words = [_words(t.variants) for t in self.terms]  # may two terms' occurrences overlap?
        self._overlap_pairs = [(i, j) for i, a in enumerate(words)
                               for j in range(i + 1, len(words)) if not a.isdisjoint(words[j])]
        self._query_reasons: dict[tuple[bool, tuple[str, ...]], Reason] = {}
        self.conjunction = self._conjunction()
        self.embedder = embedder  # optional: see worker.matching.semantic
        self._units: dict[bool, list[semantic.Unit]] = {}  # liked, unliked examples embedded

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

    def _conjunction(self) -> Conjunction:
        """The query's concepts that an AND asks for together (worker.matching.conjunction),
        each looked for by every alternative the query names."""
        found = conjuncts(self.query) if self.query else []
        texts = [tuple(t.text.strip() for t in members) for members in found]
        alternatives = [tuple(q.variants for text in members
                              if (q := self._query_terms.get(text)) is not None)
                        for members in texts]
        groups = {g: texts.index(members) for g, members in self._groups.items()
                  if members in texts}
        return Conjunction(alternatives, groups)

    def _concept(self, group: int) -> tuple[tuple[tuple[str, ...], ...], ...]:
        """The variants of every alternative of a query concept, in a canonical order (what
        its specificity depends on); () for a term that is not part of a query concept."""
        members = (self._query_terms.get(text) for text in self._groups.get(group, ()))
        return tuple(sorted({t.variants for t in members if t is not None}))

    # ---- public API ----------------------------------------------------------------------------

    def rank(self, papers: Sequence[PaperText] | Corpus, *, min_score: float = 0.0,
             limit: int | None = None) -> list[Match]:
        """Papers with score > 0 that are not excluded, best first, ties broken by key.

        `min_score` and `limit` are optional shortcuts: reasons are only worded for the papers
        returned, and papers that cannot make it are not scored in full (worker.matching.batch),
        which matters when thousands of profiles are ranked against one batch."""
        batch = Batch(self, prepare(papers))
        return list(batch.ranking(min_score, limit, (), shown=False).matches)

    def top(self, papers: Sequence[PaperText] | Corpus, *, min_score: float = 0.0,
            limit: int | None = None, skip: Iterable[str] = ()) -> Ranking:
        """A digest's share of the batch: the best papers whose score as shown (Match.score,
        six places) is at least `min_score`, at most `limit` of them, leaving out the papers
        whose keys are in `skip` (the examples themselves); and how many papers ranked at all
        (score above 0, not excluded), to say how many more scored lower."""
        corpus = prepare(papers)
        return Batch(self, corpus).ranking(min_score, limit, corpus.numbers(skip), shown=True)

    def explain(self, paper: PaperText, papers: Sequence[PaperText] | Corpus = ()) -> Explanation:
        """The full score breakdown for one paper, scored among `papers` (its batch; a
        prepared Corpus must hold the paper)."""
        if isinstance(papers, Corpus):
            corpus = papers
        else:
            batch = list(papers)
            if all(p.key != paper.key for p in batch):
                batch.append(paper)
            corpus = prepare(batch)
        n = next(i for i, d in enumerate(corpus.docs) if d.paper.key == paper.key)
        return build_explanation(Batch(self, corpus).breakdowns((n,))[n], self)

    def score(self, papers: Sequence[PaperText] | Corpus) -> list[Match]:
        """Every paper's Match, excluded and zero scores included, in input order."""
        corpus = prepare(papers)
        found = Batch(self, corpus).breakdowns(range(len(corpus)))
        return [build_match(b, self) for b in found.values()]

    # ---- evidence ------------------------------------------------------------------------------

    def _term_evidence(self, term: ProfileTerm, corpus: Corpus) -> TermEvidence:
        """A term's specificity and every paper's strength for it; cached on the corpus, so
        profiles sharing a term (with the same field weights and concept) share the work."""
        key = self._cache_keys[term]
        found = corpus.evidence.get(key)
        if found is None:
            base = self._counts(term, corpus)
            if term.kind == "exclude":
                spec = _specificity(corpus, base.hits.values(), [(term.variants, term.near)])
            else:
                spec = self._specificity(term, base.hits, corpus)
            strengths, caps = (np.clip(scoring.TERM_STRENGTH * values, 0.0, 1.0)
                               for values in scoring.strengths(base.by_field, base.raw, spec))
            found = corpus.evidence.put(key, TermEvidence(base, spec, strengths, caps))
        return cast(TermEvidence, found)

    def _counts(self, term: ProfileTerm, corpus: Corpus) -> TermCounts:
        """The term's hits and each paper's scoring.field_counts: the same for every concept
        the term is part of, so cached apart from its evidence."""
        key = repr(("counts", term.variants, term.near, self._weights_key))
        found = corpus.evidence.get(key)
        if found is None:
            hits = corpus.hits(term.variants, near=term.near)
            found = corpus.evidence.put(key, TermCounts(hits, np.fromiter(
                hits, dtype=np.intp, count=len(hits)), tuple(
                scoring.field_counts(by_field, _lengths(corpus.docs[n], by_field), corpus,
                                     self.weights) for n, by_field in hits.items())))
        return cast(TermCounts, found)

    def _specificity(self, term: ProfileTerm, hits: dict[int, dict[str, FieldHit]],
                     corpus: Corpus) -> dict[str, float]:
        """Per field. A query concept is as telling as the share of papers any of its
        alternatives hits (`multimodal OR VLM` in a batch of multimodal papers tells nothing)."""
        concept = self._concept(term.group)
        if not concept:
            return _specificity(corpus, hits.values(), [(term.variants, term.near)])
        # A query term is one of its concept's alternatives: the concept alone decides.
        key = repr(("concept", concept) if term.variants in concept and not term.near
                   else ("concept", concept, term.variants, term.near))
        found = corpus.evidence.get(key)
        if found is None:
            docs: dict[int, set[str]] = defaultdict(set)  # paper -> fields any alternative hits
            for variants in concept:
                for n, by_field in corpus.hits(variants, near=False).items():
                    docs[n].update(by_field)
            for n, by_field in hits.items():
                docs[n].update(by_field)
            alternatives = [(variants, False) for variants in concept]
            found = corpus.evidence.put(key, _specificity(
                corpus, docs.values(), [*alternatives, (term.variants, term.near)]))
        return cast(dict[str, float], found)

    def _evidence(self, term: ProfileTerm, by_field: dict[str, FieldHit], doc: Doc,
                  corpus: Corpus, spec: dict[str, float]) -> TermScore:
        """The term's evidence in part of its occurrences in a paper (see Batch.terms_of)."""
        evidence, shares, _ = scoring.term_evidence(by_field, _lengths(doc, by_field), corpus,
                                                    self.weights, spec)
        return TermScore(term, by_field, evidence, spec, shares)

    def query_papers(self, corpus: Corpus) -> dict[str, int]:
        """Each query term's papers, as a bit set, by the term as written: what the gate
        (gate_bits) and the terms a paper passes it by (gate_terms) are worked out from."""
        assert self.query is not None
        return {t.text: self._query_bits(t, corpus) for t, _ in self.query.terms()}

    def gate_bits(self, corpus: Corpus, papers: dict[str, int]) -> int:
        """The papers that satisfy the query, as a bit set (Query.select's algebra, on bits),
        from query_papers."""
        def select(node: Node) -> int:
            if isinstance(node, Term):
                return papers[node.text]
            if isinstance(node, Not):
                return corpus.all_bits & ~select(node.child)
            children = [select(child) for child in node.children]
            return reduce(operator.and_ if isinstance(node, And) else operator.or_, children)

        assert self.query is not None
        return select(self.query.root)

    def _query_bits(self, term: Term, corpus: Corpus) -> int:
        compiled = self._query_terms.get(term.text.strip())
        if compiled is None:  # only for terms without letters, which parse_query rejects
            return 0 if not term_stems(term.text) else corpus.all_bits
        return corpus.hit_bits(compiled.variants, near=False)

    def example_units(self, unlike: bool) -> list[semantic.Unit]:
        """The liked (or unliked) examples embedded, once a profile (matching.semantic)."""
        assert self.embedder is not None
        if unlike not in self._units:
            self._units[unlike] = semantic.embed(self.embedder,
                                                 self.unlike if unlike else self.examples)
        return self._units[unlike]

    def gate_terms(self, papers: dict[str, int], n: int) -> tuple[str, ...]:
        """The query's terms (as written, each once, in the query's order) by which paper n
        satisfies it, from query_papers: every alternative of an OR that holds, every part of
        an AND; a NOT names none. () when the paper does not satisfy it."""
        def held(node: Node) -> list[str] | None:
            if isinstance(node, Term):
                return [node.text.strip()] if papers[node.text] >> n & 1 else None
            if isinstance(node, Not):
                return [] if held(node.child) is None else None
            found = [held(child) for child in node.children]
            if isinstance(node, And) and any(f is None for f in found):
                return None
            holding = [f for f in found if f is not None]
            return [text for f in holding for text in f] if holding else None

        assert self.query is not None
        return tuple(dict.fromkeys(held(self.query.root) or ()))

    def gate_missing(self, papers: dict[str, int], n: int) -> tuple[str, ...]:
        """What paper n lacks to satisfy the query, in words, from query_papers: each part of
        a top-level AND that does not hold (`no “generation” or “understanding”`), or the
        whole query when it is no AND. () when the paper satisfies it."""
        def holds(node: Node) -> bool:
            if isinstance(node, Term):
                return bool(papers[node.text] >> n & 1)
            if isinstance(node, Not):
                return not holds(node.child)
            found = (holds(child) for child in node.children)
            return all(found) if isinstance(node, And) else any(found)

        assert self.query is not None
        root = self.query.root
        parts = root.children if isinstance(root, And) else (root,)
        return tuple(_lacking(part, part is root) for part in parts if not holds(part))

    def query_reason(self, passed: bool, terms: tuple[str, ...] = ()) -> Reason:
        """The reason that says whether a paper satisfies the query, and by which of its terms
        (gate_terms), or what it lacks (gate_missing): one object for all the profile's papers
        that satisfy it (or fail it) alike."""
        found = self._query_reasons.get((passed, terms))
        if found is None:
            said = (f"does not match your query {self.query_text}"
                    + (f": {'; '.join(terms)}" if terms else "") if not passed else
                    f"matches your query with {listed(terms)}" if terms else
                    "matches your query")
            found = self._query_reasons[passed, terms] = Reason("query", said, None)
        return found

    def example_title(self, index: int, unlike: bool = False) -> str:
        """An example's title as reasons quote it: as digests show titles, its TeX written
        out (`γ-MoD`, not `$γ-$MoD`)."""
        pool = self.unlike if unlike else self.examples
        return display_text(pool[index].title) if 0 <= index < len(pool) else ""


def _lacking(part: Node, whole: bool = False) -> str:
    """A part of a query (or the `whole` query) a paper does not satisfy, as what the paper
    lacks or has."""
    if isinstance(part, Term):
        return f"no “{part.text.strip()}”"
    if isinstance(part, Or) and all(isinstance(c, Term) for c in part.children):
        return "no " + " or ".join(f"“{c.text.strip()}”" for c in part.children
                                   if isinstance(c, Term))
    if isinstance(part, Not) and isinstance(part.child, Term):
        return f"it mentions “{part.child.text.strip()}”, which the query rules out"
    return f"({part}) does not hold" if isinstance(part, And | Or) and not whole else \
        f"{part} does not hold"
