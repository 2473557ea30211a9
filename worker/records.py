"""Normalized paper records, shared by every source, and paper identity.

A paper's key is its arXiv id without version when known, else its normalized title
(DESIGN.md, "Identity"). Every source turns what it reads into `PaperRecord`s; the store
merges records that share a key, or whose title key matches a paper known by id.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime

# New-style ids: YYMM.NNNN (2007-2014) or YYMM.NNNNN (2015-), optional vN. Digits are ASCII
# (\d takes ٢٥٠٣ too), a version at most 6 of them: a longer one is no id, not an integer a
# database column (or int(), past 4,300 digits) refuses.
_NEW_ID = re.compile(
    r"(?<![\w.])(?P<id>[0-9]{4}\.[0-9]{4,5})(?:v(?P<version>[0-9]{1,6}))?(?![\w.])")
# Old-style ids: archive(.SUBJ)/YYMMNNN, optional vN (e.g. astro-ph/0601001, math.GT/0309136v2).
# arXiv's archive names have at most 8 letters (chao-dyn, plasm-ph): past 16 it is no id. An
# archive of any length made an id longer than the column (64) holds: PostgreSQL refused the
# whole response, and the source ended there, its later days unread.
_OLD_ID = re.compile(
    r"(?<![\w\-.])(?P<id>(?P<archive>[a-z][a-z\-]{1,15})(?:\.[A-Z]{2})?/(?P<number>[0-9]{7}))"
    r"(?:v(?P<version>[0-9]{1,6}))?(?!\w)")

_LATEX_CMD = re.compile(r"\\([A-Za-z]+)( ?)|\\.")
_MATH_MARKUP = str.maketrans("", "", "${}^_")
_NON_WORD = re.compile(r"[^\w\s]|_")
# What a link from a source may be: a web address, nothing that runs (`javascript:`), carries
# its own content (`data:`) or breaks out of an attribute or a Markdown link (spaces, controls).
_WEB_LINK = re.compile(r"https?://[^\s\x00-\x1f\x7f<>\"'`\ud800-\udfff]+", re.IGNORECASE)
# A lone surrogate (JSON's "\ud800", a page in UTF-7) is no character: no database or UTF-8
# writer takes one. (A pair in JSON is one character by the time it is a str.)
_SURROGATE = re.compile("[\ud800-\udfff]")
# Greek letters written as LaTeX commands match the same letters typed directly
# (`SOTOPIA-$\pi$` is listed as `SOTOPIA-π` elsewhere).
GREEK_LETTERS = {
    name: chr(code)
    for name, code in zip(
        "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi "
        "rho varsigma sigma tau upsilon phi chi psi omega".split(),
        range(0x3B1, 0x3CA),
        strict=True,
    )
}
GREEK_LETTERS.update({n.capitalize(): c.upper() for n, c in GREEK_LETTERS.items()
                      if n != "varsigma"})
GREEK_LETTERS.update({"varepsilon": "ε", "vartheta": "θ", "varphi": "φ", "varrho": "ρ"})


# Other commands that stand for letters or words a listing shows as text: `$\ell_1$` is
# `ℓ1` elsewhere, `$O(\log n)$` is `O(log n)`, `\o` is `ø`.
# Letters of text (`\o rsted` is `ørsted`: TeX takes the space after them as their end).
_TEXT_LETTERS = {"ss": "ß", "o": "ø", "O": "Ø", "ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ",
                 "aa": "å", "AA": "Å", "l": "ł", "L": "Ł", "i": "i", "j": "j"}
_LETTER_COMMANDS = {
    **GREEK_LETTERS, "ell": "ℓ",
    **{name: f" {name} " for name in ("log", "ln", "exp", "max", "min", "sin", "cos", "tan",
                                      "lim", "sup", "inf", "arg", "det", "dim", "ker")},
}
# TeX accents on a letter (`Schr\"odinger`, `Poincar\'{e}`, `Erd\H{o}s`, `\c{c}`): the letter
# with its combining mark, which NFKC composes into the letter a listing shows (`Schrödinger`).
# An accent named by a letter (`\H`, `\c`) needs braces, or a space, before its letter.
TEX_ACCENTS = {"'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303",
               "=": "\u0304", ".": "\u0307", "H": "\u030b", "c": "\u0327", "v": "\u030c",
               "u": "\u0306", "k": "\u0328", "r": "\u030a", "d": "\u0323", "b": "\u0331"}
_TEX_ACCENT = re.compile(
    r"""\\(?:(?P<sign>['`^"~=.])\s*(?:\{\s*(?P<braced>\\[ij]|[A-Za-z])\s*\}"""
    r"|(?P<bare>\\[ij](?![A-Za-z])|[A-Za-z]))"
    r"|(?P<named>[Hcvukrdb])(?:\s*\{\s*(?P<nbraced>\\[ij]|[A-Za-z])\s*\}"
    r"|\s+(?P<spaced>[A-Za-z])(?![A-Za-z])))")
# Characters that are not there to see (soft hyphens, zero-width spaces and joiners, direction
# marks, a byte order mark): a word they sit in is one word, as it is shown.
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
                        "\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufe00-\ufe0f\ufeff]")
# HTML character references left in a title (a source that escaped it twice): `Q&amp;A` is Q&A.
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _latex_command(match: re.Match[str]) -> str:
    name, space = match.groups()
    if not name:
        return " "
    return _TEXT_LETTERS.get(name) or _LETTER_COMMANDS.get(name, " ") + space


def _tex_accent(match: re.Match[str]) -> str:
    found = match.groupdict()
    accent = found["sign"] or found["named"]
    letter = found["braced"] or found["bare"] or found["nbraced"] or found["spaced"]
    return letter.removeprefix("\\") + TEX_ACCENTS[accent]


def normalize_title(title: str) -> str:
    """The identity form of a title: NFKC, casefolded, LaTeX and punctuation stripped.

    `SOTOPIA-$\\pi$` and `SOTOPIA-π` both become `sotopia π`, `MVD$^2$` and `MVD²` both
    `mvd2`; hard line breaks and runs of spaces collapse to one space.
    """
    text = _INVISIBLE.sub("", title)
    if "&" in text:
        text = _ENTITY.sub(lambda m: html.unescape(m.group(0)), text)
    if "\\" in text:
        text = _TEX_ACCENT.sub(_tex_accent, text)
    text = _LATEX_CMD.sub(_latex_command, unicodedata.normalize("NFKC", text))
    # Math markup joins what it wraps: `MVD$^2$` is `MVD2`, like NFKC makes of `MVD²`.
    text = unicodedata.normalize("NFKC", text.translate(_MATH_MARKUP))
    text = _NON_WORD.sub(" ", text.casefold())
    return " ".join(text.split())


def title_hash(key: str) -> int:
    """A title key (normalize_title) as a signed 64-bit integer, the first 8 bytes of its
    BLAKE2b digest: what the store indexes and looks titles up by. An index of these holds
    about three times more papers a page than one of the keys themselves, so a day's new
    papers, which land at random places in it, split fewer pages and rewrite about a third
    fewer (bench/growth.py).
    Stored values depend on it: changing it needs a migration that rewrites them."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def find_arxiv_id(raw: str) -> re.Match[str] | None:
    """The first arXiv id in `raw` as it is written there: group `id` (an old-style one with
    its subject class, if it was written with one) and group `version`, or None."""
    text = raw.strip()
    for pattern in (_NEW_ID, _OLD_ID):
        match = pattern.search(text)
        if match:
            return match
    return None


def split_arxiv_id(raw: str) -> tuple[str, int | None] | None:
    """Find an arXiv id in `raw` (a bare id, an abs/pdf URL, `arXiv:...`).

    Returns (id without version, version or None), or None when there is no id.
    Ids stay strings: `2503.02130` keeps its leading digits exactly. An old-style id comes
    without its subject class, `math.GT/0309136` as `math/0309136`: the class is not part of
    the identifier (arXiv's preferred form of `math.CA/0611800v2` is `math/0611800v2`, and
    both resolve to the one paper), so a source or a `like` writing it either way names the
    same paper, which a paper's key (its id) must say too.
    """
    match = find_arxiv_id(raw)
    if match is None:
        return None
    version = int(match["version"]) if match["version"] else None
    arxiv_id = f"{match['archive']}/{match['number']}" if match.re is _OLD_ID else match["id"]
    return arxiv_id, version


@dataclass(frozen=True)
class Links:
    """Links a source gave for a paper; any may be missing."""

    abstract: str | None = None
    pdf: str | None = None
    code: str | None = None
    project: str | None = None

    def __post_init__(self) -> None:
        # Links come from pages anyone can publish to (a paper's project page on Hugging
        # Face): only web addresses reach a digest, whichever source or row they come from.
        for name in ("abstract", "pdf", "code", "project"):
            value = getattr(self, name)
            if value is not None:
                value = value.strip()
                object.__setattr__(self, name, value if _WEB_LINK.fullmatch(value) else None)

    @classmethod
    def for_arxiv(cls, arxiv_id: str, *, code: str | None = None,
                  project: str | None = None) -> Links:
        return cls(abstract=f"https://arxiv.org/abs/{arxiv_id}",
                   pdf=f"https://arxiv.org/pdf/{arxiv_id}", code=code, project=project)

    def merged(self, other: Links) -> Links:
        """Keep what we have, fill the gaps from `other`."""
        return Links(abstract=self.abstract or other.abstract, pdf=self.pdf or other.pdf,
                     code=self.code or other.code, project=self.project or other.project)


@dataclass(frozen=True)
class PaperRecord:
    """One paper as one source listed it, normalized."""

    title: str
    abstract: str
    arxiv_id: str | None = None
    version: int | None = None
    authors: tuple[str, ...] = ()
    links: Links = field(default_factory=Links)
    listing_date: date | None = None
    published: datetime | None = None
    upvotes: int | None = None

    def __post_init__(self) -> None:
        # An empty id is no id, for every consumer alike: identity (`key`) and the store,
        # whose unique index on (title_hash, COALESCE(arxiv_id, '')) would take '' for none.
        if self.arxiv_id == "":
            object.__setattr__(self, "arxiv_id", None)
        # Text from a source is shown as it came, but with what is not a character (a lone
        # surrogate) as U+FFFD: stored, it failed the whole unit (and the rest of the source).
        for name in ("title", "abstract"):
            value = getattr(self, name)
            if not value.isascii():
                object.__setattr__(self, name, as_characters(value))
        if not all(a.isascii() for a in self.authors):
            object.__setattr__(self, "authors", tuple(as_characters(a) for a in self.authors))

    @property
    def title_key(self) -> str:
        return normalize_title(self.title)

    @property
    def key(self) -> str:
        """Identity: `arxiv:<id>` when the id is known, else `title:<normalized title>`."""
        return f"arxiv:{self.arxiv_id}" if self.arxiv_id else f"title:{self.title_key}"


def as_characters(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def clean_text(text: str) -> str:
    """Collapse hard line breaks and runs of whitespace (titles and abstracts from feeds)."""
    return " ".join(text.split())
