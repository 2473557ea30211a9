"""Turn a paper's evidence into its score, its reasons, and a readable breakdown."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from worker.matching import examples as ex
from worker.matching import roles, scoring
from worker.matching.clues import NO_CLUES, PASSING_MAX, Clues, weigh
from worker.matching.corpus import Doc, FieldHit
from worker.matching.model import Component, Explanation, Match, Reason
from worker.matching.semantic import semantic_score
from worker.matching.text import term_stems
from worker.plaintext import in_words

if TYPE_CHECKING:
    from worker.matching.evidence import Breakdown, TermScore
    from worker.matching.matcher import Matcher

_QUOTE = "“{}”"
# A similarity to an example (in words) below this, one pair of unrelated papers of a field in
# ten reaches (worker.matching.scoring's curve: cosine 0.11): the reason says the paper is "a
# little like" the example, not that it resembles it.
LITTLE = 0.2
ABOUT = 0.5  # a meaning similarity this high says "about the same thing" (0.5: clearly on topic)


@dataclass(frozen=True)
class Parts:
    lexical: float
    example: float  # what example similarity contributes
    similarity: float  # calibrated similarity to the nearest example, as shown to readers
    unlike: float  # how much more the paper resembles an unliked example than a liked one
    demote: float  # factor from demoted exclude terms, 1.0 when none
    excluded: bool
    score: float
    clues: Clues = NO_CLUES  # which of the paper's concepts counted, and how
    unliked: float = 0.0  # calibrated similarity to the nearest unliked example
    nearer: float = 0.0  # how much more it resembles a liked example than an unliked one
    unlike_by_meaning: bool = False  # `unlike` and `unliked` are by meaning (semantic)


def parts(b: Breakdown, m: Matcher) -> Parts:
    found = weigh(b.terms, b.apart)
    lexical = scoring.combine(found.counted.values())
    liked, unliked = _value(b.liked), _value(b.unliked)
    # With examples on both sides (marks make both), the side the paper resembles more counts,
    # by how much more (in cosine): a field's papers all resemble a few of the reader's likes
    # and unlikes a little.
    similarity = scoring.similarity_score(liked)
    nearer = scoring.similarity_score(liked - unliked) if unliked else similarity
    unlike = scoring.similarity_score(unliked - liked)
    unliked_shown, by_meaning = scoring.similarity_score(unliked), False
    # By meaning (semantic matching) the same, in spreads above the batch's typical paper.
    near, far = _value(b.semantic), _value(b.semantic_unliked)
    if near:
        similarity = max(similarity, semantic_score(near))
        nearer = max(nearer, semantic_score(near - far))
    if semantic_score(far - near) > unlike:
        unlike, unliked_shown, by_meaning = semantic_score(far - near), semantic_score(far), True
    example = nearer * (scoring.EXAMPLE_WITH_TERMS if m.terms else 1.0)
    demote, excluded = 1.0, b.gate is False
    if b.excludes:
        if m.interests.exclude_mode == "demote":
            for ts in b.excludes:
                demote *= 1.0 - scoring.DEMOTE_STRENGTH * ts.evidence
        else:
            excluded = True
    score = scoring.combine((lexical, example)) * demote * (1 - scoring.UNLIKE_STRENGTH * unlike)
    return Parts(lexical, example, similarity, unlike, demote, excluded,
                 0.0 if excluded else score, found, unliked_shown, nearer, by_meaning)


def _value(nearest: tuple[int, float]) -> float:
    """The cosine (or z, by meaning) of a paper's nearest example; 0 where there is none."""
    return nearest[1] if nearest[0] >= 0 else 0.0


def build_match(b: Breakdown, m: Matcher, p: Parts | None = None) -> Match:
    p = p or parts(b, m)
    return Match(b.doc.paper, round(p.score, 6), tuple(_reasons(b, m, p)), p.excluded)


def _reasons(b: Breakdown, m: Matcher, p: Parts) -> list[Reason]:
    positive: list[Reason] = []
    # "(query term)" tells the query's terms from the keywords: where there are both
    tag = any(t.kind != "query" for t in m.terms)
    for ts in b.terms:  # (a field weighted 0, or a term that says nothing here: no reason)
        positive += _counted([r for r in _term_reasons(ts, tag_query=tag) if r.weight > 0],
                             p.clues, ts.term.group)
    less = _less_unliked(b, m, p)
    if p.example > 0 and _semantic_leads(b):
        title = m.example_title(b.semantic[0])
        positive.append(Reason("semantic", f"{_by_meaning(p.similarity)} {_QUOTE.format(title)} "
                               f"(meaning similarity {p.similarity:.2f}{less})", None, (),
                               p.example))
    elif p.example > 0:
        title = m.example_title(b.liked[0])
        shared = _shared_words(b)
        words = f"; shares {', '.join(_as_in_a_sentence(shared[:4]))}" if shared else ""
        verb = "is a little like" if p.similarity < LITTLE else "resembles"
        positive.append(Reason("example", f"{verb} {_QUOTE.format(title)} (similarity "
                               f"{p.similarity:.2f}{less}{words})", None, tuple(shared),
                               p.example))
    positive.sort(key=lambda r: -r.weight)
    negative = _negative_reasons(b, m, p)
    gate = ([m.query_reason(b.gate, b.gate_terms or b.gate_missing)]
            if b.gate is not None and m.query is not None else [])
    return positive + gate + negative


def _as_in_a_sentence(words: Sequence[str]) -> list[str]:
    """Words as the paper writes them, but a capital that only starts a sentence or a title
    (`Perceiving`), each once: `VLMs` stays `VLMs`."""
    out: dict[str, str] = {}
    for word in words:
        plain = word.lower() if word[:1].isupper() and word[1:].islower() else word
        out.setdefault(plain.casefold(), plain)
    return list(out.values())


def _less_unliked(b: Breakdown, m: Matcher, p: Parts) -> str:
    """What an example's reason says when resembling an unliked example too took some of its
    similarity: the unliked example nearest in the way the reason speaks of (by meaning when
    that leads and one is near by meaning). Nothing when it took too little to show."""
    if round(p.nearer, 2) >= round(p.similarity, 2):
        return ""
    verb = "it also resembles"
    if _semantic_leads(b) and b.semantic_unliked[0] >= 0:
        index = b.semantic_unliked[0]
        shown = f"{semantic_score(_value(b.semantic_unliked)):.2f} by meaning"
    else:
        similarity = scoring.similarity_score(_value(b.unliked))
        index, shown = b.unliked[0], f"{similarity:.2f}"
        if similarity < LITTLE:
            verb = "it is also a little like"
    title = m.example_title(index, unlike=True)
    return (f"; counts as {p.nearer:.2f}: {verb} {_QUOTE.format(title)} "
            f"({shown}), which you marked unlike")


def listed(words: Sequence[str]) -> str:
    """“a”, “b” and “c”."""
    return in_words([_QUOTE.format(w) for w in words])


def _by_meaning(similarity: float) -> str:
    """How a reason says a paper is near an example by meaning: "about the same thing" only
    where it stands out as clearly as a clear topic match scores (ABOUT)."""
    return "is about the same thing as" if similarity >= ABOUT else "is close in meaning to"


def _standing(z: float) -> str:
    """How far above the batch z spreads stand, as the share of a field's papers (normally
    spread) it is closer than: words for `explain`."""
    share = 1.0 - 0.5 * math.erfc(z / math.sqrt(2.0))
    if share > 0.99:
        return f"all but about 1 in {round(1.0 / max(1.0 - share, 1e-9)):,}"
    return f"about {share:.0%}"


def _semantic_leads(b: Breakdown) -> bool:
    return b.semantic[0] >= 0 and semantic_score(b.semantic[1]) > scoring.similarity_score(
        _value(b.liked))


UNLIKED_NOTE = (" (liked and unliked examples both resemble it: the nearer side counts, by how "
                "much nearer)")
BY_MEANING_NOTE = "; in words or by meaning, the larger similarity counts"
APART = " (not with the rest of your query: counts half)"
# A passing mention's reason already says "in passing" (_where); one apart from the rest of
# its AND may stand where the paper says what it contributes, and counts as passing all the same.
CAPPED = f" (counts at most {PASSING_MAX}, however often)"
APART_CAPPED = f" (so as a passing mention: counts at most {PASSING_MAX})"


def _counted(reasons: Sequence[Reason], clues: Clues, group: int) -> Sequence[Reason]:
    """A term's reasons weighed by what its concept counted for (worker.matching.clues): half
    for an AND concept apart from the others, at most PASSING_MAX for a passing mention (and
    the reason says which), nothing for a passing mention that a stronger one outweighed."""
    factor = clues.factor(group)
    if factor == 1.0:
        return reasons
    apart = group in clues.apart
    note = "" if factor == 0 else (APART if apart else "") + (
        (APART_CAPPED if apart else CAPPED) if clues.capped(group) else "")
    return [replace(r, weight=round(factor * r.weight, 6), text=r.text + note) for r in reasons]


def _term_reasons(ts: TermScore, verb: str = "mentions", suffix: str = "",
                  sign: float = 1.0, tag_query: bool = True) -> list[Reason]:
    reasons = []
    term = ts.term
    for name in ("title", "abstract"):
        hit = ts.hits.get(name)
        if hit is None:
            continue
        text = f"{name} {verb} {hit.said}"
        if not hit.exact:
            text += f" (words of {_QUOTE.format(term.text)} close together)"
        elif len(term.variants) > 1 and _is_synonym(ts, hit.surfaces[0]):
            text += f" (same as {_QUOTE.format(term.text)})"
        if term.kind == "query" and tag_query:
            text += " (query term)"
        reasons.append(Reason(term.kind, text + suffix, name, hit.surfaces,
                              round(sign * ts.strength * ts.shares[name], 6), term.text))
    return reasons


def occurrences(hit: FieldHit) -> str:
    """A term's occurrences in a field as its reason quotes them, whatever the term and the
    profile: `“VLM”, “VLMs” (3×), in passing` (FieldHit.said keeps it for every profile)."""
    quoted = ", ".join(_QUOTE.format(s) for s in hit.surfaces[:2])
    return quoted + (f" ({hit.count}×)" if hit.count > 1 else "") + _where(hit) + _describing(hit)


def _where(hit: FieldHit) -> str:
    """Where in an abstract the term stands, when that changed what it counts for (see
    worker.matching.roles): in what the paper contributes, or only in passing."""
    weights = hit.text.weights if hit.text is not None else None
    if weights is None:
        return ""
    if any(weights[a] >= roles.CONTRIBUTION for a, _ in hit.spans):
        return ", in what the paper contributes"
    return ", in passing"


def _describing(hit: FieldHit) -> str:
    """Which occurrences only describe the word after them (FieldText.modifier): counted half."""
    found = hit.describing
    if not found:
        return ""
    if found == hit.count:
        return " (describing the next word: counted half)"
    return f" ({found} of {hit.count} describing the next word: counted half)"


def _is_synonym(ts: TermScore, surface: str) -> bool:
    """Did the paper say it with one of the profile's synonyms rather than the term itself?
    (Plural, case or hyphen differences are obvious to a reader and go unmentioned.)"""
    return term_stems(surface) in ts.term.variants[1:]


def _negative_reasons(b: Breakdown, m: Matcher, p: Parts) -> list[Reason]:
    out: list[Reason] = []
    base = scoring.combine((p.lexical, p.example))
    for ts in b.excludes:
        if m.interests.exclude_mode == "demote":  # the factor applies once, said once
            factor = 1.0 - scoring.DEMOTE_STRENGTH * ts.evidence
            found = _term_reasons(ts, "mentions excluded", "", -1.0)
            out += [replace(r, text=r.text + f" (score ×{factor:.2f})") if i == 0 else r
                    for i, r in enumerate(found)]
        else:
            out += [Reason("exclude", r.text, r.field, r.terms, 0.0)
                    for r in _term_reasons(ts, "mentions excluded")]
    if p.unlike > 0:
        index = (b.semantic_unliked if p.unlike_by_meaning else b.unliked)[0]
        title = _QUOTE.format(m.example_title(index, unlike=True))
        loss = base * p.demote * scoring.UNLIKE_STRENGTH * p.unlike
        than = (f"; counts as {p.unlike:.2f}: more than it resembles any paper you liked"
                if p.unlike < p.unliked else "")
        said = (f"{_by_meaning(p.unliked)} {title}, which you marked unlike (meaning "
                if p.unlike_by_meaning else
                f"{'is a little like' if p.unliked < LITTLE else 'resembles'} {title}, which "
                "you marked unlike (")
        out.append(Reason("unlike", f"{said}similarity {p.unliked:.2f}{than})", None, (),
                          round(-loss, 6)))
    return out


def _shared_words(b: Breakdown) -> list[str]:
    """The words the paper shares most with its nearest example, as the paper writes them;
    two that it writes as one word (`few-shot`, `vision-language`) as that word, once.
    (Worked out for each item: a paper and an example meet in one digest, rarely in two.)"""
    if b.vectors is None:
        return []
    paper, example = b.vectors
    stems = ex.shared_terms(paper, example)
    words: list[str] = []
    said: set[str] = set()
    for stem in stems:
        if stem not in said:
            found = _surface(b.doc, stem, stems)
            if found is not None:
                words.append(found[0])
                said.update(found[1])
    return words


def _surface(doc: Doc, stem: str, shared: Collection[str]) -> tuple[str, tuple[str, ...]] | None:
    """The first word of the paper (title, then abstract) with this stem, as written, and the
    stems it says: with the word it is joined to (by a hyphen or slash), when that is `shared`
    too."""
    for name in ("title", "abstract"):
        ftext = doc.fields[name]
        stems, joins = ftext.stems, ftext.joins
        for i in ftext.positions.get(stem, ()):  # words in order, then joined pairs
            if stems[i] != stem:
                continue
            if i in joins and stems[i + 1] in shared:
                return ftext.surface(i, i + 2), (stem, stems[i + 1])
            if i - 1 in joins and stems[i - 1] in shared:
                return ftext.surface(i - 1, i + 1), (stems[i - 1], stem)
            return ftext.surface(i, i + 1), (stem,)
    return None


def build_explanation(b: Breakdown, m: Matcher) -> Explanation:
    p = parts(b, m)
    match = build_match(b, m)
    comps = [Component(ts.term.kind, _term_detail(ts), round(ts.strength, 4))
             for ts in sorted(b.terms, key=lambda t: -t.strength)]
    if b.liked[0] >= 0:
        sim = scoring.similarity_score(b.liked[1])
        comps.append(Component("example", f"nearest liked example "
                               f"{_QUOTE.format(m.example_title(b.liked[0]))}: cosine "
                               f"{b.liked[1]:.3f} -> similarity {sim:.2f}"
                               f"{' (counts half: the profile has terms)' if m.terms else ''}",
                               p.example))
    if b.semantic[0] >= 0:
        comps.append(Component("semantic", f"nearest liked example by meaning "
                               f"{_QUOTE.format(m.example_title(b.semantic[0]))}: closer to it "
                               f"than {_standing(b.semantic[1])} of this batch's papers (embedding "
                               f"cosine {b.semantic[1]:.1f} spreads above the typical paper's) "
                               f"-> similarity {semantic_score(b.semantic[1]):.2f}"
                               f"{' (counts half: the profile has terms)' if m.terms else ''}"
                               f"{BY_MEANING_NOTE if b.liked[0] >= 0 else ''}",
                               semantic_score(b.semantic[1])))
    # An exclude term takes away (drops the paper, or demotes it by its evidence): shown so.
    comps += [Component("exclude", _term_detail(ts), -round(ts.strength, 4))
              for ts in b.excludes]
    if b.unliked[0] >= 0:
        lexical_unlike = scoring.similarity_score(b.unliked[1] - _value(b.liked))
        comps.append(Component("unlike", f"nearest unliked example "
                               f"{_QUOTE.format(m.example_title(b.unliked[0], unlike=True))}: "
                               f"cosine {b.unliked[1]:.3f} -> similarity "
                               f"{scoring.similarity_score(b.unliked[1]):.2f}"
                               f"{UNLIKED_NOTE if b.liked[0] >= 0 else ''}", -lexical_unlike))
    if b.semantic_unliked[0] >= 0:
        title = _QUOTE.format(m.example_title(b.semantic_unliked[0], unlike=True))
        comps.append(Component("unlike", f"nearest unliked example by meaning {title}: "
                               f"closer to it than {_standing(b.semantic_unliked[1])} of this "
                               f"batch's papers (embedding cosine {b.semantic_unliked[1]:.1f} "
                               f"spreads above the typical paper's) -> similarity "
                               f"{semantic_score(b.semantic_unliked[1]):.2f}"
                               f"{UNLIKED_NOTE if b.semantic[0] >= 0 else ''}",
                               -semantic_score(_value(b.semantic_unliked) - _value(b.semantic))))
    notes = _notes(b, m, p)
    return Explanation(match, round(p.lexical, 4), round(p.example, 4), tuple(comps), notes,
                       b.gate_missing)


def _term_detail(ts: TermScore) -> str:
    where = ", ".join(f"{f} {h.count}×{'' if h.exact else ' (near)'}{_describing(h)}"
                      for f, h in ts.hits.items())
    spec = ", ".join(f"{f} {v:.2f}" for f, v in ts.specificity.items() if f in ts.hits)
    return (f"{_QUOTE.format(ts.term.text)}: {where}; specificity {spec}; evidence "
            f"{ts.evidence:.2f} × {scoring.TERM_STRENGTH}")


def _notes(b: Breakdown, m: Matcher, p: Parts) -> tuple[str, ...]:
    notes = _clue_notes(b, p.clues)
    if m.query is not None:
        notes.append(f"query gate {'passed' if b.gate else 'FAILED'}: {m.query_text}"
                     + ("" if b.gate else f" ({'; '.join(b.gate_missing)})"))
    if b.excludes and m.interests.exclude_mode != "demote":
        notes.append("an exclude term hit: the paper is dropped (exclude_mode = \"drop\")")
    if p.demote < 1.0:
        notes.append(f"exclude terms demote the score ×{p.demote:.2f}")
    if m.terms or m.examples:
        notes.append("score = 1 - (1 - terms) × (1 - examples), then demotions multiply")
    return tuple(notes)


def _clue_notes(b: Breakdown, found: Clues) -> list[str]:
    """What explain says about the concepts that did not count in full (worker.matching.clues)."""
    def named(groups: Collection[int]) -> str:
        return ", ".join(dict.fromkeys(_QUOTE.format(ts.term.text) for ts in b.terms
                                       if ts.term.group in groups))

    notes = []
    if found.apart:
        notes.append(f"your query's {named(found.apart)} never stands with the rest of the "
                     "query in the title or in one sentence: counts half, as a passing mention")
    capped = [g for g in found.counted if found.capped(g)]
    if capped:
        notes.append(f"{named(capped)} only mentioned in passing: counts at most {PASSING_MAX}, "
                     "however often")
    if found.outweighed:
        passing = [g for g, c in found.concepts.items() if not c.topical and g in found.counted]
        notes.append(f"{named(found.outweighed)} only mentioned in passing, like "
                     f"{named(passing)}: passing mentions count once, the strongest")
    return notes
