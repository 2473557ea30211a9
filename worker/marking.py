"""`paper-digest mark`: a subscriber says what it thinks of a paper it has read.

A liked paper becomes another example the subscriber's digests are matched against (as if it
were in `like`), an unliked one another `unlike` example; preview and explain use them too.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from worker.config_types import command_line
from worker.profiles import Profile
from worker.store import identity, marks
from worker.store.models import StoredPaper

_WORD = {"like": "liked", "unlike": "unliked"}


def mark_paper(engine: Engine, subscriber_id: str, ref: str, *, verdict: str, remove: bool,
               now: datetime) -> str:
    """Record (or with `remove`, take off) a mark; returns what happened, in words.
    Raises LookupError when no stored paper matches `ref`."""
    paper = identity.find_paper(engine, ref)
    if paper is None:
        raise LookupError(ref)
    return mark_stored(engine, subscriber_id, paper, verdict=verdict, remove=remove, now=now)


def mark_stored(engine: Engine, subscriber_id: str, paper: StoredPaper, *, verdict: str,
                remove: bool, now: datetime, generation: int | None = None) -> str:
    """mark_paper for a paper already found (the feedback desk has it in hand); with
    `generation`, only for the id's reader of that generation (else store.marks.ReaderChanged,
    nothing marked)."""
    name = _name(paper)
    if remove:
        before = marks.remove_mark(engine, subscriber_id, paper.id, generation=generation)
        if before is None:
            return f"{subscriber_id}: {name} was not marked; nothing changed"
        return f"{subscriber_id}: removed the mark from {name} (it was {_WORD[before]})"
    before = marks.set_mark(engine, subscriber_id, paper.id, verdict, now, generation=generation)
    if before == verdict:
        return f"{subscriber_id}: {name} was already marked {_WORD[verdict]}"
    change = f" (was {_WORD[before]})" if before else ""
    use = "more like it" if verdict == "like" else "fewer like it"
    return (f"{subscriber_id}: marked {name} as {_WORD[verdict]}{change}; later digests, "
            f"preview and explain rank {use}")


def file_note(engine: Engine, profile: Profile, paper: StoredPaper, *, verdict: str,
              remove: bool) -> str | None:
    """What the profile's own file says of `paper`, when the mark just made (or taken off)
    does not say the same: a mark is the later word over `like`/`unlike`, and a reader who
    marks a paper the file likes `--unlike` should know the file still lists it."""
    refs = {key: getattr(profile.interests, key) for key in ("like", "unlike")}
    found = identity.find_papers(engine, [ref for listed in refs.values() for ref in listed])
    listed = [key for key, entries in refs.items()
              if any(ref in found and found[ref].id == paper.id for ref in entries)]
    if not listed:
        return None
    key = listed[0]
    file = profile.file or f"{profile.id}.toml"
    if remove:
        return (f"`{key}` in {file} still lists it: it stays {_WORD[key]}, as the file says")
    if key != verdict:
        return (f"`{key}` in {file} lists it too: a mark is the later word, so it counts as "
                f"{_WORD[verdict]}; take it out of `{key}` to keep the file true")
    return None


def list_marks(engine: Engine, subscriber_id: str, config_dir: Path) -> list[str]:
    """A subscriber's marks, oldest first, one line each, in words; with none, how to make one
    (for the config in `config_dir`)."""
    found = marks.marks_for(engine, [subscriber_id])[subscriber_id]
    if not found:
        mark = command_line(config_dir, f"mark {subscriber_id} PAPER")
        return [f"{subscriber_id} has marked no papers ({mark}, or the feedback links in a "
                "digest)"]
    return [f"{_WORD[m.verdict]:<8} {m.marked_at:%Y-%m-%d %H:%M}  {_name(m.paper)}"
            for m in found]


def _name(paper: StoredPaper) -> str:
    ident = f" (arXiv {paper.arxiv_id})" if paper.arxiv_id else f" ({paper.key})"
    return f"“{paper.title}”{ident}"
