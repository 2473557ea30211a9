"""One Jinja environment and one digest context for every format.

Templates (digest.md.j2, digest.html.j2, digest.txt.j2) receive a single variable `d`, a
`DigestContext` (fields documented below and in README, "Templates"). A user's templates_dir
is searched first; its templates may `{% extends "default/digest.html.j2" %}`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from worker import __version__, clipping, mdtext, mime
from worker.mathtext import display_text
from worker.mdtext import highlight_md, md_code, md_escape, md_url
from worker.mime import Mail
from worker.plaintext import PIECES, clean_line, fill, shorten
from worker.records import Links
from worker.store.models import Digest

if TYPE_CHECKING:
    from worker.feedback import Links as FeedbackLinks
    from worker.profiles import Profile
    from worker.settings import EmailSettings, Settings

DEFAULT_TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_SENDER = "Paper Digest <paper-digest@localhost>"
# The filters templates use are pure and see the same arguments over and over: one paper is in
# many subscribers' digests, with the same few highlighted terms. Their results are kept
# (lru_cache), so a run renders each distinct piece once.
_PAPERS = 4096  # papers whose shown text is kept: a day's new papers at an institute's scale
# Highlighted titles and abstracts in HTML: the costliest piece (~10 µs to make) and the most
# repeated. At institute scale a pass has ~34,000 distinct (paper, highlighted terms) pairs,
# so ~67,000 pieces; with 16,384 kept, half of the lookups missed. ~0.5 KB a piece: ~30 MB.
_HIGHLIGHTED = 65536


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
    # Where left_out_note says the whole digest is: the output_dir of a subscriber who also
    # gets Markdown digests (None: not), and the config folder, for the command it names.
    markdown_dir: Path | None = None
    config_dir: Path | None = None

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
        """What the HTML email says above its first compact paper."""
        return clipping.COMPACT_NOTE

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
        return f"{count} more matching {'paper' if count == 1 else 'papers'} ranked lower"

    @property
    def preheader(self) -> str:
        """The line an inbox previews under the subject: the first papers' titles (the
        subject already says how many), or what an empty digest says. Plain text."""
        if not self.items:
            if self.below_threshold:
                return "New papers matched your interests only a little: none scored your " \
                       "min_score."
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


def _spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    from worker.matching import highlight_spans

    return highlight_spans(text, terms) if terms else []


def _terms_in(text: str, terms: tuple[str, ...]) -> tuple[str, ...]:
    from worker.matching.highlight import terms_in

    return terms_in(text, terms) if terms else ()


def highlight_html(text: str, terms: Sequence[str]) -> Markup:
    return _highlight_html(text, tuple(terms))


_MARK = '<mark style="background:#fff3a3;color:inherit;padding:0 1px;">'


# Highlighting is kept at two levels: by the item's terms (what the template passes; a hit
# costs one lookup), and, on a miss there, by the terms found in the text, which many term
# lists share (the terms of a subscriber's other interests are mostly not in this paper's
# title). At institute scale a pass has ~67,000 (text, terms) pairs but ~28,000 pieces to
# make (~15 µs each); both levels hold the same Markup objects.
@lru_cache(maxsize=_HIGHLIGHTED)
def _highlight_html(text: str, terms: tuple[str, ...]) -> Markup:
    return _marked_html(text, _terms_in(text, terms))


@lru_cache(maxsize=_HIGHLIGHTED)
def _marked_html(text: str, terms: tuple[str, ...]) -> Markup:
    out: list[str] = []  # escaped text and our own tags (Markup.join would escape each again)
    last = 0
    for start, end in _spans(text, terms):
        out += [escape(text[last:start]), _MARK, escape(text[start:end]), "</mark>"]
        last = end
    out.append(escape(text[last:]))
    return Markup("".join(out))


@lru_cache(maxsize=PIECES)
def wrap(text: str, width: int = 72, indent: str = "", first: str | None = None) -> str:
    """Fill to `width`; `first` (default: `indent`) is the first line's indent."""
    return fill(clean_line(text), width, indent if first is None else first, indent)


def numbered(text: str, number: int, width: int = 72, indent: str = "") -> str:
    """wrap(f"{number}. {text}", width, indent, ""): an item's title after its rank. The
    title's lines are kept once a paper and width of its rank, not once a rank: a paper
    stands at many ranks in a pass's digests."""
    prefix = f"{number}. "
    lines = _after_number(text, len(prefix), width, indent)
    return prefix + lines if lines is not None else wrap(prefix + text, width, indent, "")


@lru_cache(maxsize=PIECES)
def _after_number(text: str, room: int, width: int, indent: str) -> str | None:
    """`text` filled after a number and its space `room` wide, without them; None where a
    word is longer than what the first line leaves it (wrapped with the number, that word
    would start the next line rather than be broken), or there is no text."""
    text = clean_line(text)
    if not text or max(map(len, text.split(" "))) > width - room:
        return None
    return fill(text, width, " " * room, indent)[room:]


_HTML_SPECIAL = re.compile(r"[&<>'\"]")


def printed_html(value: Any) -> str:
    """What an autoescaping template prints for `{{ value }}`: markupsafe.escape(value), as
    text. Compiled templates call this instead of escape (see _code_generator): a printed
    value is only ever joined into the output, or into a block's that is made Markup whole,
    so it need not be a Markup of its own, and escape made one for every value (a Python
    call of Markup.__new__ after the C escaping, ~0.4 µs; for a number or a date, first a
    failed lookup of `__html__`, which costs an exception). Text with nothing to escape is
    printed as it is, highlighted pieces (Markup) too: ~−3.5 µs an item in the HTML part."""
    kind = type(value)
    if kind is str:
        return value if _HTML_SPECIAL.search(value) is None else escape(value)
    if kind is Markup:
        return value
    if kind is int or kind is date:  # a rank, a count, a listing date: digits and dashes
        return str(value)
    return escape(value)


@cache
def _code_generator() -> type:
    """Jinja's code generator, with printed values escaped by printed_html (the one use of
    `escape` in the code Jinja writes is around a printed value; Environment's documented
    `code_generator_class` hook)."""
    from jinja2.compiler import CodeGenerator

    class HtmlCodeGenerator(CodeGenerator):
        def visit_Template(self, node: Any, frame: Any = None) -> None:
            super().visit_Template(node, frame)
            self.writeline(f"from {__name__} import printed_html as escape")

    return HtmlCodeGenerator


@cache
def environment(templates_dir: Path | None = None) -> Any:
    """The Jinja environment, built once per templates directory (compiled templates reused)."""
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, StrictUndefined

    loaders: list[Any] = []
    if templates_dir is not None:
        loaders.append(FileSystemLoader(str(templates_dir)))
    loaders += [FileSystemLoader(str(DEFAULT_TEMPLATES)),
                PrefixLoader({"default": FileSystemLoader(str(DEFAULT_TEMPLATES))})]
    env = Environment(loader=ChoiceLoader(loaders), undefined=StrictUndefined,
                      autoescape=lambda name: bool(name and name.endswith(".html.j2")),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.code_generator_class = _code_generator()
    env.filters.update(md=md_escape, md_code=md_code, md_url=md_url, hl_html=highlight_html,
                       hl_md=highlight_md, wrap=wrap, numbered=numbered,
                       oneline=clean_line)
    return env


@lru_cache(maxsize=_PAPERS)
def _paper_text(title: str, abstract: str) -> tuple[str, str, str]:
    """(title, abstract, short abstract) as items show them: the same in every digest the paper
    is in, so worked out once a paper, in a cache of their own (in a filter's, the one-off
    lines of each item's reasons pushed them out). The same string objects in every item
    also keep their hashes for the filters' caches. Simple LaTeX is written out
    (worker.mathtext)."""
    abstract = clean_line(display_text(abstract))
    return clean_line(display_text(title)), abstract, shorten(abstract)


def forget_pieces() -> None:
    """Empty this module's caches, as in a process that has rendered nothing yet (the scale
    benchmark renders every digest once before delivery does it again)."""
    for module in (sys.modules[__name__], mdtext):
        for value in list(vars(module).values()):
            if hasattr(value, "cache_clear") and getattr(value, "__module__", None) \
                    == module.__name__:
                value.cache_clear()


def item_view(rank: int, score: float, reasons: list[dict[str, Any]], paper: Any,
              feedback: tuple[str | None, str | None] = (None, None)) -> ItemView:
    from worker.matching.highlight import highlight_terms

    title, abstract, abstract_short = _paper_text(paper.title, paper.abstract)
    return ItemView(
        rank=rank, title=title, abstract=abstract, abstract_short=abstract_short,
        authors=paper.authors,
        links=paper.links, arxiv_id=paper.arxiv_id, listing_date=paper.listing_date,
        score=score, why=reasons_sentence(reasons), reasons=tuple(reasons),
        highlights=highlight_terms((r.get("kind"), r.get("terms", ())) for r in reasons),
        key=paper.key,
        more_url=feedback[0], fewer_url=feedback[1],
    )


def digest_context(digest: Digest, *, name: str, email: str | None, profile_file: str | None,
                   timezone: str = "UTC", mailing: EmailSettings | None = None,
                   group_by: str = "none", feedback: FeedbackLinks | None = None,
                   markdown_dir: Path | None = None, config_dir: Path | None = None,
                   ) -> DigestContext:
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
        groups=groups, markdown_dir=markdown_dir, config_dir=config_dir,
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
                                        else None),
                          config_dir=settings.config_dir)


def render(ctx: DigestContext, fmt: str, templates_dir: Path | None = None) -> str:
    """Render `fmt` ("md", "html" or "txt") from the one context."""
    return str(environment(templates_dir).get_template(f"digest.{fmt}.j2").render(d=ctx))


def build_email(ctx: DigestContext, *, sender: str | None,
                templates_dir: Path | None = None, sent_at: datetime | None = None) -> Mail:
    """multipart/alternative (text, then HTML) with From/To/Subject/Date/Message-ID, as bytes
    with its envelope. `sent_at`: the Date, when it is sent (default: when it was made). The
    HTML part is kept under the size at which Gmail clips it (worker.clipping)."""
    return assemble_email(ctx, sender=sender, text=render(ctx, "txt", templates_dir),
                          html=render(ctx, "html", templates_dir), sent_at=sent_at,
                          templates_dir=templates_dir)


def build_message(ctx: DigestContext, *, sender: str | None,
                  templates_dir: Path | None = None) -> EmailMessage:
    """The email of `build_email` as an EmailMessage (parsed back from its bytes), for callers
    that want to look at its headers and parts."""
    return build_email(ctx, sender=sender, templates_dir=templates_dir).parse()


def assemble_email(ctx: DigestContext, *, sender: str | None, text: str, html: str,
                   sent_at: datetime | None = None, templates_dir: Path | None = None) -> Mail:
    """The email of `build_email` from its rendered text and HTML parts. Its Date is when it
    is sent: a digest retried hours after it was made, dated then, looks to spam filters like
    mail held back (SpamAssassin's DATE_IN_PAST_03_06 and later); Message-ID says it is one.
    An HTML part over clipping.HTML_BUDGET is rendered again from `templates_dir` (the one
    `html` came from) with papers compact (clipping.fitted_html)."""
    name, address = clean_line(ctx.subscriber_name), ctx.subscriber_email or ""
    headers = [("From", sender or DEFAULT_SENDER), ("To", mime.mailbox(name, address)),
               ("Subject", ctx.subject),
               ("Date", format_datetime(sent_at or ctx.created_at)),
               ("Message-ID", ctx.message_id),
               ("Auto-Submitted", "auto-generated"),
               ("X-Paper-Digest", f"{ctx.subscriber_id}; digest={ctx.digest_id}")]
    if ctx.list_id:
        headers.append(("List-Id", f"paper-digest <{ctx.list_id}>"))
    if ctx.unsubscribe:
        headers.append(("List-Unsubscribe", ", ".join(f"<{uri}>" for uri in ctx.unsubscribe)))
        if any(uri.startswith("https:") for uri in ctx.unsubscribe):  # RFC 8058 one-click
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    html_body = clipping.fitted_html(ctx, html, lambda cut: render(cut, "html", templates_dir))
    data = mime.encoded_alternative(headers, mime.quoted_printable(text), html_body,
                                    seed=ctx.message_id)
    recipients = (ctx.subscriber_email,) if ctx.subscriber_email else ()
    return Mail(data, recipients, mime.shown_mailbox(name, address))


def message_domain(sender: str | None) -> str:
    address = parseaddr(sender or DEFAULT_SENDER)[1]
    return address.rpartition("@")[2] or "localhost"


def message_id(unique: str, subscriber_id: str, sender: str | None) -> str:
    """`<digest.UNIQUE.SUBSCRIBER@DOMAIN>`, a msg-id of RFC 5322: its left part a dot-atom,
    which neither ends in a dot nor has two in a row. A subscriber id may (`zoe.`, from
    `zoe..toml`; `a..b`): empty parts are left out, as the id is there for a reader of the
    header and UNIQUE alone makes the Message-ID unique."""
    local = ".".join(part for part in f"digest.{unique}.{subscriber_id}".split(".") if part)
    return f"<{local}@{message_domain(sender)}>"
