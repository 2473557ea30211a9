"""Email messages written straight to bytes: the stdlib's output without its object model.

`alternative(headers, text, html)`, of parts quoted_printable() encoded, writes what building
an EmailMessage (the headers set one by one, two quoted-printable UTF-8 parts) and flattening
it with email.policy.SMTP wrote, byte for byte (tests/unit/test_mime.py holds it to the
stdlib), at a small part of the cost: most of that went to parsing every header value into a
token tree and folding it again.

Headers: a value that is printable ASCII, fits on one line and reads back as written is
written as is, which is what the stdlib's folding does with it: unstructured text, and
addresses and message ids in their plainest forms (`Name Words <local@domain>`, `<id@host>`,
atoms only), which its parser keeps as given. Anything else (non-ASCII names, quoted names,
long subjects, dates) is handed, alone, to the stdlib's header classes and folded by them.
The multipart's Content-Type, whose boundary is ours, is written in the one shape the stdlib
folds it into. tests/unit/test_mime.py holds every path to the stdlib's bytes.
"""

from __future__ import annotations

import binascii
import email.policy
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email import message_from_bytes
from email.header import Header
from email.headerregistry import (
    AddressHeader,
    BaseHeader,
    HeaderRegistry,
    MessageIDHeader,
    UnstructuredHeader,
)
from email.message import EmailMessage
from email.utils import formataddr
from functools import lru_cache
from typing import Any


class _UriListHeader(UnstructuredHeader, BaseHeader):
    """`<uri>, <uri>` (List-Unsubscribe): folded after its commas, never encoded. The generic
    folding turns a URI longer than a line into RFC 2047 encoded-words, which no mail client
    reads as a URI. The URIs are printable ASCII (checked when the settings are loaded)."""

    def fold(self, *, policy: Any) -> str:
        parts = [part.strip() for part in str(self).split(",")]
        return f"{self.name}: " + f",{policy.linesep} ".join(parts) + policy.linesep


class _NoEmptyLine:
    """A header class's fold, without an empty line. CPython 3.11's folder can leave one
    where a word longer than a line follows another (`To: xxx…(80) yyy…(80) <a@b>` folds to
    `To:`, ` xxx…`, ``, ` yyy…`): an empty line ends the header block, and every header after
    it would be read as part of the body. The line is dropped, so the long word goes on the
    next line, past 78 characters (a line may have 998)."""

    def fold(self, *, policy: Any) -> str:
        return _EMPTY_LINE.sub("", super().fold(policy=policy))  # type: ignore[misc]


_EMPTY_LINE = re.compile(r"(?:\r\n|\n)[ \t]*(?=\r\n|\n)")


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, but it makes each header class once (the stdlib's makes a
    new class for every header of every message, most of what setting a header costs), and
    its folds never hold an empty line (_NoEmptyLine)."""

    def __init__(self) -> None:
        super().__init__()
        self.map_to_type("list-unsubscribe", _UriListHeader)
        self._made: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        made = self._made.get(name.lower())
        if made is None:
            base = super().__getitem__(name)
            made = self._made[name.lower()] = type(base.__name__, (_NoEmptyLine, base), {})
        return made


# Parsing messages back (Mail.parse) and the header classes that fold what is not plain.
_HEADERS = _HeaderClasses()
POLICY = email.policy.default.clone(header_factory=_HEADERS)
_SMTP = POLICY.clone(linesep="\r\n")  # email.policy.SMTP with our header classes
_MAX_LINE = 78  # _SMTP.max_line_length (RFC 5322's "SHOULD")
_TEXT_LINE_ENDS = re.compile(r"\r\n|\r")
_FOLDED_CACHE = 4096  # headers whose fold is kept: the same sender, list and part headers


# RFC 5322 atoms; a phrase of them separated by single spaces, an address and a message id
# made of dot-atoms. The stdlib's parser gives these back exactly as written; anything else
# (quoted strings, comments, groups, double spaces, literals) takes the stdlib's path.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
_PHRASE = re.compile(rf"{_ATOM}(?: {_ATOM})*")
_SIMPLE = {
    "address": re.compile(rf"(?:{_ATOM}(?: {_ATOM})* <{_DOT_ATOM}@{_DOT_ATOM}>"
                          rf"|{_DOT_ATOM}@{_DOT_ATOM})"),
    "message-id": re.compile(rf"<{_DOT_ATOM}@{_DOT_ATOM}>"),
}


@lru_cache(maxsize=64)
def _verbatim_kind(name: str) -> str | None:
    """Which plain values the stdlib's header class for `name` writes back as given: any
    unstructured text ("text"), the simplest addresses ("address") or message ids
    ("message-id"); None for the rest (dates are reformatted, MIME and List-Unsubscribe
    headers fold their own ways)."""
    kind = _HEADERS[name]
    if issubclass(kind, UnstructuredHeader) and not issubclass(kind, _UriListHeader):
        return "text"
    if issubclass(kind, AddressHeader):
        return "address"
    if issubclass(kind, MessageIDHeader):
        return "message-id"
    return None


def _plain(name: str, value: str) -> bool:
    # Printable ASCII and not "=?" (the stdlib decodes encoded-words, then encodes again),
    # on one line of at most 78 characters with "Name: ". Empty values lose the space.
    if not (value.isascii() and value.isprintable() and "=?" not in value and value != ""
            and len(name) + 2 + len(value) <= _MAX_LINE):
        return False
    kind = _verbatim_kind(name)
    return kind == "text" or (kind is not None and _SIMPLE[kind].fullmatch(value) is not None)


class Folded(str):
    """A header value already in its form on the wire (mailbox()): header() writes it as is."""


def mailbox(display: str, address: str, name: str = "To") -> str:
    """`display <address>` for the header `name`, as header() is to write it.

    A display name of atoms (`Ada Lovelace`) is left to the stdlib, which folds it between
    its words. Any other (quotes, commas, angle brackets, non-ASCII, "=?") is written here as
    RFC 2047 encoded-words, folded between them, and is a Folded value: CPython 3.11's folder
    dropped the quotes of a quoted name it had to fold, or encoded one word of it and left
    its comma bare, so the rest read as addresses of their own. `"Lovelace, Adé" <a long
    address>` was two recipients, and a name `x…(80) <eve@evil.example>` made Eve the one
    the digest was for, for reply-all and for anything that reads recipients from headers
    (`sendmail -t` with an .eml file). Encoded-words are read as a name and nothing else."""
    if not display or ("=?" not in display and _PHRASE.fullmatch(display)):
        return formataddr((display, address))
    words = Header(display, "utf-8", maxlinelen=_MAX_LINE, header_name=name)
    text = words.encode(linesep="\r\n")  # the encoded-words, lines of at most 78
    last = text.rpartition("\n")[2] if "\n" in text else f"{name}: {text}"
    gap = "\r\n " if len(last) + len(address) + 3 > _MAX_LINE else " "
    return Folded(f"{text}{gap}<{address}>")


def header(name: str, value: str) -> str:
    """`name: value` and CRLF as the stdlib writes it (message[name] = value, flattened with
    email.policy.SMTP): folded at 78 characters, non-ASCII text RFC 2047-encoded.
    A value with a line break is refused with ValueError, as the stdlib refuses it; a Folded
    one (mailbox()) is written as it is."""
    if isinstance(value, Folded):
        return f"{name}: {value}\r\n"
    if _plain(name, value):
        return f"{name}: {value}\r\n"
    if _literal(name, value):
        return _encoded(name, value)
    return _folded(name, value)


def _literal(name: str, value: str) -> bool:
    """Text that holds "=?" is written as encoded-words of its own (_encoded). The stdlib
    reads an encoded-word in the text it is given, and writes what it spells: a subscriber
    named `=?utf-8?q?Eve=0D=0ABcc:_victim@evil.example?=` put a line break and a Bcc header
    of their own in the Subject. Our text is never encoded already; it says what it says."""
    return "=?" in value and _verbatim_kind(name) == "text"


@lru_cache(maxsize=_FOLDED_CACHE)
def _encoded(name: str, value: str) -> str:
    if value.splitlines() != [value]:  # line breaks of any kind, as the stdlib refuses them
        raise ValueError(f"{name} header value contains a line break: {value!r}")
    words = Header(value, "utf-8", maxlinelen=_MAX_LINE, header_name=name)
    return f"{name}: {words.encode(linesep=chr(13) + chr(10))}\r\n"


@lru_cache(maxsize=_FOLDED_CACHE)
def _folded(name: str, value: str) -> str:
    folded = str(_stdlib_header(name, value).fold(policy=_SMTP))
    # Whatever the stdlib's folder makes of a value, it stays one header: each line after
    # the first goes on from the one before (CVE-2024-6923 was a way round that).
    if _NEW_LINE.search(folded[:-2]):
        raise ValueError(f"{name} header folds into a line of its own: {value!r}")
    return folded


_NEW_LINE = re.compile(r"\r(?!\n)|(?<!\r)\n|\r\n(?![ \t])")


@lru_cache(maxsize=64)  # decoded() right after header() of the same To: parsed once
def _stdlib_header(name: str, value: str) -> Any:
    return POLICY.header_store_parse(name, value)[1]  # the ValueError for line breaks too


def shown_mailbox(display: str, address: str) -> str:
    """`display <address>` as a report says a message went to it: as a reader's client shows
    the To header mailbox() wrote. A display name holding "=?" is shown as written (the
    stdlib would decode it as an encoded-word, and refuse one that spells a line break)."""
    if "=?" in display:
        quoted = display.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{address}>'
    return decoded("To", formataddr((display, address)))


def decoded(name: str, value: str) -> str:
    """The header as a reader sees it (str() of the stdlib's header: encoded-words decoded,
    addresses normalized, their comments and needless quotes dropped)."""
    if _plain(name, value) or _literal(name, value):
        return value
    return str(_stdlib_header(name, value))


def quoted_printable(body: str) -> bytes:
    """UTF-8, quoted-printable (binascii's C encoder), CRLF line ends: a text part's body as
    the generator writes it (it turns every CR, LF and CRLF into CRLF). Line ends are made LF
    first: the encoder drops a lone CR before a CRLF (`\r\r\n` is one line end to it), so a
    line would be lost, as it was with the stdlib's generator."""
    if "\r" in body:
        body = _TEXT_LINE_ENDS.sub("\n", body)
    return binascii.b2a_qp(body.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


def boundary(seed: str, bodies: Iterable[bytes]) -> str:
    """A multipart boundary in the stdlib's shape ("=" * 15, 19 digits, "=="), its digits from
    `seed` (the Message-ID: a re-send is the same bytes). It cannot occur in quoted-printable
    bodies ("=" there is followed by hex digits or a line end, never by "="); the bodies are
    searched anyway, as the stdlib searches them, and a suffix added if it were found."""
    digits = int.from_bytes(hashlib.sha256(seed.encode("utf-8")).digest()[:8], "big")
    chosen = base = f"{'=' * 15}{digits % 10 ** 19:019d}=="
    texts = list(bodies)
    counter = 0
    while any(b"--" + chosen.encode("ascii") in text for text in texts):
        chosen = f"{base}.{counter}"
        counter += 1
    return chosen


_PART_HEADERS = "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
_MULTIPART = "multipart/alternative"
_BOUNDARY = re.compile(r"={15}\d{19}==(?:\.\d{1,6})?")  # boundary()'s shapes


def multipart_header(mark: str) -> str:
    """The multipart's Content-Type with boundary `mark`, as header() writes it. For the
    boundaries boundary() makes (one per message, so no fold of it is ever reused) this is the
    stdlib's one shape: too long for a line, broken after the ";", the quoted boundary on the
    next (tests/unit/test_mime.py checks both against the stdlib); other marks go to header()."""
    value = f'{_MULTIPART}; boundary="{mark}"'
    if _BOUNDARY.fullmatch(mark) and len(f"Content-Type: {value}") > _MAX_LINE:
        return f'Content-Type: {_MULTIPART};\r\n boundary="{mark}"\r\n'
    return header("Content-Type", value)


def alternative(headers: Iterable[tuple[str, str]], text: bytes, html: bytes, *,
                seed: str) -> bytes:
    """multipart/alternative: `headers` (in order), MIME-Version and Content-Type, then a
    text/plain and a text/html part, both UTF-8, given already encoded by quoted_printable()
    (the render layer encodes the HTML part itself, to measure it against worker.clipping's
    budget: the bytes it measured are the bytes sent, encoded once). CRLF line ends."""
    parts = [text, html]
    mark = boundary(seed, parts)
    head = "".join(header(name, value) for name, value in headers)
    head += header("MIME-Version", "1.0")
    head += multipart_header(mark)
    out = [head.encode("ascii"), b"\r\n"]
    for subtype, body in zip(("plain", "html"), parts, strict=True):
        part_head = header("Content-Type", f'text/{subtype}; charset="utf-8"') + _PART_HEADERS
        out += [f"--{mark}\r\n".encode("ascii"), part_head.encode("ascii"), body, b"\r\n"]
    out.append(f"--{mark}--\r\n".encode("ascii"))
    return b"".join(out)


@dataclass(frozen=True)
class Mail:
    """A message as sent: its bytes and its envelope."""

    data: bytes  # the message, CRLF line ends
    recipients: tuple[str, ...]  # envelope recipients (RCPT TO)
    to: str  # the To header as a reader sees it: what reports say it went to

    def parse(self) -> EmailMessage:
        """The message as an EmailMessage, for the few callers that want one (tests)."""
        message = message_from_bytes(self.data, policy=POLICY)
        assert isinstance(message, EmailMessage)
        return message
