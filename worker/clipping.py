"""The HTML email kept under the size at which Gmail clips it.

Gmail shows an email whose HTML passes about 102 KB cut short ("[Message clipped] View entire
message"): everything after the cut is hidden until the reader asks for it, the footer with
its Unsubscribe link and the later papers' feedback buttons included. A paper takes 1.6-2 KB
of the HTML part as sent, 2.4-2.8 KB with feedback links: 35 to 60 papers reached it.

build_email (worker.digest_mail) keeps the HTML part within HTML_BUDGET bytes (fitted_html). A
digest that fits, nearly all of them (20 papers: ~42 KB, ~57 KB with feedback links), is sent
as rendered, byte for byte. One that does not is rendered again with its first papers in full
and the rest compact (`item.compact`: title, why, score, links and feedback buttons; no
abstract, no authors), as many in full as fit; if even every paper compact is too much, with
its first papers compact and the rest left out (`d.left_out`), the page saying how many and
where to read them. The whole page is measured, so the footer is never what is given up. The
plain-text part and Markdown digests are not limited (Gmail clips only the HTML): they hold
every paper in full. The notes above the compact papers and after the last one point to
what the reader can reach (compact_note): the papers' pages their titles link to, else the
Markdown digest, else the plain-text part, which most mail apps cannot show.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from worker.mime import quoted_printable

if TYPE_CHECKING:
    from pathlib import Path

    from worker.render import DigestContext

log = logging.getLogger("paper_digest")

# What is measured: the HTML part's body as sent, UTF-8, quoted-printable (the encoding
# mime.alternative sends both parts in), CRLF line ends. Whether Gmail counts the part encoded
# or decoded is not documented; encoded is the larger (quoted-printable writes the "=" of
# every attribute as "=3D", each byte of a non-ASCII character as three, and breaks lines
# longer than 76 characters: ~8 % more than the decoded HTML of our template), so a budget on
# it holds either way. 95,000 leaves ~7 % under 102,000 bytes (~9 % under 102 KiB) for what
# Gmail adds or counts differently.
HTML_BUDGET = 95_000
# Guesses of the number of papers that fit interpolate between the sizes known so far: the
# size grows nearly in step with the count (papers differ by their titles and links). After
# this many, guesses halve the range: a template whose sizes are far from a line costs a few
# renderings more, never one per paper.
_INTERPOLATED = 3

# A paper of the default template in the HTML part as sent, and the page around the papers:
# the 90th percentile per paper of 600 digests of bench/scale.py's pass (median 1.57 KB,
# 2.35 KB with feedback links). For `check`'s note only (papers_in_full): the rendering
# measures the real thing.
FULL_ITEM_BYTES = {False: 1750, True: 2550}
PAGE_BYTES = 3200


def papers_in_full(feedback: bool) -> int:
    """About how many papers the default template shows in full within HTML_BUDGET, with or
    without feedback links: 52, 36."""
    return (HTML_BUDGET - PAGE_BYTES) // FULL_ITEM_BYTES[feedback]


def fitted_html(ctx: DigestContext, html: str, render: Callable[[DigestContext], str],
                budget: int = HTML_BUDGET) -> bytes:
    """The HTML part's body as sent (mime.quoted_printable): of `html`, `render(ctx)`, if it
    is within `budget`; else of `render` of `ctx` with papers compact or left out (fit).

    A digest that fits costs what it did: the part is encoded once, to be sent, and its
    length is the measure (mime.encoded_alternative sends these bytes). Only one over the
    budget is rendered again: all compact (one rendering and encoding), then 1-3 times more
    to find how many papers stay in full (~2.5 ms each at 60 papers; 3-4 in all). When not
    even the page without papers fits (a template of one's own), `html` is sent whole:
    leaving papers out would not bring the footer back into view."""
    body = quoted_printable(html)
    if len(body) <= budget or not ctx.items:
        return body
    fitted = fit(ctx, len(body), render, budget)
    if fitted is None:
        log.warning("digest %s for %s: its HTML is over %d bytes even without papers (%d "
                    "with them): sent as it is", ctx.digest_id, ctx.subscriber_id, budget,
                    len(body), extra={"event": "render.over_budget", "digest": ctx.digest_id,
                                      "subscriber": ctx.subscriber_id})
        return body
    shown, fitted_body = fitted
    compact = sum(item.compact for item in shown.items)
    log.info("digest %s for %s: HTML of %d bytes over %d: %d papers in full, %d compact, "
             "%d left out (%d bytes)", ctx.digest_id, ctx.subscriber_id, len(body), budget,
             len(shown.items) - compact, compact, shown.left_out, len(fitted_body),
             extra={"event": "render.compacted", "digest": ctx.digest_id,
                    "subscriber": ctx.subscriber_id, "compact": compact,
                    "left_out": shown.left_out})
    return fitted_body


Fitted = tuple["DigestContext", bytes]  # a context as cut (shown_as), its HTML body as sent


def fit(ctx: DigestContext, size: int, render: Callable[[DigestContext], str],
        budget: int = HTML_BUDGET) -> Fitted | None:
    """The context with the most papers in full, all shown, whose HTML is within `budget`, and
    that HTML as sent; or, if every paper compact is over, the one with the most papers shown,
    compact. `size`: the HTML's size with every paper in full (over the budget). None when
    not even the page without papers fits."""
    count = len(ctx.items)

    def rendered(full: int, shown: int) -> Fitted:
        cut = shown_as(ctx, full, shown)
        return cut, quoted_printable(render(cut))

    compact = rendered(0, count)
    if len(compact[1]) <= budget:
        return most_within(compact, count, size, lambda full: rendered(full, count), budget)
    first = rendered(0, 0)
    if len(first[1]) > budget:
        return None
    return most_within(first, count, len(compact[1]), lambda shown: rendered(0, shown), budget)


def most_within(low: Fitted, high: int, high_size: int, rendered: Callable[[int], Fitted],
                budget: int) -> Fitted:
    """rendered(n) for the largest n in 0..high-1 whose HTML is within `budget`: `low` is
    rendered(0), within it; rendered(high) is `high_size` bytes, over. Sizes grow with n."""
    best, at, low_size, tries = low, 0, len(low[1]), 0
    while high - at > 1:
        if tries < _INTERPOLATED:
            guess = at + (budget - low_size) * (high - at) // (high_size - low_size)
        else:
            guess = (at + high) // 2
        guess = min(max(guess, at + 1), high - 1)
        tried = rendered(guess)
        tries += 1
        if len(tried[1]) <= budget:
            best, at, low_size = tried, guess, len(tried[1])
        else:
            high, high_size = guess, len(tried[1])
    return best


def shown_as(ctx: DigestContext, full: int, shown: int) -> DigestContext:
    """`ctx` with its first `full` papers (in the order shown) as they are, the next up to
    `shown` compact, and the rest left out: its items and its sections alike."""
    from worker.render import ItemGroup

    groups, index = [], 0
    for group in ctx.groups or (ItemGroup(None, ctx.items),):
        kept = []
        for item in group.items[:max(shown - index, 0)]:
            kept.append(item if index < full else replace(item, compact=True))
            index += 1
        if kept:
            groups.append(replace(group, items=tuple(kept)))
    items = tuple(item for group in groups for item in group.items)
    return replace(ctx, items=items, groups=tuple(groups) if ctx.groups else (),
                   left_out=ctx.left_out + len(ctx.items) - len(items))


# Why papers are compact or left out, in the words of both notes.
_CUT_SHORT = "to keep this email under the size at which Gmail cuts emails short"


def compact_note(ctx: DigestContext) -> str:
    """What the HTML email says above its first compact paper (d.compact_note): that the
    papers below have no abstract or authors, and where to read them, the first of these
    that this digest has:

    - the papers' own pages, when every compact paper has one (item.url): its title links
      there, which every mail app can follow from the email itself;
    - else the subscriber's Markdown digest, when they get one: a document with every paper,
      named with where it is (_markdown), since only a reader who can open files on that
      computer can use it (one who runs paper-digest for themselves; one who edits their
      profile file there, as the footer asks); titles that do link are said to first;
    - else the email's plain-text part, said with how to see it (_plain_text): most mail
      apps show only the HTML part of an email that has both; webmail shows the other only
      in the email's source, phone apps (Gmail's, iOS Mail) not at all.

    The note is part of the page fit() measures: its length, which differs with which papers
    are compact, is within the budget like the rest."""
    compact = [item for item in ctx.items if item.compact]
    said = f"From here on, papers are shown without their abstract and authors, {_CUT_SHORT}."
    if compact and all(item.url for item in compact):
        return f"{said} Each title links to the paper's page, with its abstract and authors."
    if any(item.url for item in compact):
        said += " A title that is a link leads to the paper's page, with its abstract and authors."
    if ctx.markdown_dir is not None:
        return (f"{said} Your Markdown digest has every paper in full: "
                f"{_markdown(ctx, ctx.markdown_dir)}.")
    return f"{said} The plain-text version of this email has every paper in full, {_plain_text()}."


def left_out_note(ctx: DigestContext) -> str:
    """What the HTML email says after its last paper when it leaves some out: how many, and
    where all of them are ("" when none is left out): the subscriber's Markdown digest when
    they get one, else the email's plain-text part (compact_note says why, in that order).
    Not a command (`preview`): that is for whoever runs paper-digest, not for the readers of
    an institute's digests."""
    if not ctx.left_out:
        return ""
    total, first = ctx.count, len(ctx.items) + 1
    papers = ("1 more matching paper" if ctx.left_out == 1
              else f"{ctx.left_out} more matching papers")
    which = f"{first}" if first == total else f"{first}–{total}"
    said = (f"{papers} ({which}) {'is' if ctx.left_out == 1 else 'are'} not shown here, "
            f"{_CUT_SHORT}.")
    if ctx.markdown_dir is not None:
        return f"{said} Your Markdown digest lists all {total}: {_markdown(ctx, ctx.markdown_dir)}."
    return f"{said} The plain-text version of this email lists all {total}, {_plain_text()}."


def _markdown(ctx: DigestContext, markdown_dir: Path) -> str:
    """The subscriber's Markdown digest, as a path from the root (output_dir is relative to
    where paper-digest runs, which a reader does not know) and where that file is: a reader
    who cannot open files there knows the path is not for them."""
    from worker.delivery.markdown import digest_path

    path = digest_path(markdown_dir.absolute(), ctx.subscriber_id, ctx.file_stem)
    return f"`{path}`, a file on the computer that runs paper-digest"


def _plain_text() -> str:
    """How to see an email's plain-text part where the app shows its HTML: Gmail's way, the
    app of the readers the size limit is for. Gmail on a computer shows the message as sent
    under More (⋮, next to Reply) > Show original: its headers, then the plain-text part
    (mime.alternative puts it first), legible as it is (quoted-printable leaves ASCII text as
    written). Phone apps (Gmail's, iOS Mail) have no way: "not every email app" says so
    without a list."""
    return ("though not every email app can show it: in Gmail on a computer, click More (⋮) "
            "next to Reply, then Show original, and read on below the email's headers")
