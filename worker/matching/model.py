"""The plain data the matcher takes and gives back."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _string  # json's own, as with ensure_ascii=False


@dataclass(frozen=True)
class PaperText:
    """What the matcher sees of a paper."""

    key: str  # stable identity, e.g. "arxiv:2403.12345" or a normalized title
    title: str
    abstract: str
    authors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)  # ~40 for each digest
class Reason:
    """One piece of evidence, in words a reader understands."""

    kind: str  # "keyword" | "phrase" | "query" | "example" | "unlike" | "exclude" | "semantic"
    text: str  # e.g. 'title mentions “hallucination”'
    field: str | None  # "title" | "abstract" | None
    terms: tuple[str, ...] = ()  # surface forms exactly as in the paper text, for highlighting
    weight: float = 0.0  # contribution to the score (negative when it pushed the paper down)
    interest: str | None = None  # the keyword, phrase or query term of the profile it is for

    def to_json(self) -> str:
        """The reason as a JSON object of its fields (terms a list), as digests store it: what
        json.dumps(..., ensure_ascii=False) gives for the dict of its fields, written out
        directly (a digest pass encodes ~40 reasons per subscriber; json.dumps' dict and
        encoder set-up were ~8 % of matching time)."""
        terms = ", ".join(map(_string, self.terms))
        return (f'{{"kind": {_string(self.kind)}, "text": {_string(self.text)}, '
                f'"field": {_optional(self.field)}, "terms": [{terms}], '
                f'"weight": {_number(self.weight)}, "interest": {_optional(self.interest)}}}')


def score_text(score: float, min_score: float = 0.0) -> str:
    """A score as a reader sees it: two places, but one under min_score that they would round
    up to it (0.6996 under 0.7) is cut, with as many places as tell the two apart (0.699), so
    that no paper left out "under min_score 0.7" shows a score of 0.70."""
    text = f"{score:.2f}"
    places = 2
    while score < min_score <= float(text) and places < 9:
        places += 1
        text = f"{math.floor(score * 10**places) / 10**places:.{places}f}"
    return text


def _optional(value: str | None) -> str:
    return "null" if value is None else _string(value)


def _number(value: float) -> str:
    # json writes a finite float as its repr; anything else (an int, NaN) as json.dumps does
    if type(value) is float and math.isfinite(value):
        return float.__repr__(value)
    return json.dumps(value)


@dataclass(frozen=True)
class Match:
    paper: PaperText
    score: float  # calibrated 0..1; see worker.matching.scoring for what 0.3 and 0.7 mean
    reasons: tuple[Reason, ...]
    excluded: bool = False  # ruled out by an exclude term or a failed query gate

    @property
    def highlights(self) -> tuple[str, ...]:
        """The terms a digest highlights in this paper (highlight.highlight_terms)."""
        from worker.matching.highlight import highlight_terms

        return highlight_terms((r.kind, r.terms) for r in self.reasons)


@dataclass(frozen=True)
class Ranking:
    """The top of one profile's ranking of a batch, and how many papers it ranked at all."""

    matches: tuple[Match, ...]  # best first
    ranked: int  # papers with a score above 0 that are not excluded, `matches` included


@dataclass(frozen=True)
class Component:
    """One line of a score breakdown."""

    name: str  # "keyword", "example", "query gate", ...
    detail: str
    value: float  # evidence before combination (0..1), or the factor applied


@dataclass(frozen=True)
class Explanation:
    """Everything that went into one paper's score, for `paper-digest explain`."""

    match: Match
    lexical: float  # calibrated keyword/phrase/query evidence, 0..1
    example: float  # calibrated similarity to liked examples, 0..1
    components: tuple[Component, ...] = ()
    notes: tuple[str, ...] = field(default=())
    query_lacks: tuple[str, ...] = ()  # what it lacks to pass the query (Matcher.gate_missing)

    def lines(self, min_score: float = 0.0, title: str | None = None) -> list[str]:
        """The breakdown, one line each; `title`: the paper's as shown (its own, else)."""
        m = self.match
        status = (f"score {score_text(m.score, min_score)}" if not m.excluded else
                  "EXCLUDED (an exclude term)" if any(r.kind == "exclude" for r in m.reasons)
                  else "LEFT OUT (the query)")
        out = [title or m.paper.title, f"  {status}  (terms {self.lexical:.2f}, "
               f"examples {self.example:.2f})"]
        for comp in self.components:
            out.append(f"  {comp.name:<10} {comp.value:+.3f}  {comp.detail}")
        if not self.components:
            out.append("  nothing in your profile matched this paper")
        out += [f"  note: {note}" for note in self.notes]
        # Every reason, as a digest words it (a digest shows the first few, "and N more").
        if m.reasons:
            out.append("  why, as the digest says it:")
            out += [f"    {reason.text}" for reason in m.reasons]
        return out
