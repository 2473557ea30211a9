"""Plain text for templates and headers: one-line cleaning, shortening and line filling.

Pure functions on str, used by worker.render's filters and item views (which cache what
repeats); kept apart from the Jinja side of rendering.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

SHORT_ABSTRACT_CHARS = 420
PIECES = 16384  # results kept per cached filter (most pieces are a line or two)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def clean_line(text: str) -> str:
    """No control characters, bidi overrides or line breaks: safe in headers and one-liners."""
    # Most text has none of those, and single spaces: it is returned as it is, after checks
    # in C. A printable string's only whitespace is " ", and every CONTROL character is
    # unprintable (Cc or Cf), so for such text the substitution and the split change nothing.
    # (Not cached: the check costs about what a cache lookup does.)
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(CONTROL.sub(" ", text).split())


def plural(n: int, word: str) -> str:
    """`1 digest`, `3 digests`."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def in_words(items: Sequence[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return " and ".join([", ".join(items[:-1]), items[-1]] if len(items) > 1 else items)


# A ". " that ends no sentence: after an abbreviation (`(e.g. only 2%`, `Fig. 3`), or a list's
# number after a colon (`for this bias: 1. The`); also any followed by a small letter.
_NOT_AN_END = re.compile(r"(?:\b(?:e\.g|i\.e|et al|etc|vs|cf|approx|resp|Fig|Figs|Eq|Eqs|Sec|"
                         r"Tab|No|Ref|Refs|Dr|Prof|Inc|Ltd)|(?<=: )(?:\d{1,2}|[A-Za-z]|[ivx]+))$")


def shorten(text: str, limit: int = SHORT_ABSTRACT_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    sentence = cut.rfind(". ")
    while sentence > limit * 0.6 and (text[sentence + 2].islower()
                                      or _NOT_AN_END.search(cut, 0, sentence)):
        sentence = cut.rfind(". ", 0, sentence)
    if sentence > limit * 0.6:
        return cut[: sentence + 1]
    return cut[: cut.rfind(" ")].rstrip(",;:") + " …"


def fill(text: str, width: int, first: str, indent: str) -> str:
    """textwrap.fill(text, width, initial_indent=first, subsequent_indent=indent,
    break_long_words=False, break_on_hyphens=False) for text whose words are separated by
    single spaces (as clean_line leaves it): the same lines, by the same greedy algorithm
    (TextWrapper._wrap_chunks), without textwrap's per-call regular expressions and
    translation tables. tests/unit/test_render_fill.py holds it to textwrap.

    Its chunks are the words and the single spaces between them, so the most chunks that fit
    in a line end at the last space within reach (or just after it): one rfind per line
    instead of a step per word."""
    if width <= 0:
        raise ValueError(f"invalid width {width!r} (must be > 0)")
    lines: list[str] = []
    pos, size = 0, len(text)
    while pos < size:
        prefix = indent if lines else first
        room = width - len(prefix)
        if lines and text[pos] == " ":  # a line does not start with the space between words
            pos += 1
            if pos == size:
                break
        end = _fitting_end(text, pos, room)
        if end == pos:  # a word longer than any line: a line of its own, whole (a link that
            end += _next_chunk_len(text, pos)  # is cut in two is no longer a link)
        line = text[pos:end]
        pos = end
        if line.endswith(" "):  # textwrap drops one trailing whitespace chunk
            line = line[:-1]
        if line:
            lines.append(prefix + line)
    return "\n".join(lines)


def _fitting_end(text: str, pos: int, room: int) -> int:
    """Where the longest run of whole chunks from `pos` that fits in `room` ends."""
    if len(text) - pos <= room:
        return len(text)
    reach = pos + room  # text[reach] is the first character that does not fit
    if text[reach] == " ":
        return reach  # a word ends exactly at the edge
    space = text.rfind(" ", pos, reach)
    return pos if space < 0 else space + 1


def _next_chunk_len(text: str, at: int) -> int:
    if text[at] == " ":
        return 1
    space = text.find(" ", at)
    return (space if space >= 0 else len(text)) - at
