"""`paper-digest preview`: the next digest of one subscriber, computed without writing."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from worker.render import profile_context, render
from worker.selection import example_papers, match_papers
from worker.semantic import embedder_for
from worker.settings import Config, Profile, Settings
from worker.store import outbox, papers
from worker.store.db import reading
from worker.store.marks import marks_for
from worker.store.models import Digest, DigestItem
from worker.store.schema import subscribers


def preview_digest(config: Config, engine: Engine, profile: Profile, now: datetime, *,
                   fmt: str = "md", since: timedelta | None = None) -> tuple[str, str]:
    """(rendered digest, a note on what it covers). Reads the database, writes nothing."""
    cursor, delivered = _cursor(engine, profile, now)
    if since is not None:
        cursor, delivered = papers.seq_before(engine, now - since), set()
    with reading(engine) as conn:
        upto = papers.current_seq(conn)
        found = papers.papers_in_range(conn, cursor, upto)
    candidates = [p for p in found if p.id not in delivered]
    examples = papers.find_papers(engine, [*profile.interests.like, *profile.interests.unlike])
    items, below = match_papers(profile, candidates, examples,
                                marks=marks_for(engine, [profile.id])[profile.id],
                                embedder=embedder_for(config.settings, engine, None))
    by_id = {p.id: p for p in candidates}
    digest = Digest(0, profile.id, now, "<preview>", len(items), below, cursor, upto,
                    tuple(DigestItem(rank, i.score, i.reasons, by_id[i.paper_id])
                          for rank, i in enumerate(items, start=1)))
    ctx = profile_context(digest, profile, config.settings)
    scope = f"papers first seen in the last {_human(since)}" if since else \
        "papers not yet delivered"
    pending = len({s.digest_id for s in outbox.delivery_states(engine, profile.id, ("pending",))})
    note = (f"preview of {profile.id}: {len(items)} of {len(candidates)} {scope} "
            f"({below} more scored lower); nothing was sent or recorded"
            + (f"; {pending} earlier digest(s) still pending" if pending else ""))
    return render(ctx, fmt, config.settings.templates_dir), note


def _cursor(engine: Engine, profile: Profile, now: datetime) -> tuple[int, set[int]]:
    from sqlalchemy import select

    with reading(engine) as conn:
        row = conn.execute(select(subscribers.c.cursor_seq)
                           .where(subscribers.c.id == profile.id)).first()
        if row is None:  # not yet known: what its first digest would hold
            return papers.seq_before(engine, now - profile.backfill), set()
        upto = papers.current_seq(conn)
        done = outbox.delivered_paper_ids(conn, [profile.id], row.cursor_seq, upto)
    return row.cursor_seq, done[profile.id]


def _human(span: timedelta) -> str:
    if span.days and not span.seconds:
        return f"{span.days} day{'s' if span.days != 1 else ''}"
    hours = span.total_seconds() / 3600
    return f"{hours:g} hour{'s' if hours != 1 else ''}"


def explain_paper(engine: Engine, profile: Profile, ref: str, *,
                  settings: Settings | None = None) -> list[str]:
    """The full score breakdown of one stored paper for one profile (`paper-digest explain`).

    The paper is scored among the papers it arrived with (its ingest batch), as a digest
    would have scored it, with the papers the subscriber marked as examples and, when
    `settings` turn it on, semantic similarity. Raises LookupError when no stored paper
    matches `ref`.
    """
    from worker.matching import Matcher
    from worker.selection import paper_text

    paper = papers.find_paper(engine, ref)
    if paper is None:
        raise LookupError(ref)
    with reading(engine) as conn:
        batch = papers.papers_in_range(conn, paper.first_seen_seq - 1, paper.first_seen_seq)
    refs = [*profile.interests.like, *profile.interests.unlike]
    examples = papers.find_papers(engine, refs)
    liked, unliked = example_papers(profile, examples, marks_for(engine, [profile.id])[profile.id])
    embedder = embedder_for(settings, engine, None) if settings is not None else None
    if embedder is not None:
        embedder.know([paper_text(p) for p in (paper, *batch, *liked)])
    matcher = Matcher(profile.interests, examples=[paper_text(p) for p in liked],
                      unlike=[paper_text(p) for p in unliked], embedder=embedder)
    explanation = matcher.explain(paper_text(paper), [paper_text(p) for p in batch])
    missing = [r for r in refs if r not in examples]
    lines = [f"{profile.id} × {paper.key}" + (f" (arXiv {paper.arxiv_id})"
                                                if paper.arxiv_id else ""),
             *explanation.lines()]
    threshold = "would be in the digest" if explanation.match.score >= profile.min_score \
        and not explanation.match.excluded else "would be left out"
    lines.append(f"  min_score {profile.min_score:.2f}: {threshold}")
    lines += [f"  note: example {r!r} is not among the stored papers, so it was not used"
              for r in missing]
    return lines
