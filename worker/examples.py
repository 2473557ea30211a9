"""A profile's example papers (`like`, `unlike`): the papers sources have listed, else the
paper arXiv's export API gives for an arXiv id, or has with exactly that title, asked once and
kept (worker.store.examples).

    resolve(engine, refs, now, lookup)   -> Examples: ref -> paper, and ref -> why not used
    unused_lines(unused)                 -> what to tell the subscriber about the latter
    lookup_for(settings, make_fetcher)   -> the ArxivLookup of [matching] example_lookup

A paper looked up this way is only an example: it is not recorded as seen, so when a source
lists it later it is new to every subscriber like any other paper (and from then on that
stored paper is the example). A title is searched for as a phrase in arXiv's titles, and only
a paper whose whole title is the same (worker.records.normalize_title: case, punctuation and
LaTeX aside) is taken: arXiv's search matches words, and a wrong example is worse than none.
The id found for a title is kept, and its paper is refreshed as an id's is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from worker.errors import PaperDigestError, SourceError
from worker.plaintext import clean_line
from worker.records import PaperRecord, normalize_title
from worker.store import examples as store
from worker.store import identity
from worker.store.models import StoredPaper

log = logging.getLogger("paper_digest")
ASK_AGAIN = timedelta(days=1)  # an id arXiv had no paper for (not announced yet?) is asked again
# A title arXiv had no paper for is more often not on arXiv (a journal paper) or misspelt than
# not announced yet; a corrected title is a new one, asked at once.
ASK_TITLE_AGAIN = timedelta(days=7)
REFRESH = timedelta(days=30)  # a paper arXiv gave is asked again: a new version, a new abstract
ID_LIST = 100  # ids a request asks for
TITLE_LIST = 20  # titles a search asks for (an OR of title phrases)
TITLE_HITS = 5  # results a search may give for each title (phrases match longer titles too)
# Tries a request gets (the sources' 4 would keep a pass waiting ~7 s offline): what fails is
# asked again by the next run, which meanwhile goes on without the example.
ATTEMPTS = 2
NOT_LISTED = "not listed by any source"
NOT_ON_ARXIV = "not on arXiv"
NO_SUCH_TITLE = "no arXiv paper has this exact title"
NOT_ASKED = "not listed by any source; the next run looks it up on arXiv"
# What a pass asks arXiv about at most (one request per TITLE_LIST titles or ID_LIST ids, 3 s
# apart): ~30 s for each. A profile listing thousands of titles (or new ones every day) held
# every subscriber's pass for minutes; the rest is asked by the next passes.
TITLE_BUDGET = 200
ID_BUDGET = 1000
DEFERRED = ("not listed by any source; not looked up yet (a run asks arXiv about at most "
            f"{TITLE_BUDGET} titles and {ID_BUDGET:,} ids): a later run does")
OTHER_DOI = "a DOI that is not arXiv's: give the paper's arXiv id or its title"
SOURCE = "arXiv lookup"  # how errors name the lookup


@dataclass
class Examples:
    papers: dict[str, StoredPaper] = field(default_factory=dict)  # ref -> its paper
    unused: dict[str, str] = field(default_factory=dict)  # ref -> why it is not used


@dataclass(frozen=True)
class Answer:
    """What arXiv said about some ids: their papers, the ids it has no paper for, and the
    ids it could not be asked about (-> the error)."""

    found: tuple[PaperRecord, ...] = ()
    missing: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TitleAnswer:
    """What a title search said: title key -> the paper with that title; the titles arXiv has
    no such paper for (-> the first paper it gave whose title holds the one asked for, if
    any: what the subscriber may have meant); and the titles it could not be asked about (->
    the error)."""

    found: dict[str, PaperRecord] = field(default_factory=dict)
    missing: dict[str, PaperRecord | None] = field(default_factory=dict)  # -> a near paper
    failed: dict[str, str] = field(default_factory=dict)


class ArxivLookup:
    """Papers by arXiv id from the export API (`/api/query?id_list=...`), ID_LIST at a time,
    and by title (`search_query=ti:"..." OR ...`), TITLE_LIST at a time, through the pass's
    Fetcher (its retries, and its pace of one request per 3 s to arXiv)."""

    def __init__(self, fetcher: Callable[[], Any], base_url: str, attempts: int = ATTEMPTS):
        self.fetcher = fetcher  # made only when something is to be asked
        self.url = base_url.rstrip("/") + "/api/query"
        self.attempts = attempts

    def __call__(self, ids: Sequence[str]) -> Answer:
        found: list[PaperRecord] = []
        missing: list[str] = []
        failed: dict[str, str] = {}
        for start in range(0, len(ids), ID_LIST):
            asked = ids[start:start + ID_LIST]
            try:
                records = self._ask({"id_list": ",".join(asked), "max_results": len(asked)})
            except PaperDigestError as exc:
                failed.update(dict.fromkeys(asked, str(exc)))
                continue
            given = {p.arxiv_id: p for p in records if p.arxiv_id in asked}
            found += given.values()
            missing += [i for i in asked if i not in given]
        return Answer(tuple(found), tuple(missing), failed)

    def titles(self, keys: Sequence[str]) -> TitleAnswer:
        """The paper whose title is each of `keys` (normalize_title forms), by a phrase
        search of arXiv's titles; the first of several with the same title (arXiv's order)."""
        found: dict[str, PaperRecord] = {}
        missing: dict[str, PaperRecord | None] = {}
        failed: dict[str, str] = {}
        for start in range(0, len(keys), TITLE_LIST):
            asked = keys[start:start + TITLE_LIST]
            query = " OR ".join(f'ti:"{key}"' for key in asked)
            try:
                records = self._ask({"search_query": query,
                                     "max_results": TITLE_HITS * len(asked)})
            except PaperDigestError as exc:
                if not _refused(exc):
                    failed.update(dict.fromkeys(asked, str(exc)))
                elif len(asked) > 1:  # one title arXiv cannot search for: not the others
                    alone = [self.titles([key]) for key in asked]
                    for answer in alone:
                        found.update(answer.found)
                        missing.update(answer.missing)
                        failed.update(answer.failed)
                else:  # kept as a title arXiv has no paper for: asked again in a while
                    log.warning("arXiv cannot search for the title %r: %s", asked[0], exc)
                    missing[asked[0]] = None
                continue
            given = [(f" {normalize_title(r.title)} ", r) for r in records if r.arxiv_id]
            for key in asked:
                exact = [r for title, r in given if title == f" {key} "]
                if exact:
                    found[key] = exact[0]
                else:
                    missing[key] = next((r for title, r in given if f" {key} " in title), None)
        return TitleAnswer(found, missing, failed)

    def _ask(self, params: dict[str, Any]) -> tuple[PaperRecord, ...]:
        from worker.sources.arxiv_api import parse_feed

        # A 400 carries the API's explanation in an Atom error entry: parse_feed says it.
        result = self.fetcher().fetch(
            self.url, source=SOURCE, conditional=False, ok_statuses=(400,),
            accept="application/atom+xml", attempts=self.attempts, params=params)
        return parse_feed(result.body, result.url, source=SOURCE, status=result.status).records


def _refused(error: PaperDigestError) -> bool:
    """Did arXiv's API refuse the query itself (its 400, with an error entry), rather than
    fail to answer? Asking again will not help."""
    return isinstance(error, SourceError) and error.status == 400


def lookup_for(settings: Any, fetcher: Callable[[], Any] | None,
               attempts: int = ATTEMPTS) -> ArxivLookup | None:
    """The lookup [matching] example_lookup asks for, through the Fetcher `fetcher` makes;
    None when lookups are off or there is no way to fetch."""
    url = settings.matching.example_lookup
    return ArxivLookup(fetcher, url, attempts) if url and fetcher is not None else None


def resolve(engine: Engine, refs: Iterable[str], now: datetime,
            lookup: ArxivLookup | None = None, *, later: bool = False) -> Examples:
    """Each reference's paper: a stored one (by arXiv id or title), else one looked up on arXiv
    before (or now, with `lookup`), else the reason it cannot be used. `later`: refs not asked
    about yet will be, by the next run (for `check`, which asks nothing itself)."""
    # Each ref's place in the caller's order: within a run's budget the first are asked first
    # (_budget); everything else goes in sorted order.
    first = {ref: n for n, ref in enumerate(dict.fromkeys(refs))}
    refs = sorted(first)
    result = Examples(identity.find_papers(engine, refs) if refs else {})
    ids = {ref: i for ref in refs
           if ref not in result.papers and (i := identity.ref_arxiv_id(ref))}
    result.unused.update((ref, OTHER_DOI) for ref in refs
                         if ref not in result.papers and identity.other_doi(ref))
    titles = {ref: normalize_title(ref) for ref in refs
              if ref not in result.papers and ref not in ids and ref not in result.unused}
    if titles:
        by_title = _search_titles(engine, titles, now, lookup, later, result, first)
        # A source may have listed the paper since, under another title (a later version's).
        listed = identity.find_papers(engine, sorted(set(by_title.values())))
        for ref, arxiv_id in by_title.items():
            if arxiv_id in listed:
                result.papers[ref] = listed[arxiv_id]
            else:
                ids[ref] = arxiv_id
    if not ids:
        return result
    known = store.looked_up(engine, ids.values())
    stale = {ref: i for ref, i in ids.items() if i not in known or _stale(known[i], now)}
    ask, deferred = _budget(stale, first, ID_BUDGET)
    failed: dict[str, str] = {}
    if ask and lookup is not None:
        answer = lookup(ask)
        store.record_lookup(engine, answer.found, answer.missing, now)
        known.update(store.looked_up(engine, ask))  # what failed stays as it was
        failed = answer.failed
        _warn(failed)
    for ref, arxiv_id in ids.items():
        answer_for = known.get(arxiv_id)
        if isinstance(answer_for, StoredPaper):
            result.papers[ref] = answer_for
        elif arxiv_id in failed:
            result.unused[ref] = _failed(failed[arxiv_id])
        elif answer_for is not None:  # when arXiv last said it had no such paper
            result.unused[ref] = NOT_ON_ARXIV
        else:
            result.unused[ref] = (NOT_ASKED if later else
                                  DEFERRED if lookup is not None and arxiv_id in deferred
                                  else NOT_LISTED)
    return result


def _budget(wanted: dict[str, str], first: dict[str, int], budget: int,
            ) -> tuple[list[str], set[str]]:
    """Of the ids or title keys to ask about (ref -> it), the `budget` whose refs come first
    in the caller's order, sorted; and the rest, which a later run asks about."""
    ranked = list(dict.fromkeys(wanted[ref] for ref in sorted(wanted, key=first.__getitem__)))
    return sorted(ranked[:budget]), set(ranked[budget:])


def _search_titles(engine: Engine, titles: dict[str, str], now: datetime,
                   lookup: ArxivLookup | None, later: bool, result: Examples,
                   first: dict[str, int]) -> dict[str, str]:
    """The arXiv id of the paper with each title (ref -> its title key) that arXiv has one
    for, searching for the titles not asked about yet, or not found for ASK_TITLE_AGAIN; the
    others go into result.unused, with why. A title's paper is kept with the ids' papers
    (resolve reads it back with them)."""
    keys = sorted({k for k in titles.values() if k})
    known = store.titles_looked_up(engine, keys)
    ask, deferred = _budget({ref: k for ref, k in titles.items()
                             if k and _title_stale(known.get(k), now)}, first, TITLE_BUDGET)
    failed: dict[str, str] = {}
    if ask and lookup is not None:
        answer = lookup.titles(ask)
        store.record_lookup(engine, tuple(answer.found.values()), (), now)
        found = {k: p.arxiv_id for k, p in answer.found.items() if p.arxiv_id}
        missing = {k: (p.arxiv_id, p.title) if p and p.arxiv_id else None
                   for k, p in answer.missing.items()}
        store.record_titles(engine, found, missing, now)
        known.update(found)
        known.update({k: store.NoSuchTitle(now, near) for k, near in missing.items()})
        failed = answer.failed
        _warn(failed)
    ids: dict[str, str] = {}
    for ref, key in titles.items():
        answer_for = known.get(key)
        if isinstance(answer_for, str):
            ids[ref] = answer_for
        elif key in failed:
            result.unused[ref] = _failed(failed[key])
        elif answer_for is not None:  # arXiv had no paper with this title
            near = answer_for.near
            result.unused[ref] = NO_SUCH_TITLE + (
                f"; did you mean “{clean_line(near[1])}” (arXiv {near[0]})?" if near else "")
        else:
            result.unused[ref] = (NOT_ASKED if later and key else
                                  DEFERRED if lookup is not None and key in deferred
                                  else NOT_LISTED)
    return ids


def _title_stale(answer: str | store.NoSuchTitle | None, now: datetime) -> bool:
    """Is a title to be searched for: never asked, or arXiv had none ASK_TITLE_AGAIN ago?"""
    return answer is None or (isinstance(answer, store.NoSuchTitle)
                              and answer.asked_at <= now - ASK_TITLE_AGAIN)


def _warn(failed: dict[str, str]) -> None:
    for error in dict.fromkeys(failed.values()):
        log.warning("example papers not looked up (the next run asks again): %s", error)


def _failed(error: str) -> str:
    return f"the lookup failed: {error}; asked again next run"


def _stale(answer: StoredPaper | datetime, now: datetime) -> bool:
    """Is this answer old enough to ask again: "no such paper" after a day (it may be announced
    since), a paper after REFRESH (a new version may say it better)? A paper asked again stays
    the example if the lookup fails."""
    if isinstance(answer, datetime):
        return answer <= now - ASK_AGAIN
    return answer.first_seen_at <= now - REFRESH


def unused_lines(unused: Iterable[tuple[str, str]]) -> list[str]:
    """`examples not used (why): "ref", "ref"`, a line for each reason, in order."""
    by_why: dict[str, list[str]] = {}
    for ref, why in unused:
        by_why.setdefault(why, []).append(f'"{ref}"')
    return [f"examples not used ({why}): {', '.join(refs)}" for why, refs in by_why.items()]


def check_notes(settings: Any, profiles: Iterable[Any], now: datetime) -> list[str]:
    """For `check`: each subscriber's `like`/`unlike` entries that no paper in the database
    matches, as notes (a source may list the paper later). Reads an existing database only:
    nothing is created, migrated or asked of arXiv."""
    from sqlalchemy.exc import SQLAlchemyError

    from worker.store.db import error_line, make_engine, missing_sqlite_file, redact
    from worker.store.opening import HEAD_REVISION, current_revision

    profiles = [p for p in profiles if p.interests.like or p.interests.unlike]
    if not profiles:
        return []
    url = settings.database_url
    missing = missing_sqlite_file(url)
    if missing:
        return [f"examples not checked: no database file {missing} yet (the first run makes it)"]
    engine = None
    try:
        engine = make_engine(url)
        if current_revision(engine) != HEAD_REVISION:  # (unreachable: it raises)
            return [f"examples not checked: {redact(url)} is not set up yet (the next run "
                    "does it)"]
        found = resolve(engine, {r for p in profiles for r in (*p.interests.like,
                                                               *p.interests.unlike)},
                        now, later=bool(settings.matching.example_lookup))
        near = {ref: near[0].title for ref in found.unused if not identity.ref_arxiv_id(ref)
                and (near := identity.near_titles(engine, ref, limit=1))}
    except (SQLAlchemyError, ModuleNotFoundError) as exc:
        return [f"examples not checked: cannot read {redact(url)}: {error_line(exc)}"]
    finally:
        if engine is not None:
            engine.dispose()
    return [f"{p.id}: {line}" for p in profiles for line in unused_lines(
        (r, found.unused[r]) for r in (*p.interests.like, *p.interests.unlike)
        if r in found.unused)] + [
        f"{p.id}: “{ref}” in `{key}` is not the title of a stored paper: did you mean "
        f"“{clean_line(near[ref])}”? (write the whole title, as a digest shows it)"
        for p in profiles for key in ("like", "unlike")
        for ref in getattr(p.interests, key) if ref in near]
