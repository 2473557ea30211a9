"""Papers tokenized once, with an inverted index, so many profiles can be matched cheaply.

`Corpus.of(papers)` tokenizes every paper once and indexes each stem (and each hyphen-joined pair,
so `multi-modal` also answers to `multimodal`). Looking a term up touches only the papers whose
index entries contain all its words, and the result is cached per term text: profiles that share
a term share the work.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from typing import TYPE_CHECKING, Any, cast

from worker.matching.interests import FIELDS
from worker.matching.model import PaperText
from worker.matching.roles import token_roles
from worker.matching.text import columns, joins, stem

if TYPE_CHECKING:
    from worker.matching.reference import Reference

# A multi-word term whose words all occur within this many extra tokens counts as "near".
NEAR_SLACK = 3
# An occurrence that only describes the next word (FieldText.modifier) counts this much.
MODIFIER_DISCOUNT = 0.5
# Words after which a past participle is a verb, not a description of the next word:
# `trained on`, `grounded in the image`, `masked by`, `learned and`.
FUNCTION_WORDS = frozenset("""
a an the this that these those its their our his her my your it they we he she one
and or but nor as at by for from in into of off on onto out to up with within without via
through over under upon across along among between than then so if when while where which
who whom whose is are was were be been being has have had do does did can could will would
may might must shall should not no also only both either each every all any some such more
most less very well further again here there how why
""".split())


@dataclass(frozen=True)
class FieldText:
    """A field's words, kept column by column (a batch has hundreds of thousands of words: a
    record for each would be most of its memory)."""

    text: str
    stems: tuple[str, ...]  # each word's stem, in order
    folds: tuple[str, ...]  # each word's folded form (worker.matching.text)
    starts: array[int]  # each word's span in `text`
    ends: array[int]
    joins: dict[int, str]  # position -> stem of tokens[pos] + tokens[pos + 1] read as one word
    positions: dict[str, tuple[int, ...]]  # stem -> token positions (joined stems included)
    # token -> how much a word there says about the paper (worker.matching.roles); None: 1.0
    weights: array[float] | None = None
    sentences: array[int] | None = None  # token -> its sentence's number; None: one sentence

    @classmethod
    def of(cls, text: str, roles: bool = False) -> FieldText:
        folds, stems, starts, ends = columns(text)
        joined = joins(text, folds, starts, ends)
        positions: dict[str, list[int]] = defaultdict(list)
        for i, stem_ in enumerate(stems):
            positions[stem_].append(i)
        for i, stem_ in joined.items():
            positions[stem_].append(i)
        return cls(text, stems, folds, array("I", starts), array("I", ends), joined,
                   {s: tuple(p) for s, p in positions.items()},
                   *(token_roles(text, starts) if roles else (None, None)))

    def weight(self, spans: Sequence[tuple[int, int]]) -> float:
        """The occurrences at these spans, each counted by the role of its sentence
        (worker.matching.roles), and half where it only describes the word after it."""
        roles = self.weights
        return sum((1.0 if roles is None else roles[a])
                   * (MODIFIER_DISCOUNT if self.modifier(b) else 1.0) for a, b in spans)

    def modifier(self, end: int) -> bool:
        """Does the occurrence ending at token `end` only describe the word after it? Its last
        word is a past participle standing right before another word that is not a function
        word: `Pre-trained Vision-Language Models` and `masked image modeling` are about models
        and image modeling, not about pre-training or masks (`trained on`, `grounded in the
        image`, a hyphenated `pre-trained-model` and a final word are not)."""
        if end >= len(self.folds):
            return False
        last, after = self.folds[end - 1], self.folds[end]
        return (last.endswith("ed") and self.stems[end - 1] != last
                and self.text[self.ends[end - 1]:self.starts[end]] == " "
                and after not in FUNCTION_WORDS and not after.isdigit())

    def sentence(self, token: int) -> int:
        """The number of the sentence the token stands in (0: the first)."""
        return 0 if self.sentences is None else self.sentences[token]

    def one_sentence(self, start: int, end: int) -> bool:
        """Do tokens[start:end] stand in one sentence?"""
        return self.sentences is None or self.sentences[start] == self.sentences[end - 1]

    def surface(self, start: int, end: int) -> str:
        """The original text of tokens[start:end]."""
        return self.text[self.starts[start]:self.ends[end - 1]]


@dataclass(frozen=True)
class Doc:
    paper: PaperText
    fields: dict[str, FieldText]

    @classmethod
    def of(cls, paper: PaperText) -> Doc:
        return cls(paper, {"title": FieldText.of(paper.title),
                           "abstract": FieldText.of(paper.abstract, roles=True)})

    def stems(self) -> set[str]:
        return {s for f in self.fields.values() for s in f.positions}


@dataclass(frozen=True)
class FieldHit:
    count: int  # occurrences (tf)
    exact: bool  # False: only found as words near each other, not as the phrase
    spans: tuple[tuple[int, int], ...] = ()  # token (start, end) of each occurrence, sorted
    text: FieldText | None = field(default=None, compare=False, repr=False)  # of the spans

    @cached_property
    def weight(self) -> float:
        """What the occurrences count for in a score: each by its sentence's role
        (worker.matching.roles); without the field's text, each once."""
        return self.text.weight(self.spans) if self.text is not None else float(self.count)

    @cached_property
    def describing(self) -> int:
        """How many of the occurrences only describe the word after them (FieldText.modifier):
        worked out once for every profile whose reasons quote the hit."""
        return 0 if self.text is None else sum(self.text.modifier(b) for _, b in self.spans)

    @cached_property
    def surfaces(self) -> tuple[str, ...]:
        """Distinct surface forms, in order of first occurrence. Worded when asked: only the
        hits of the papers a digest shows become reasons."""
        if self.text is None:
            return ()
        return tuple(dict.fromkeys(self.text.surface(a, b) for a, b in self.spans))

    @cached_property
    def said(self) -> str:
        """The occurrences as a term's reason quotes them (worker.matching.explain.occurrences:
        the words, how often, where they stand): worded once for every profile whose reasons
        quote the hit, as the surfaces are (wording reasons is about a quarter of matching;
        at 10,000 subscribers a matching process words ~22,000 hits: ~3 MB of these)."""
        from worker.matching.explain import occurrences  # (explain reads this module)

        return occurrences(self)


class Bounded(OrderedDict[Any, Any]):
    """A cache that forgets what was used least recently beyond `size` entries."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def get(self, key: Any, default: Any = None) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        return default

    def put(self, key: Any, value: Any) -> Any:
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)
        return value


@dataclass
class Corpus:
    docs: list[Doc]
    index: dict[str, set[int]]  # stem -> doc numbers
    avg_len: dict[str, float]
    _hits: dict[tuple[str, ...], dict[int, dict[str, FieldHit]]] = field(default_factory=dict)
    _bits: dict[object, int] = field(default_factory=dict)
    # Per-term results of the profiles ranked against this batch (Matcher._term_evidence):
    # compact (two floats per paper a term hits, more only for papers scored), and bounded,
    # as queries make many one-off concepts and serve keeps a batch for a while.
    evidence: Bounded = field(default_factory=lambda: Bounded(20_000))
    cache: dict[str, object] = field(default_factory=dict)  # derived data, e.g. tf-idf vectors
    # Papers seen just before the batch: counted, with it, in how common a term is (Matcher.
    # _specificity), so that a batch of papers all on one topic (a source that lists only
    # them) does not make the topic's own words look common. Never ranked.
    reference: Reference | None = None  # worker.matching.reference

    @classmethod
    def of(cls, papers: Iterable[PaperText], reference: Reference | None = None) -> Corpus:
        docs = [Doc.of(p) for p in papers]
        index: dict[str, set[int]] = defaultdict(set)
        for n, doc in enumerate(docs):
            for s in doc.stems():
                index[s].add(n)
        avg = {f: sum(len(d.fields[f].stems) for d in docs) / max(len(docs), 1) for f in FIELDS}
        return cls(docs, dict(index), {f: max(v, 1.0) for f, v in avg.items()},
                   reference=reference)

    def __len__(self) -> int:
        return len(self.docs)

    def df(self, stems: Sequence[str]) -> int:
        """Papers containing every word of a term (an upper bound on the phrase's frequency)."""
        sets = [self.index.get(s, set()) for s in stems]
        return len(set.intersection(*sets)) if sets else 0

    def hits(self, variants: tuple[tuple[str, ...], ...], near: bool = True,
             ) -> dict[int, dict[str, FieldHit]]:
        """doc number -> field -> hit, for a term given as its stem sequences (synonyms are
        extra variants). Cached: profiles sharing a term share the lookup."""
        key = (*("\x1f".join(v) for v in variants), "near" if near else "exact")
        cached = self._hits.get(key)
        if cached is None:
            cached = self._hits[key] = self._lookup(variants, near)
        return cached

    # Sets of papers as bit sets (bit n: paper n). A profile combines a few of them per query,
    # exclusion and example (and, or, not, count); on ints that is a handful of machine-word
    # operations however many papers there are, where sets of ints would touch every member.
    @property
    def all_bits(self) -> int:
        return (1 << len(self.docs)) - 1

    def hit_bits(self, variants: tuple[tuple[str, ...], ...], near: bool = True) -> int:
        """The papers `hits(variants, near)` finds, as a bit set (cached)."""
        key = (variants, near)
        cached = self._bits.get(key)
        if cached is None:
            cached = self._bits[key] = bits(self.hits(variants, near))
        return cached

    def claimed(self, n: int, found: Sequence[dict[str, FieldHit]],
                ) -> Sequence[dict[str, FieldHit]]:
        """claim_spans for paper n's hits of several terms, in order: `found` itself when no
        two share a token. (Not kept: one paper with the same overlapping terms comes back for
        one profile in five.)"""
        return found if _disjoint(found) else claim_spans(self.docs[n], found)

    def numbers(self, keys: Iterable[str]) -> set[int]:
        """The doc numbers of the papers with these keys."""
        by_key = self.cache.get("numbers")
        if by_key is None:
            table: dict[str, list[int]] = defaultdict(list)
            for n, doc in enumerate(self.docs):
                table[doc.paper.key].append(n)
            by_key = self.cache["numbers"] = dict(table)
        return {n for key in keys for n in cast(dict[str, list[int]], by_key).get(key, ())}

    def _lookup(self, variants: tuple[tuple[str, ...], ...], near: bool,
                ) -> dict[int, dict[str, FieldHit]]:
        found: dict[int, dict[str, list[tuple[int, int, bool]]]] = defaultdict(
            lambda: defaultdict(list))
        for seq in with_joined(variants):
            sets = [self.index.get(s) for s in seq]
            if not all(sets):
                continue
            for n in set.intersection(*sets):  # type: ignore[arg-type]
                for name, ftext in self.docs[n].fields.items():
                    spans = find_phrase(ftext, seq)
                    if not spans and near and len(seq) > 1:
                        spans = find_near(ftext, seq)
                    found[n][name] += spans
        return {n: {f: _field_hit(self.docs[n].fields[f], spans)
                    for f, spans in by_field.items() if spans}
                for n, by_field in found.items() if any(by_field.values())}


def bits(numbers: Iterable[int]) -> int:
    """A bit set with bit n set for every n in `numbers`."""
    flags = bytearray()
    for n in numbers:
        byte = n >> 3
        if byte >= len(flags):
            flags.extend(bytes(byte - len(flags) + 1))
        flags[byte] |= 1 << (n & 7)
    return int.from_bytes(flags, "little")


def with_joined(variants: Iterable[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Each variant plus, for multi-word ones, the forms with adjacent words written as one:
    a profile's `pre training` finds `pretraining`; the index's joins cover the reverse."""
    out: list[tuple[str, ...]] = []
    for seq in variants:
        out.append(seq)
        for i in range(len(seq) - 1):
            out.append((*seq[:i], stem(seq[i] + seq[i + 1]), *seq[i + 2:]))
    return list(dict.fromkeys(out))


def find_phrase(ftext: FieldText, seq: Sequence[str]) -> list[tuple[int, int, bool]]:
    """Non-overlapping (start, end, exact=True) token spans where `seq` occurs as a phrase,
    within one sentence; a doc word written with a hyphen may stand for two words of `seq`
    and vice versa."""
    out: list[tuple[int, int, bool]] = []
    last_end = -1
    for start in ftext.positions.get(seq[0], ()):
        if start < last_end:
            continue
        end = _match_at(ftext, seq, start)
        if end is not None and ftext.one_sentence(start, end):
            out.append((start, end, True))
            last_end = end
    return out


def _match_at(ftext: FieldText, seq: Sequence[str], pos: int) -> int | None:
    stems, joins = ftext.stems, ftext.joins
    for word in seq:
        if pos < len(stems) and stems[pos] == word:
            pos += 1
        elif joins.get(pos) == word:
            pos += 2
        else:
            return None
    return pos


def find_near(ftext: FieldText, seq: Sequence[str]) -> list[tuple[int, int, bool]]:
    """Shortest windows holding every word of `seq` in any order, at most NEAR_SLACK tokens
    longer than the phrase, within one sentence: `grounding of referring expressions` for
    `referring grounding`, not `... two-stage training. The stage ...` for `training stage`."""
    wanted = set(seq)
    limit = len(seq) + NEAR_SLACK
    out: list[tuple[int, int, bool]] = []
    stems = ftext.stems
    start = 0
    while start < len(stems):
        if stems[start] in wanted:
            seen = set()
            for end in range(start, min(start + limit, len(stems))):
                if stems[end] in wanted:
                    seen.add(stems[end])
                if seen == wanted:
                    if ftext.one_sentence(start, end + 1):
                        out.append((start, end + 1, False))
                        start = end
                    break
        start += 1
    return out


def _field_hit(ftext: FieldText, spans: list[tuple[int, int, bool]]) -> FieldHit:
    unique = sorted(set(spans))
    exact = [s for s in unique if s[2]]
    use = exact or unique
    return field_hit(ftext, [(a, b) for a, b, _ in use], bool(exact))


def field_hit(ftext: FieldText, spans: Sequence[tuple[int, int]], exact: bool) -> FieldHit:
    return FieldHit(len(spans), exact, tuple(sorted(spans)), ftext)


def _disjoint(found: Sequence[dict[str, FieldHit]]) -> bool:
    """Do no two occurrences in these hits share a token? Then claim_spans keeps them all."""
    for name in FIELDS:
        spans = sorted(span for by_field in found if name in by_field
                       for span in by_field[name].spans)
        if any(a < end for (_, end), (a, _) in pairwise(spans)):
            return False
    return True


def claim_spans(doc: Doc, found: Sequence[dict[str, FieldHit]]) -> list[dict[str, FieldHit]]:
    """Count each piece of text once: where occurrences of several terms overlap (`large
    vision-language model`, `vision-language model`, `vision-language`), the longest exact one
    keeps it and the others lose that occurrence. Returns the hits in the same order; a term
    may end up with no fields. A field a term keeps all of is its hit as it was, and a term that
    keeps all its text gets its own dict back: most do, and their evidence (and the words
    their reasons quote) is then what the batch already worked out for the term
    (Batch.terms_of), not worked out again for a copy."""
    claims = sorted(((not hit.exact, -(b - a), i, name, (a, b))
                     for i, by_field in enumerate(found)
                     for name, hit in by_field.items() for a, b in hit.spans))
    taken: dict[str, set[int]] = defaultdict(set)
    kept: list[dict[str, list[tuple[int, int]]]] = [defaultdict(list) for _ in found]
    for _, _, i, name, (a, b) in claims:
        if taken[name].isdisjoint(range(a, b)):
            taken[name].update(range(a, b))
            kept[i][name].append((a, b))
    out = []
    for hits, spans in zip(found, kept, strict=True):
        mine = {name: hits[name] if len(field) == hits[name].count else
                field_hit(doc.fields[name], field, hits[name].exact)
                for name, field in spans.items()}
        out.append(hits if all(mine.get(name) is hit for name, hit in hits.items()) else mine)
    return out

