"""Markdown for templates: text escaped so that it renders as itself (CommonMark, as GitHub
and Obsidian read it, with their `$` math), code spans, highlighted terms, URLs for links.

Pure functions on str: the `md`, `md_code`, `hl_md` and `md_url` filters of worker.render
(which also empties their caches: forget_pieces).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from worker.plaintext import CONTROL, PIECES, clean_line

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>$|~#])")
_BACKTICKS = re.compile(r"`+")
# An `&` that starts what reads as a character reference (`&amp;`, `&copy;`, `&#38;`): a
# renderer would show the character it names instead. `&amp;` is one everywhere Markdown is.
_REFERENCE = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
# What makes a line a list item (`-`, `+`, `1.`, `1)`; `*` is escaped wherever it is), a
# thematic break (`---`) or a setext underline (`===`) when it starts one: the abstract
# starts the line of its blockquote, where `+ text` would become a list and lose its `+`.
_BULLET_START = re.compile(r"[-+=]")
_NUMBER_START = re.compile(r"^(\d{1,9})([.)])(?= |$)")


@lru_cache(maxsize=PIECES)
def md_escape(text: str) -> str:
    """Escape what Markdown (GitHub, Obsidian: `$` is math there) would otherwise interpret."""
    return _line_start(_md_escape_part(clean_line(text)))


def _md_escape_part(text: str) -> str:
    # Pieces of one line: keep their edge spaces, which separate them from the highlights.
    escaped = _MD_SPECIAL.sub(r"\\\1", CONTROL.sub(" ", text).replace("\n", " "))
    return _REFERENCE.sub("&amp;", escaped) if "&" in escaped else escaped


def _line_start(text: str) -> str:
    """Escaped text whose start cannot make its line a block of another kind: the text may
    start a line (a template's choice), and elsewhere the escape shows nothing either."""
    if _BULLET_START.match(text):
        return "\\" + text
    return _NUMBER_START.sub(r"\1\\\2", text, count=1)


def highlight_md(text: str, terms: Sequence[str]) -> str:
    return _highlight_md(text, tuple(terms))


@lru_cache(maxsize=PIECES)
def _highlight_md(text: str, terms: tuple[str, ...]) -> str:
    from worker.matching.highlight import terms_in

    text = clean_line(text)
    return _marked_md(text, terms_in(text, terms) if terms else ())


@lru_cache(maxsize=PIECES)
def _marked_md(text: str, terms: tuple[str, ...]) -> str:
    from worker.matching.highlight import highlight_spans

    out, last = [], 0
    for start, end in highlight_spans(text, terms) if terms else ():
        out += [_md_escape_part(text[last:start]), "**", _md_escape_part(text[start:end]), "**"]
        last = end
    out.append(_md_escape_part(text[last:]))
    return _line_start("".join(out))


def md_code(text: str) -> str:
    """`text` as a code span that shows it as it is. Backslashes escape nothing inside a code
    span (`h\\_user` would show its backslash), so nothing is escaped: the span is fenced by
    one backtick more than the longest run of backticks in the text, which no run inside can
    close (CommonMark), and padded with a space where the text starts or ends with a
    backtick (renderers strip one space from each end). (Not cached: a digest's own names.)"""
    text = clean_line(text)
    if not text:
        return ""
    fence = "`" * (max(map(len, _BACKTICKS.findall(text)), default=0) + 1)
    if text[0] == "`" or text[-1] == "`":
        text = f" {text} "
    return f"{fence}{text}{fence}"


_MD_URL = str.maketrans({" ": "%20", "(": "%28", ")": "%29", "<": "%3C", ">": "%3E"})


def md_url(url: str) -> str:
    """A URL safe inside Markdown's `(...)`: spaces, parentheses and angle brackets encoded.
    (Not cached: feedback links make every URL of a pass a new one.)"""
    return clean_line(url).translate(_MD_URL)
