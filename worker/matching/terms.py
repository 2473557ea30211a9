"""A profile's terms compiled once: stems, synonym variants, and how they may match."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from worker.matching.query import And, Node, Not, Or, Query, Term, walk
from worker.matching.text import term_stems

Stems = tuple[str, ...]


@dataclass(frozen=True)
class ProfileTerm:
    text: str  # as the user wrote it
    kind: str  # "keyword" | "phrase" | "query" | "exclude"
    variants: tuple[Stems, ...]  # the term's own stems first, then synonym forms
    near: bool  # may its words match close together rather than only as the exact phrase?
    synonyms: tuple[str, ...] = ()  # the user's words for the other variants, for reasons
    group: int = 0  # terms of one group are alternatives for one concept: the best one counts

    @property
    def stems(self) -> Stems:
        return self.variants[0]


class Synonyms:
    """Groups of terms that count as one (`VLM` = `vision-language model`), both ways."""

    def __init__(self, table: Mapping[str, Sequence[str]]):
        self.groups: list[dict[Stems, str]] = []
        for key, values in table.items():
            group = {s: text for text in (key, *values) if (s := term_stems(text))}
            for existing in self.groups:
                if existing.keys() & group.keys():
                    existing.update(group)
                    break
            else:
                self.groups.append(group)

    def variants(self, stems: Stems) -> tuple[tuple[Stems, ...], tuple[str, ...]]:
        """The term's stems plus every synonym substitution (one group member replaced by each
        other member wherever it occurs in the term), and the synonyms' texts."""
        out: dict[Stems, str] = {stems: ""}
        for group in self.groups:
            for member in group:
                for at in _occurrences(stems, member):
                    for other, text in group.items():
                        if other != member:
                            out.setdefault((*stems[:at], *other, *stems[at + len(member):]),
                                           text)
        return tuple(out), tuple(t for t in out.values() if t)


def _occurrences(seq: Stems, part: Stems) -> list[int]:
    n = len(part)
    return [i for i in range(len(seq) - n + 1) if seq[i:i + n] == part]


def compile_terms(items: Iterable[tuple[str, str, bool, int]], synonyms: Synonyms,
                  ) -> tuple[ProfileTerm, ...]:
    """(text, kind, near, group) -> terms, deduplicated by stems: the first one given wins, so
    a keyword repeated in the query counts once, as the keyword."""
    seen: dict[Stems, ProfileTerm] = {}
    for text, kind, near, group in items:
        stems = term_stems(text)
        if not stems or stems in seen:
            continue
        variants, names = synonyms.variants(stems)
        seen[stems] = ProfileTerm(text.strip(), kind, variants, near and len(stems) > 1, names,
                                  group)
    return tuple(seen.values())


def query_groups(query: Query) -> list[tuple[Term, ...]]:
    """The query's positive terms grouped into concepts: the terms of an OR that is part of
    an AND are alternatives for that part (`hallucination AND (LVLM OR VLM OR
    "vision-language")`: any of the three fills it), every other positive term stands alone.

    An OR at the top asks for any of its parts, as a list of keywords does: each part is an
    interest of its own (`grounding OR referring OR segmentation`: three concepts, each
    counting as a clue by itself and telling as much as its own share of the batch says, not
    the share of papers with any of the three). A part written in parentheses is one
    (`(LVLM OR VLM) OR (OCR OR "text recognition")`: two concepts, of two alternatives each)."""
    out: list[tuple[Term, ...]] = []
    root = query.root
    for part in root.children if isinstance(root, Or) else (root,):
        _groups(part, True, out)
    return out


def conjuncts(query: Query) -> list[tuple[Term, ...]]:
    """The concepts an AND at the top of the query asks for together (`(benchmark OR
    evaluation) AND (VLM OR multimodal)`: two), each as its alternatives, as query_groups
    gives them; [] when the query is not such an AND. A part with a NOT inside is no concept:
    a paper may satisfy it without any of its words."""
    out: list[tuple[Term, ...]] = []
    _conjuncts(query.root, out)
    return out if len(out) > 1 else []


def _conjuncts(node: Node, out: list[tuple[Term, ...]]) -> None:
    if isinstance(node, Term):
        out.append((node,))
    elif isinstance(node, Or):
        members = list(walk(node, True))
        if all(positive for _, positive in members):
            out.append(tuple(t for t, _ in members))
    elif isinstance(node, And):
        for child in node.children:
            _conjuncts(child, out)


def _groups(node: Node, positive: bool, out: list[tuple[Term, ...]]) -> None:
    if isinstance(node, Term):
        if positive:
            out.append((node,))
    elif isinstance(node, Not):
        _groups(node.child, not positive, out)
    elif isinstance(node, Or):
        members = tuple(t for t, pos in walk(node, positive) if pos)
        if members:
            out.append(members)
    else:
        for child in node.children:
            _groups(child, positive, out)
