"""`paper-digest preview` (the next digest of one subscriber, computed without writing) and
`paper-digest explain` (one paper's score for one subscriber, term by term)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, select

from worker.config_types import command_line
from worker.examples import ArxivLookup, resolve, unused_lines
from worker.matching.model import score_text
from worker.profiles import Profile
from worker.render import interest_label, profile_context, render, shown_order, shown_title
from worker.selection import candidates, example_papers, match_papers
from worker.semantic import embedder_for
from worker.settings import Config, Settings
from worker.store import cursors, identity, outbox, papers
from worker.store.db import reading
from worker.store.marks import marks_for
from worker.store.models import Digest, DigestItem, ItemSpec, StoredPaper
from worker.store.readers import generation_of
from worker.store.schema import digests, subscribers

if TYPE_CHECKING:
    from worker.matching import Explanation


def preview_digest(config: Config, engine: Engine, profile: Profile, now: datetime, *,
                   fmt: str = "md", since: timedelta | None = None,
                   lookup: ArxivLookup | None = None, below: int = 0) -> tuple[str, str]:
    """(rendered digest, a note on what it covers). Writes no digest; with `lookup`, example
    arXiv ids no source has listed are looked up (and kept) as a pass looks them up. With
    `below`, the note also lists that many of the best papers the digest left out (under
    min_score, or past max_items), with their keys for `explain`.

    Without `since`: the next digest, from the papers not yet delivered. With it, a replay of
    the papers first seen in that window, delivered or not, each ranked among the papers it
    was ranked with (_batches), so that with the profile unchanged the replay shows what the
    subscriber's digests held, at their scores; best first."""
    if since is not None:
        start = papers.seq_before(engine, now - since)
    else:
        with reading(engine) as conn:
            known = _cursor(conn, profile.id)
        # not yet known: what its first digest would hold
        start = papers.seq_before(engine, now - profile.backfill) if known is None else known
    with reading(engine) as conn:
        upto = papers.current_seq(conn)
        ranges = _batches(conn, profile.id, start, upto) if since is not None else None
    resolved = resolve(engine, [*profile.interests.like, *profile.interests.unlike], now, lookup)
    examples = resolved.papers
    marked = marks_for(engine, [profile.id])[profile.id]
    embedder = embedder_for(config.settings, engine, None)
    by_id: dict[int, StoredPaper] = {}  # the papers shown, or listed as left out
    found: list[ItemSpec] = []
    lower: list[ItemSpec] = []  # the best `below` of the `left_out` papers left out
    more_count = count = left_out = 0
    everyone = replace(profile, min_score=0.0, max_items=10**9)
    for batch in _each_batch(engine, profile.id, start, upto, ranges):
        # a digest begun before the window ranks papers from before it too: not shown (its
        # count of papers that scored lower is the whole digest's)
        window = {p.id: p for p in batch if p.first_seen_seq > start}
        count += len(window)
        pool = candidates(engine, batch)
        items, more = match_papers(profile, pool, examples, marks=marked, embedder=embedder)
        shown = [i for i in items if i.paper_id in window]
        found += shown
        more_count += more
        rest: list[ItemSpec] = []
        if below and more:  # the rest of the same ranking: scores do not depend on the cut
            taken = {i.paper_id for i in items}
            rest = [i for i in match_papers(everyone, pool, examples, marks=marked,
                                            embedder=embedder)[0]
                    if i.paper_id not in taken and i.paper_id in window]
            left_out += len(rest)
            lower = sorted([*lower, *rest], key=lambda item: -item.score)[:below]
        by_id.update((i.paper_id, window[i.paper_id]) for i in (*shown, *rest))
    found.sort(key=lambda item: -item.score)  # stable: batch by batch where scores tie
    digest = Digest(0, profile.id, now, "<preview>", len(found), more_count, start, upto,
                    tuple(DigestItem(rank, i.score, i.reasons, by_id[i.paper_id])
                          for rank, i in enumerate(found, start=1)),
                    generation_of(engine, profile.id))  # its links as a digest's would be
    ctx = profile_context(digest, profile, config.settings)
    scope = (f"papers first seen in the last {_human(since)}, each ranked with the papers "
             f"its digest ranked it with" if since else "papers not yet delivered")
    pending = len({s.digest_id for s in outbox.delivery_states(engine, profile.id, ("pending",))})
    note = (f"preview of {profile.id}: {len(found)} of {count} {scope} "
            f"({more_count} more ranked lower), from the papers already stored (sources are "
            "not read: `fetch` reads them); no digest was sent or recorded"
            + (f"; {pending} earlier digest(s) still pending" if pending else "")
            + "".join(f"; {line}" for line in unused_lines(resolved.unused.items()))
            + (f"; {unstored(embedder.embedded)}" if embedder is not None and embedder.embedded
               else "")
            + "".join(f"\n{line}" for line in _lower_lines(
                profile, lower, left_out, below, by_id, config.settings.config_dir, count,
                since)))
    return render(ctx, fmt, config.settings.templates_dir), note


def _lower_lines(profile: Profile, lower: list[ItemSpec], left_out: int, count: int,
                 by_id: dict[int, StoredPaper], config_dir: Path, ranked: int,
                 since: timedelta | None) -> list[str]:
    """The best `count` papers the digests left out (`lower`, best first, of `left_out` in
    all), one a line: score, key, why, title. With no
    paper ranked at all (`--below` right after a run has delivered everything), that says so
    and how to replay what was delivered, rather than that every paper made the digest."""
    if not count:
        return []
    if not ranked:
        if since:
            return ["left out: none (no paper was first seen in that window)"]
        replay = command_line(config_dir, f"preview {profile.id} --since 7d --below {count}")
        return [f"left out: none (no paper waits for {profile.id}'s next digest: "
                f"`{replay}` replays the last week's)"]
    if not lower:
        return ["left out: none (every paper that scored is in the digest)"]
    explain = command_line(config_dir, f"explain {profile.id} KEY")
    lines = [f"left out, best first ({len(lower)} of {left_out}; "
             f"`{explain}` says why):"]
    width = max(len(by_id[item.paper_id].key) for item in lower)  # keys in one column
    scores = [score_text(item.score, profile.min_score) for item in lower]
    places = max(len(score) for score in scores)
    for item, score in zip(lower, scores, strict=True):
        paper = by_id[item.paper_id]
        why = (f"under min_score {profile.min_score:g}" if item.score < profile.min_score
               else f"past max_items {profile.max_items}")
        lines.append(f"  {score:<{places}}  {paper.key:<{width}}  {why:<20} "
                     f"{shown_title(paper.title)}")
    return lines


@dataclass(frozen=True)
class Ranked:
    """Ingests (after, upto] whose papers were, or will be, ranked together for a subscriber."""

    after: int
    upto: int
    digest: Any = None  # the digests row of the digest that ranked them
    next: bool = False  # the subscriber's next digest will rank them


def _each_batch(engine: Engine, sub_id: str, start: int, upto: int,
                ranges: list[Ranked] | None) -> Iterator[list[StoredPaper]]:
    """The papers of each range (_batches) in turn, read as they are ranked: a month's replay
    held every paper of the month at once (~230 MiB for 44,000 papers). Without `ranges`,
    the subscriber's next digest's papers."""
    if ranges is None:
        with reading(engine) as conn:
            batch = cursors.digest_candidates(conn, sub_id, start, upto)
        yield batch
        return
    for ranked in ranges:
        with reading(engine) as conn:
            batch = _papers(conn, sub_id, ranked)
        yield batch


def _batches(conn: Connection, sub_id: str, start: int, upto: int) -> list[Ranked]:
    """The ranges whose papers were (or will be) ranked together for the subscriber, covering
    (start, upto]: each of its digests' whole range; then the range its next digest will rank;
    between them, where passes sent it nothing (their ranges are not recorded), and for a
    subscriber no pass has seen yet, each dump on its own."""
    rows = conn.execute(select(digests.c.id, digests.c.cursor_from, digests.c.cursor_to,
                               digests.c.created_at).where(
        digests.c.subscriber_id == sub_id, digests.c.cursor_to > start,
        digests.c.cursor_from < upto).order_by(digests.c.cursor_from)).all()
    cursor = _cursor(conn, sub_id)
    found: list[Ranked] = []
    at = start
    for row in rows:
        found += [Ranked(seq, seq + 1) for seq in range(at, row.cursor_from)]
        found.append(Ranked(row.cursor_from, row.cursor_to, row))
        at = max(at, row.cursor_to)
    until = upto if cursor is None else max(at, min(cursor, upto))
    found += [Ranked(seq, seq + 1) for seq in range(at, until)]
    found.append(Ranked(until, upto, next=True))
    return [r for r in found if r.after < r.upto]


def _papers(conn: Connection, sub_id: str, ranked: Ranked) -> list[StoredPaper]:
    """The papers of a range as its digest ranked (or will rank) them: less those an earlier
    digest had given the subscriber (cursors.digest_candidates)."""
    return cursors.digest_candidates(conn, sub_id, ranked.after, ranked.upto,
                                    before=ranked.digest.id if ranked.digest else None)


def _cursor(conn: Connection, sub_id: str) -> int | None:
    """The subscriber's cursor; None while it is not yet known (no pass has seen it)."""
    return conn.execute(select(subscribers.c.cursor_seq)
                        .where(subscribers.c.id == sub_id)).scalar()


def _human(span: timedelta) -> str:
    if span.days and not span.seconds:
        return f"{span.days} day{'s' if span.days != 1 else ''}"
    hours = span.total_seconds() / 3600
    return f"{hours:g} hour{'s' if hours != 1 else ''}"


@dataclass(frozen=True)
class Explained:
    paper: StoredPaper
    explanation: Explanation
    among: str  # the papers it was scored among, in words
    unused: tuple[tuple[str, str], ...] = ()  # the profile's examples not used, and why
    # The digest those papers make with the profile as it is: the paper's place in it (None:
    # left out), the scores of the papers it holds (best first), and whether the paper is
    # one of the profile's examples (which digests never show).
    rank: int | None = None
    shown: tuple[float, ...] = ()
    example: bool = False
    section: str | None = None  # with group_by = "interest": the section it is shown in
    embedded: int = 0  # papers semantic matching embedded for this explain alone (not stored)

    def verdict(self, profile: Profile) -> str:
        """Whether the paper is in the digest these papers make, and if not, what keeps it
        out: min_score, an exclusion, max_items, or being one of the profile's examples."""
        match = self.explanation.match
        if self.rank is not None:
            return (f"in the digest, #{self.rank} of {len(self.shown)}"
                    + (f", under “{self.section}”" if self.section else ""))
        if match.excluded:
            hit = next((r for r in match.reasons if r.kind == "exclude" and r.terms), None)
            if hit is not None:
                return f"left out: it mentions “{hit.terms[0]}”, which your profile excludes"
            lacks = self.explanation.query_lacks
            return "left out: it does not match your query" + (
                f": {'; '.join(lacks)}" if lacks else "")
        if self.example:
            return "left out: it is one of your examples (digests never show them)"
        if match.score <= 0:
            return "left out: nothing in your profile matched it"
        if match.score < profile.min_score:  # as the ranking compares it (Matcher.top)
            return f"left out: under min_score {profile.min_score:.2f}"
        return (f"left out: max_items = {profile.max_items}, and {len(self.shown)} papers "
                f"scored higher (the lowest {self.shown[-1]:.2f})" if self.shown else
                "left out")


def explain(engine: Engine, profile: Profile, ref: str, *,
            settings: Settings | None = None, lookup: ArxivLookup | None = None) -> Explained:
    """The full score breakdown of one stored paper for one profile (`paper-digest explain`).

    The paper is scored among the papers a digest ranked it with (specificity and example
    similarity are relative to them), so the score is the one the digest gave or would have
    given it: those of the subscriber's digest whose range held it; else, while it waits for
    the next digest, the papers that digest will rank; else (the subscriber came later, or
    the pass that went past it sent nothing) the papers listed with it. With the papers the
    subscriber marked as examples and, when `settings` turn it on, semantic similarity;
    example arXiv ids no source has listed are looked up with `lookup`, as a pass does.
    Raises LookupError when no stored paper matches `ref`.
    """
    from worker.matching import Matcher
    from worker.selection import paper_text

    paper = identity.find_paper(engine, ref)
    if paper is None:
        raise LookupError(ref)
    batch, among = _ranked_with(engine, profile.id, paper)
    if all(p.id != paper.id for p in batch):  # its own range holds it; this only guards
        batch.append(paper)
    refs = [*profile.interests.like, *profile.interests.unlike]
    found = resolve(engine, refs, datetime.now(UTC), lookup)
    examples = found.papers
    marked = marks_for(engine, [profile.id])[profile.id]
    liked, unliked = example_papers(profile, examples, marked)
    embedder = embedder_for(settings, engine, None) if settings is not None else None
    if embedder is not None and (liked or unliked):  # else nothing to compare by meaning
        embedder.know([paper_text(p) for p in (*batch, *liked)])
        if not embedder.ready([paper_text(p) for p in (*batch, *liked, *unliked)]):
            embedder = None  # the model cannot run: by words and examples alone (logged)
    matcher = Matcher(profile.interests, examples=[paper_text(p) for p in liked],
                      unlike=[paper_text(p) for p in unliked], embedder=embedder)
    pool = candidates(engine, batch)  # prepared once for the breakdown and the ranking
    explanation = matcher.explain(paper_text(paper), pool.corpus)
    items, _ = match_papers(profile, pool, examples, marks=marked, embedder=embedder)
    index = next((n for n, item in enumerate(items) if item.paper_id == paper.id), None)
    rank, section = (None if index is None else index + 1), None
    if index is not None and profile.group_by == "interest":
        # the number the digest shows: grouped digests number their items section by section
        labels = [interest_label(json.loads(item.reasons)) for item in items]
        rank, section = shown_order(labels).index(index) + 1, labels[index]
    return Explained(paper, explanation, among, tuple((r, found.unused[r]) for r in refs
                                                      if r in found.unused),
                     rank, tuple(item.score for item in items),
                     any(p.id == paper.id for p in (*liked, *unliked)), section,
                     embedder.embedded if embedder is not None else 0)


def _ranked_with(engine: Engine, sub_id: str, paper: StoredPaper) -> tuple[list[StoredPaper], str]:
    """(the papers `paper` is scored among, which they are in words): see explain."""
    seq = paper.first_seen_seq
    with reading(engine) as conn:
        ranked = next(r for r in _batches(conn, sub_id, seq - 1, papers.current_seq(conn))
                      if r.after < seq <= r.upto)
        batch = _papers(conn, sub_id, ranked)
    if ranked.digest is not None:
        return batch, (f"the {len(batch)} papers its digest of "
                       f"{ranked.digest.created_at:%Y-%m-%d %H:%M} UTC ranked")
    if ranked.next:
        return batch, f"the {len(batch)} papers its next digest will rank"
    return batch, f"the {len(batch)} papers listed with it (no digest of {sub_id} ranked it)"


def explain_paper(engine: Engine, profile: Profile, ref: str, *,
                  settings: Settings | None = None, lookup: ArxivLookup | None = None) -> list[str]:
    """explain's breakdown as the lines `paper-digest explain` prints."""
    found = explain(engine, profile, ref, settings=settings, lookup=lookup)
    paper, explanation = found.paper, found.explanation
    lines = [f"{profile.id} × {paper.key}" + (f" (arXiv {paper.arxiv_id})"
                                                if paper.arxiv_id else ""),
             *explanation.lines(profile.min_score, shown_title(paper.title))]
    lines.append(f"  {found.verdict(profile)}")
    lines.append(f"  scored among {found.among}")
    lines += [f"  note: {line}" for line in unused_lines(found.unused)]
    if found.embedded:
        lines.append(f"  note: {unstored(found.embedded)}")
    return lines


def unstored(count: int) -> str:
    """What preview and explain say when semantic matching embedded papers for them alone."""
    return (f"{count} paper(s) had no stored embedding (first seen before semantic matching "
            "was on, or never compared by meaning in a run): embedded for this alone, not "
            "stored, and embedded again next time")
