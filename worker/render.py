"""One digest context for every format, rendered by the one Jinja environment
(worker.templating); worker.digest_mail puts the email around the rendered parts.

Templates (digest.md.j2, digest.html.j2, digest.txt.j2) receive a single variable `d`, a
`DigestContext` (fields documented below and in README, "Templates"). A user's templates_dir
is searched first; its templates may `{% extends "default/digest.html.j2" %}`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from worker import __version__, clipping, mdtext, templating
from worker.mathtext import display_text
from worker.plaintext import clean_line, shorten
from worker.records import Links
from worker.store.models import Digest

if TYPE_CHECKING:
    from worker.feedback import Links as FeedbackLinks
    from worker.profiles import Profile
    from worker.settings import EmailSettings, Settings

# What items show of a paper is the same in every digest it is in: kept (_paper_text), as the
# filters' results are (worker.templating).
_PAPERS = 4096  # papers whose shown text is kept: a day's new papers at an institute's scale


@dataclass(frozen=True)
class ItemView:
    """One paper in a digest, as templates see it."""

    rank: int
    title: str
    abstract: str
    abstract_short: str  # cut at a sentence or word boundary near plaintext.SHORT_ABSTRACT_CHARS
    authors: tuple[str, ...]
    links: Links
    arxiv_id: str | None
    listing_date: date | None
    score: float
    why: str  # the reasons in one sentence
    reasons: tuple[dict[str, Any], ...]
    highlights: tuple[str, ...]  # terms to highlight, as they occur in the text
    key: str  # "arxiv:<id>" or "paper:<n>", what `paper-digest explain` takes
    more_url: str | None = None  # feedback links ([feedback] url), None when off
    fewer_url: str | None = None
    # Shown compact: title, why, score, links and feedback links, no abstract or authors. Only
    # the HTML email has compact items, past where its papers in full would make it too big
    # for Gmail (worker.clipping); a template that ignores the flag shows them in full.
    compact: bool = False

    @property
    def url(self) -> str | None:
        return self.links.abstract or self.links.pdf or self.links.project

    @property
    def authors_short(self) -> str:
        if len(self.authors) > 4:
            return ", ".join(self.authors[:3]) + " et al."
        return ", ".join(self.authors)


@dataclass(frozen=True)
class ItemGroup:
    """Papers shown under one heading: the interest they matched (None: no heading)."""

    label: str | None
    items: tuple[ItemView, ...]


# What a paper matched when its strongest reason is not one of the profile's own words.
EXAMPLE_GROUP = "Like the papers you liked"
OTHER_GROUP = "Other"


def interest_label(reasons: Sequence[dict[str, Any]]) -> str:
    """The interest a paper is grouped under: the one its positive reasons weigh most, a
    term's reasons (one per field: title, abstract) summed; the first of equals."""
    totals: dict[str, float] = {}
    for reason in reasons:
        if reason.get("weight", 0) <= 0 or reason.get("kind") in ("exclude", "unlike"):
            continue
        label = (EXAMPLE_GROUP if reason.get("kind") in ("example", "semantic")
                 else reason.get("interest"))
        if label:
            totals[str(label)] = totals.get(str(label), 0.0) + reason["weight"]
    return max(totals, key=lambda label: totals[label]) if totals else OTHER_GROUP


def shown_order(labels: Sequence[str]) -> list[int]:
    """The indexes of a digest's items (best first), each labelled with its section, in the
    order `group_by = "interest"` shows them: sections in the order of their best paper,
    papers best first within each (group_by_interest; explain numbers a paper by it)."""
    sections: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        sections.setdefault(label, []).append(index)
    return [index for members in sections.values() for index in members]


def group_by_interest(items: Sequence[ItemView]) -> tuple[ItemGroup, ...]:
    """Sections in the order of their best paper, papers best first within each, numbered
    again in the order they are shown."""
    labels = [interest_label(item.reasons) for item in items]
    sections: dict[str, list[ItemView]] = {}
    for index in shown_order(labels):
        sections.setdefault(labels[index], []).append(items[index])
    rank = 0
    groups = []
    for label, members in sections.items():
        shown = []
        for item in members:
            rank += 1
            shown.append(replace(item, rank=rank))
        groups.append(ItemGroup(label, tuple(shown)))
    return tuple(groups)


PREHEADER_CHARS = 150  # about what a phone's inbox previews in two lines


@dataclass(frozen=True)
class DigestContext:
    """Everything a digest template may use."""

    subscriber_id: str
    subscriber_name: str
    subscriber_email: str | None
    profile_file: str | None  # the file to edit to change interests
    digest_id: int
    message_id: str
    created_at: datetime
    date: date  # the digest's day in the subscriber's time zone
    items: tuple[ItemView, ...]
    below_threshold: int  # also new and matching, left out: under min_score or past max_items
    list_id: str | None = None  # [email] list_id: the List-Id header
    unsubscribe: tuple[str, ...] = ()  # List-Unsubscribe URIs, {subscriber} filled in
    help: str | None = None  # [email] help: whom to ask, in the footer
    groups: tuple[ItemGroup, ...] = ()  # the items in sections (one unlabelled by default)
    version: str = __version__
    extra: dict[str, Any] = field(default_factory=dict)
    # Papers of the digest after `items`, not shown: only the HTML email leaves any out, and
    # only when even compact they would make it too big for Gmail (worker.clipping).
    left_out: int = 0
    # Where compact_note and left_out_note say the whole digest is when the email cannot show
    # it: the output_dir of a subscriber who also gets Markdown digests (None: not).
    markdown_dir: Path | None = None

    @property
    def count(self) -> int:
        """The papers in the digest: those shown and any left out."""
        return len(self.items) + self.left_out

    @property
    def file_stem(self) -> str:
        """The name of the digest's files (.md, .eml) without the suffix."""
        return f"{self.date.isoformat()}-digest-{self.digest_id}"

    @property
    def compact_from(self) -> int | None:
        """The rank of the first paper shown compact (None: none is). Compact papers are the
        last ones shown (clipping.shown_as): a digest whose last paper is not compact has
        none, which is all the template asks of the others."""
        if not self.items or not self.items[-1].compact:
            return None
        return next(item.rank for item in self.items if item.compact)

    @property
    def compact_note(self) -> str:
        """What the HTML email says above its first compact paper, and where to read the
        papers in full."""
        return clipping.compact_note(self)

    @property
    def left_out_note(self) -> str:
        """How many papers are left out and where to read them all ("" for none)."""
        return clipping.left_out_note(self)

    @property
    def grouped(self) -> bool:
        return any(group.label for group in self.groups)

    @property
    def date_label(self) -> str:
        return f"{self.date:%A}, {self.date.day} {self.date:%B %Y}"

    @property
    def ranked_lower(self) -> str:
        """What `below_threshold` counts, in words: "3 more matching papers ranked lower"
        ("" for none). Not "below your threshold": most are often past max_items, having
        scored above min_score, and the count does not tell the two apart (the ranking never
        scores in full the papers that cannot make the digest)."""
        count = self.below_threshold
        if not count:
            return ""
        noun = "paper" if count == 1 else "papers"
        if not self.items:  # none shown: none more than it, and every one under min_score
            return f"{count} {noun} under your min_score"
        return f"{count} more matching {noun} ranked lower"

    @property
    def a_little(self) -> str:
        """What a digest with nothing to show says when papers matched under min_score (""
        when none did): "1 new paper matched your interests only a little, under your
        min_score." Plain text."""
        count = self.below_threshold
        if not count or self.items:
            return ""
        if count == 1:
            return "1 new paper matched your interests only a little, under your min_score."
        return (f"{count} new papers matched your interests only a little, all under your "
                "min_score.")

    @property
    def preheader(self) -> str:
        """The line an inbox previews under the subject: the first papers' titles (the
        subject already says how many), or what an empty digest says. Plain text."""
        if not self.items:
            if self.below_threshold:
                return self.a_little
            return "Nothing new matched your interests since the last digest."
        line = " · ".join(item.title for item in self.items[:3])
        if len(line) <= PREHEADER_CHARS:
            return line
        return line[: line.rfind(" ", 0, PREHEADER_CHARS)].rstrip(" ·:;,") + " …"

    @property
    def subject(self) -> str:
        noun = "paper" if self.count == 1 else "papers"
        what = f"{self.count} new {noun}" if self.count else "no new papers"
        return f"Paper digest for {clean_line(self.subscriber_name)}: {what} ({self.date:%a %d %b})"


MAX_REASONS_SHOWN = 3


def reasons_sentence(reasons: Sequence[dict[str, Any]]) -> str:
    """The strongest few reasons in one line; `paper-digest explain` gives all of them."""
    texts = [r["text"] for r in reasons if r.get("text") and r.get("kind") != "exclude"]
    # A demotion (an `exclude` term in "demote" mode) is always said, once: it lowered the
    # score a reader sees. (Under "drop" such a paper is never in a digest.)
    demoted = next((r["text"] for r in reasons
                    if r.get("kind") == "exclude" and r.get("weight", 0) < 0), None)
    if not texts and demoted is None:
        return "matched your interests"
    shown = "; ".join(texts[:MAX_REASONS_SHOWN]) or "matched your interests"
    more = len(texts) - MAX_REASONS_SHOWN
    return (shown + (f"; and {more} more" if more > 0 else "")
            + (f"; but {demoted}" if demoted else ""))


@lru_cache(maxsize=_PAPERS)
def _paper_text(title: str, abstract: str, authors: tuple[str, ...]
                ) -> tuple[str, str, str, tuple[str, ...]]:
    """(title, abstract, short abstract, authors) as items show them: the same in every digest
    the paper is in, so worked out once a paper, in a cache of their own (in a filter's, the
    one-off lines of each item's reasons pushed them out). The same string objects in every
    item also keep their hashes for the filters' caches. Simple LaTeX is written out
    (worker.mathtext): arXiv writes accents in names as in titles (`J\\"urgen`)."""
    abstract = clean_line(display_text(abstract))
    if any("\\" in name for name in authors):
        authors = tuple(display_text(name) for name in authors)
    return shown_title(title), abstract, shorten(abstract), authors


def shown_title(title: str) -> str:
    """A paper's title as digests show it: TeX as the text it makes, on one line."""
    return clean_line(display_text(title))


def forget_pieces() -> None:
    """Empty this module's caches, as in a process that has rendered nothing yet (the scale
    benchmark renders every digest once before delivery does it again)."""
    for module in (sys.modules[__name__], templating, mdtext):
        for value in list(vars(module).values()):
            if hasattr(value, "cache_clear") and getattr(value, "__module__", None) \
                    == module.__name__:
                value.cache_clear()


def item_view(rank: int, score: float, reasons: list[dict[str, Any]], paper: Any,
              feedback: tuple[str | None, str | None] = (None, None)) -> ItemView:
    from worker.matching.highlight import highlight_terms

    title, abstract, abstract_short, authors = _paper_text(paper.title, paper.abstract,
                                                           tuple(paper.authors))
    return ItemView(
        rank=rank, title=title, abstract=abstract, abstract_short=abstract_short,
        authors=authors,
        links=paper.links, arxiv_id=paper.arxiv_id, listing_date=paper.listing_date,
        score=score, why=reasons_sentence(reasons), reasons=tuple(reasons),
        highlights=highlight_terms((r.get("kind"), r.get("terms", ())) for r in reasons),
        key=paper.key,
        more_url=feedback[0], fewer_url=feedback[1],
    )


def digest_context(digest: Digest, *, name: str, email: str | None, profile_file: str | None,
                   timezone: str = "UTC", mailing: EmailSettings | None = None,
                   group_by: str = "none", feedback: FeedbackLinks | None = None,
                   markdown_dir: Path | None = None) -> DigestContext:
    local = digest.created_at.astimezone(ZoneInfo(timezone))
    link = (feedback.of(digest.subscriber_id, digest.created_at.date(), digest.generation)
            if feedback is not None else None)

    def links(paper_id: int) -> tuple[str | None, str | None]:
        if link is None:
            return None, None
        return link(paper_id, "like"), link(paper_id, "unlike")

    items = tuple(item_view(i.rank, i.score, i.reasons, i.paper, links(i.paper.id))
                  for i in digest.items)
    # serve's own one-click link first: the footer shows the first, and it works at once
    own_unsubscribe = ((feedback.unsubscribe_link(digest.subscriber_id, digest.generation),)
                       if feedback is not None and feedback.unsubscribe else ())
    groups = group_by_interest(items) if group_by == "interest" else (ItemGroup(None, items),)
    items = tuple(item for group in groups for item in group.items)  # in the order shown
    return DigestContext(
        subscriber_id=digest.subscriber_id, subscriber_name=name, subscriber_email=email,
        profile_file=profile_file, digest_id=digest.id, message_id=digest.message_id,
        created_at=digest.created_at, date=local.date(), items=items,
        below_threshold=digest.below_threshold,
        list_id=mailing.list_id if mailing else None,
        unsubscribe=(*own_unsubscribe,
                     *(mailing.unsubscribe_uris(digest.subscriber_id) if mailing else ())),
        help=mailing.help if mailing else None,
        groups=groups, markdown_dir=markdown_dir,
    )


def profile_context(digest: Digest, profile: Profile, settings: Settings) -> DigestContext:
    """digest_context for a subscriber's digest as configured: their name, profile file, time
    zone and grouping, and the install's `[email]` settings."""
    return digest_context(digest, name=profile.name, email=profile.email,
                          profile_file=str(profile.file) if profile.file else None,
                          timezone=profile.timezone or settings.timezone,
                          mailing=settings.email, group_by=profile.group_by,
                          feedback=settings.feedback.links(),
                          markdown_dir=(settings.output_dir if "markdown" in profile.deliver
                                        else None))


def render(ctx: DigestContext, fmt: str, templates_dir: Path | None = None) -> str:
    """Render `fmt` ("md", "html" or "txt") from the one context; TemplateError, naming the
    template's file and line, for a template that cannot be compiled or rendered."""
    from jinja2 import TemplateError as JinjaError

    try:
        template = templating.environment(templates_dir).get_template(f"digest.{fmt}.j2")
        return str(template.render(d=ctx))
    except JinjaError as exc:
        raise templating.template_error(exc) from exc
