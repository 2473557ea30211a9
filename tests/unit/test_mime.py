"""worker.mime writes the bytes the stdlib wrote: an EmailMessage with the same headers and two
quoted-printable parts, flattened with email.policy.SMTP (the path it replaced, kept here as
the reference), for names, subjects, addresses, lists and bodies of every kind."""

from __future__ import annotations

import binascii
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.policy import SMTP, default
from email.utils import format_datetime, formataddr

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.unit.test_render_golden import sample_digest
from worker import mime
from worker.digest_mail import DEFAULT_SENDER, assemble_email
from worker.render import DigestContext, clean_line, digest_context


def stdlib_message(ctx: DigestContext, sender: str | None, text: str, html: str,
                   boundary: str) -> bytes:
    """The digest email as render.assemble_message built it before worker.mime, flattened as
    Rendered.message_bytes flattened it, with `boundary` instead of a random one."""
    message = EmailMessage(policy=mime.POLICY)
    message["From"] = sender or DEFAULT_SENDER
    message["To"] = formataddr((clean_line(ctx.subscriber_name), ctx.subscriber_email or ""))
    message["Subject"] = ctx.subject
    message["Date"] = format_datetime(ctx.created_at)
    message["Message-ID"] = ctx.message_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-Paper-Digest"] = f"{ctx.subscriber_id}; digest={ctx.digest_id}"
    if ctx.list_id:
        message["List-Id"] = f"paper-digest <{ctx.list_id}>"
    if ctx.unsubscribe:
        message["List-Unsubscribe"] = ", ".join(f"<{uri}>" for uri in ctx.unsubscribe)
        if any(uri.startswith("https:") for uri in ctx.unsubscribe):
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["MIME-Version"] = "1.0"
    message["Content-Type"] = "multipart/alternative"
    message.set_payload([_stdlib_part(text, "plain"), _stdlib_part(html, "html")])
    message.set_boundary(boundary)
    return message.as_bytes(policy=SMTP)


def _stdlib_part(body: str, subtype: str) -> EmailMessage:
    part = EmailMessage(policy=mime.POLICY)
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(binascii.b2a_qp(body.encode("utf-8"), istext=True).decode("ascii"))
    return part


def _boundary(data: bytes) -> str:
    found = re.search(rb'boundary="([^"]+)"', data)
    assert found
    return found.group(1).decode("ascii")


BASE = digest_context(sample_digest(), name="Ada Lovelace", email="ada@example.org",
                      profile_file=None)
# Text with what is hard for headers and quoted-printable: line breaks of every kind, "=",
# dots and "From " at line starts, encoded-word look-alikes, quotes, long words, non-ASCII.
TRICKY = st.sampled_from(["\r\n", "\r", "\n", "=", ".", "\n.\n", "From ", "=?utf-8?q?x?=",
                          '"', "\\", ",", "(", ")", "<", ">", "@", ";", ":", " ", "  ", "\t",
                          "é", "“Z”", "日本語", "\u202e", "\x00", "\x0b", "x" * 80, "y" * 300])
TEXT = st.lists(st.one_of(st.text(max_size=40), TRICKY), max_size=12).map("".join)
NAMES = st.one_of(TEXT, st.sampled_from(["Ada Lovelace", "Zoë “Z” O'Brien, PhD", "", "A. B.",
                                         "a" * 120, "Ünïcödé " * 12]))
EMAILS = st.one_of(st.sampled_from(["ada@example.org", "a.b+c@sub.example.co.uk"]),
                   st.from_regex(r"\A[A-Za-z0-9._%+'-]{1,40}@[a-z0-9-]{1,30}\.[a-z]{2,8}\Z"))
URIS = st.from_regex(r"\A(mailto:[a-z]{1,20}@example\.org\?subject=[A-Za-z0-9%]{0,60}"
                     r"|https://[a-z.]{1,30}/[A-Za-z0-9/?=&%_.-]{0,120})\Z")
SENDERS = st.one_of(st.none(), st.sampled_from([
    "Paper Digest <digest@example.org>", "d@example.org", "Büro für Papiere <b@example.org>",
    '"Lab, Papers" <papers@example.org>', "=?utf-8?q?Caf=C3=A9?= <cafe@example.org>"]))
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                         timezone(timedelta(hours=-8))])


@st.composite
def contexts(draw: st.DrawFn) -> DigestContext:
    created = draw(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),
                                timezones=ZONES))
    return replace(
        BASE, subscriber_name=draw(NAMES), subscriber_email=draw(EMAILS),
        subscriber_id=draw(st.one_of(st.text(max_size=60), st.sampled_from(["ada", "a\nb"]))),
        digest_id=draw(st.integers(1, 10 ** 12)), created_at=created,
        message_id=f"<digest.{draw(st.text('0123456789abcdef', min_size=1, max_size=40))}"
                   f".{draw(st.from_regex(r'[a-z0-9.]{1,30}', fullmatch=True))}@example.org>",
        items=BASE.items[:draw(st.integers(0, 2))],
        list_id=draw(st.one_of(st.none(), st.from_regex(r"[a-z0-9.-]{1,80}", fullmatch=True))),
        unsubscribe=tuple(draw(st.lists(URIS, max_size=3))))


def _built(make):  # type: ignore[no-untyped-def]
    try:
        return make()
    except (ValueError, UnicodeError) as exc:  # refused: both ways must refuse alike
        return type(exc)


@settings(max_examples=300, deadline=None)
@given(ctx=contexts(), sender=SENDERS, text=TEXT, html=TEXT)
@example(ctx=BASE, sender=None, text="", html="")
@example(ctx=replace(BASE, subscriber_name="=?utf-8?b?w6k=?="), sender=None, text="=", html=".")
@example(ctx=replace(BASE, message_id=f"<digest.{'0' * 17}.{'0' * 28}@example.org>"),
         sender=None, text="", html="")
@example(ctx=replace(BASE, subscriber_name="x" * 80 + " " + "y" * 80), sender=None, text="",
         html="")  # the stdlib's folder left an empty line: Subject and the rest were body
@example(ctx=replace(BASE, subscriber_name=":" + "x" * 80 + " " + "x" * 80), sender=None,
         text="", html="")
@example(ctx=BASE, sender=None, text="\n\r\r\n", html="a\rb\r\r\nc")  # a lone CR, then CRLF
def test_bytes_are_the_stdlib_bytes(ctx: DigestContext, sender: str | None, text: str,
                                    html: str) -> None:
    """The stdlib's bytes for the text with its line ends made LF (the stdlib, like the C
    quoted-printable encoder, drops a lone CR before a CRLF, and a line with it), and every
    line back when read."""
    mail = _built(lambda: assemble_email(ctx, sender=sender, text=text, html=html))
    as_lf = _lines(text), _lines(html)
    if isinstance(mail, type):
        assert _built(lambda: stdlib_message(ctx, sender, *as_lf, "b")) is mail
        return
    expected = stdlib_message(ctx, sender, *as_lf, _boundary(mail.data))
    if isinstance(mime.mailbox(clean_line(ctx.subscriber_name), ctx.subscriber_email or ""),
                  mime.Folded):  # a name the stdlib folds wrong: To is ours, the rest theirs
        expected = _TO.sub(_to_header(mail.data).encode(), expected, count=1)
    if "=?" in ctx.subject:  # the stdlib decoded it: the Subject's encoded-words are ours
        expected = _SUBJECT.sub(_SUBJECT.search(mail.data).group(),  # type: ignore[union-attr]
                                expected, count=1)
    assert mail.data == expected
    _check_reads_back(mail, ctx, text, html)


_TO = re.compile(rb"^To:.*?\r\n(?! )", re.MULTILINE | re.DOTALL)
_SUBJECT = re.compile(rb"^Subject:.*?\r\n(?! )", re.MULTILINE | re.DOTALL)


def _to_header(data: bytes) -> str:
    found = _TO.search(data)
    assert found
    return found.group().decode("ascii")


def _check_reads_back(mail: mime.Mail, ctx: DigestContext, text: str, html: str) -> None:
    parsed = message_from_bytes(mail.data, policy=default)
    assert not parsed.defects
    reference = EmailMessage(policy=mime.POLICY)  # what the headers read as, set the old way
    reference["To"] = formataddr((clean_line(ctx.subscriber_name), ctx.subscriber_email or ""))
    reference["Subject"] = ctx.subject
    if "=?" not in ctx.subscriber_name:  # (which the stdlib decoded, as its own text)
        assert mail.to == str(reference["To"])  # what reports said before
    assert mail.recipients == (ctx.subscriber_email,)
    # One address, the subscriber's, whatever the name; the name as written, as mail clients
    # read it (RFC 2047: no space between adjacent encoded-words, which the stdlib keeps).
    assert [a.addr_spec for a in parsed["To"].addresses] == [ctx.subscriber_email]
    name = clean_line(ctx.subscriber_name)
    to = str(make_header(decode_header(_to_header(mail.data)[3:].replace("\r\n", "").strip())))
    shown = f"{name} <{ctx.subscriber_email}>" if name else ctx.subscriber_email
    if isinstance(mime.mailbox(name, ctx.subscriber_email or ""), mime.Folded):
        assert to == shown
    else:  # the stdlib's: its encoded-words do not always keep the spaces next to them
        assert _words(to) == _words(shown)
    # The stdlib's encoded-words do not always keep the spaces next to them (as before);
    # ours, for text with "=?" in it, give it back as written.
    if "=?" in ctx.subject:
        assert parsed["Subject"] == ctx.subject
    else:
        assert _words(parsed["Subject"]) == _words(reference["Subject"])
    # A Message-ID too long for its line is folded onto the next (the stdlib's bytes, as
    # before); reading it back keeps that folding white space in front of the id (CFWS).
    assert parsed["Message-ID"].lstrip() == ctx.message_id
    assert parsed["List-Unsubscribe"] == (", ".join(f"<{uri}>" for uri in ctx.unsubscribe)
                                          if ctx.unsubscribe else None)
    assert parsed.get_content_type() == "multipart/alternative"
    plain, rich = parsed.iter_parts()
    assert (plain.get_content_type(), rich.get_content_type()) == ("text/plain", "text/html")
    assert _lines(plain.get_content()) == _lines(text)
    assert _lines(rich.get_content()) == _lines(html)


def test_a_name_of_words_longer_than_a_line_leaves_no_empty_line_in_the_headers() -> None:
    """CPython 3.11 folds `To: xxx…(80) yyy…(80) <ada@…>` with an empty line between the words,
    which ends the header block: Subject, Date and the MIME headers became the body."""
    name = "x" * 80 + " " + "y" * 80
    ctx = replace(BASE, subscriber_name=name)
    mail = assemble_email(ctx, sender=None, text="t", html="h")
    head, _ = mail.data.split(b"\r\n\r\n", 1)
    assert all(line.strip() for line in head.split(b"\r\n"))
    parsed = message_from_bytes(mail.data, policy=default)
    assert [(a.display_name, a.addr_spec) for a in parsed["To"].addresses] == [
        (name, "ada@example.org")]
    assert name in ctx.subject
    assert _words(parsed["Subject"]) == _words(ctx.subject)
    assert parsed.get_content_type() == "multipart/alternative"
    assert mime.header("To", f"{name} <a@b.org>") == (
        f"To:\r\n {'x' * 80}\r\n {'y' * 80}\r\n <a@b.org>\r\n")


def test_a_non_ascii_name_with_a_comma_reads_back_as_one_address() -> None:
    mail = assemble_email(replace(BASE, subscriber_name="Zoë O'Brien, PhD"), sender=None,
                          text="", html="")
    to = message_from_bytes(mail.data, policy=default)["To"]
    assert [a.addr_spec for a in to.addresses] == ["ada@example.org"]


def _words(text: object) -> str:
    return "".join(str(text).split())


def _lines(body: str) -> str:
    return re.sub(r"\r\n|\r", "\n", body)  # mail has CRLF line ends; the text may have any


HEADERS = [
    ("Subject", "Paper digest for Ada: 2 new papers (Fri 20 Nov)"),
    ("Subject", "x" * 72), ("Subject", "x" * 73), ("Subject", "x" * 200),
    ("Subject", "word " * 30), ("Subject", "Zoë " * 20), ("Subject", "=?utf-8?q?x?="),
    ("Subject", ""), ("Subject", " leading"), ("Subject", "trailing "), ("Subject", "a\tb"),
    ("Subject", "a  b"), ("Subject", "\u202e"),
    ("To", "Ada <ada@example.org>"), ("To", '"Ada L." <ada@example.org>'),
    ("To", '"Zo\\"e" <z@example.org>'), ("To", "=?utf-8?b?WsO2?= <z@example.org>"),
    ("To", "Ada <>"), ("To", "a@example.org"), ("To", "a@b, c@d"), ("To", "a (comment) <a@b>"),
    ("From", "Paper Digest <digest@example.org>"), ("From", "Büro <b@example.org>"),
    ("Date", "Fri, 20 Nov 2026 07:30:00 +0000"), ("Date", "Fri, 20 Nov 2026 7:30:00 GMT"),
    ("Message-ID", "<a.b@example.org>"), ("Message-ID", "<a@b> trailing"),
    ("Message-ID", "no brackets"),
    ("List-Unsubscribe", "<mailto:a@example.org>"),
    ("List-Unsubscribe", "<mailto:a@example.org>, <https://example.org/stop>"),
    ("List-Unsubscribe", "<https://example.org/" + "a" * 120 + ">"),
    ("X-Paper-Digest", "ada; digest=7"), ("X-Paper-Digest", "zoë; digest=7"),
    ("Content-Type", 'multipart/alternative; boundary="===============0123456789012345678=="'),
    ("Content-Type", 'text/plain; charset="utf-8"'), ("MIME-Version", "1.0"),
]


@pytest.mark.parametrize("name, value", HEADERS)
def test_each_header_as_the_stdlib_writes_it(name: str, value: str) -> None:
    message = EmailMessage(policy=mime.POLICY)
    message[name] = value
    # The generator writes a header with the policy it flattens with (email.policy.SMTP).
    expected = SMTP.fold(name, message[name]), str(message[name])
    if "=?" in value and mime._verbatim_kind(name) == "text":  # not the stdlib's: as written
        expected = _literal_header(name, value)  # type: ignore[assignment]
    assert (mime.header(name, value), mime.decoded(name, value)) == expected
    assert SMTP.max_line_length == mime._MAX_LINE


@settings(max_examples=500, deadline=None)
@given(name=st.sampled_from(["Subject", "To", "From", "X-Paper-Digest", "List-Id", "Date",
                             "Message-ID", "List-Unsubscribe", "Content-Type"]), value=TEXT)
@example(name="To", value="x" * 80 + "(")  # the stdlib parses it, then fails to fold it
def test_any_header_as_the_stdlib_writes_it(name: str, value: str) -> None:
    expected = _stdlib_header(name, value)
    if "=?" in value and mime._verbatim_kind(name) == "text":  # not the stdlib's: as written
        expected = _literal_header(name, value)
    if isinstance(expected, type):  # a line break; the stdlib failing on odd addresses
        with pytest.raises(expected):
            mime.header(name, value)
        return
    assert (mime.header(name, value), mime.decoded(name, value)) == expected


def _literal_header(name: str, value: str) -> tuple[str, str] | type:
    """Text with "=?" in it, written so that it reads back as written (encoded-words)."""
    try:
        written = mime.header(name, value)
    except ValueError:
        return ValueError
    assert all(line.startswith(" ") for line in written.split("\r\n")[1:-1])
    unfolded = written.partition(": ")[2].replace("\r\n", "")
    assert str(make_header(decode_header(unfolded))) == value
    return written, value


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\r\nb", "a\u2028b", "a\x0bb"])
def test_line_breaks_in_a_value_are_refused_as_the_stdlib_refuses_them(value: str) -> None:
    with pytest.raises(ValueError):
        EmailMessage(policy=mime.POLICY)["Subject"] = value
    with pytest.raises(ValueError):
        mime.header("Subject", value)


def test_boundary_is_the_stdlibs_shape_and_the_same_for_a_message() -> None:
    chosen = mime.boundary("<digest.1@example.org>", [b""])
    assert re.fullmatch(r"={15}\d{19}==", chosen)
    assert chosen == mime.boundary("<digest.1@example.org>", [b"other"])
    assert chosen != mime.boundary("<digest.2@example.org>", [b""])


def test_boundary_avoids_the_bodies() -> None:
    seed = "<digest.1@example.org>"
    base = mime.boundary(seed, [])
    clash = b"x\r\n--" + base.encode() + b"\r\n"
    assert mime.boundary(seed, [clash]) == base + ".0"
    assert mime.boundary(seed, [b"--" + base.encode() + b".0", clash]) == base + ".1"


def test_a_body_holding_the_boundary_cannot_break_the_message() -> None:
    # Quoted-printable writes "=" as "=3D", so a body cannot contain a boundary made of "=".
    boundary = mime.boundary(BASE.message_id, [])
    body = f"--{boundary}\n--{boundary}--\n"
    mail = assemble_email(BASE, sender=None, text=body, html=body)
    assert _boundary(mail.data) == boundary
    _check_reads_back(mail, BASE, body, body)


# Addresses and message ids in the plain forms header() writes as they are, and the near
# misses around them (quotes, dots and double spaces in names, odd dots in addresses,
# literals, comments, lines too long), each held to what the stdlib writes and reads back.
ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
ATOMS = st.text(ATEXT, min_size=1, max_size=12)
NEAR = st.sampled_from([".", "..", '"', " ", "  ", "(c)", "[1.2.3.4]", "@", ",", ":", ";",
                        "<", ">", "\\", "é", "=?", "?="])
PIECES = st.lists(st.one_of(ATOMS, ATOMS, ATOMS, NEAR), min_size=1, max_size=4).map("".join)
DOT_ATOMS = st.lists(PIECES, min_size=1, max_size=3).map(".".join)
NAMES_PLAIN = st.lists(PIECES, min_size=1, max_size=5).map(" ".join)
ADDRESSES = st.one_of(
    st.builds(lambda name, local, domain: f"{name} <{local}@{domain}>", NAMES_PLAIN,
              DOT_ATOMS, DOT_ATOMS),
    st.builds(lambda local, domain: f"{local}@{domain}", DOT_ATOMS, DOT_ATOMS))
MESSAGE_IDS = st.builds(lambda left, right: f"<{left}@{right}>", DOT_ATOMS, DOT_ATOMS)


def _stdlib_header(name: str, value: str) -> tuple[str, str] | type:
    """(header as the stdlib writes it, as it reads), or the type of what it raised."""
    message = EmailMessage(policy=mime.POLICY)
    try:
        message[name] = value
        folded = SMTP.fold(name, message[name])
    except Exception as exc:  # in parsing or in folding (both seen for odd addresses)
        return type(exc)
    # A fold with a line that does not go on from the one before (`To: a@\r\n0.b.é`, or a
    # lone CR) is refused by worker.mime: that line would be a header of its own.
    if re.search(r"\r(?!\n)|(?<!\r)\n|\r\n(?![ \t])", folded[:-2]):
        return ValueError
    return folded, str(message[name])


@settings(max_examples=1500, deadline=None)
@given(name=st.sampled_from(["To", "From", "Cc", "Reply-To", "Sender"]), value=ADDRESSES)
@example(name="To", value="Subscriber 299 <s299@example.org>")
@example(name="To", value="Jean-Luc O'Brien <j.l+x@ex-ample.org>")
@example(name="To", value="Ada  Lovelace <ada@example.org>")
@example(name="To", value='"Ada L." <ada@example.org>')
@example(name="To", value="A" * 60 + " <ada@example.org>")
def test_plain_addresses_as_the_stdlib_writes_and_reads_them(name: str, value: str) -> None:
    expected = _stdlib_header(name, value)
    if isinstance(expected, type):
        with pytest.raises(expected):
            mime.header(name, value)
        return
    assert (mime.header(name, value), mime.decoded(name, value)) == expected


@settings(max_examples=1000, deadline=None)
@given(value=MESSAGE_IDS)
@example(value="<digest.d97b1afd5aaf4deb8be08b820a7ffe1f.s00299@localhost>")
@example(value="<x@" + "y" * 70 + ">")
@example(value="<a@[1.2.3.4]>")
def test_plain_message_ids_as_the_stdlib_writes_and_reads_them(value: str) -> None:
    expected = _stdlib_header("Message-ID", value)
    if isinstance(expected, type):
        with pytest.raises(expected):
            mime.header("Message-ID", value)
        return
    assert (mime.header("Message-ID", value), mime.decoded("Message-ID", value)) == expected


def test_the_plainest_forms_take_the_fast_path() -> None:
    # (the tests above would pass if nothing did: these are the forms digests use)
    assert mime._plain("To", "Subscriber 299 <s299@example.org>")
    assert mime._plain("Message-ID", "<digest.d97b1afd5aaf4deb8be08b820a7ffe1f.s1@localhost>")
    assert not mime._plain("To", '"Ada L." <ada@example.org>')
    assert not mime._plain("Date", "Fri, 20 Nov 2026 07:30:00 +0000")


@settings(max_examples=300, deadline=None)
@given(seed=st.text(max_size=60), clashes=st.integers(0, 1200))
@example(seed="<digest.1@example.org>", clashes=0)
def test_the_multipart_header_is_the_stdlibs_fold(seed: str, clashes: int) -> None:
    mark = mime.boundary(seed, [])
    if clashes:  # the suffixed forms boundary() falls back to
        mark = f"{mark}.{clashes - 1}"
    assert mime._BOUNDARY.fullmatch(mark)  # written without the stdlib
    value = f'multipart/alternative; boundary="{mark}"'
    message = EmailMessage(policy=mime.POLICY)
    message["Content-Type"] = value
    assert mime.multipart_header(mark) == SMTP.fold("Content-Type", message["Content-Type"])
    assert mime.multipart_header(mark) == mime._folded("Content-Type", value)


@pytest.mark.parametrize("mark", ["b", "x" * 70, "=" * 15 + "1" * 19 + "=", "a b"])
def test_other_marks_are_folded_by_the_stdlib(mark: str) -> None:
    value = f'multipart/alternative; boundary="{mark}"'
    message = EmailMessage(policy=mime.POLICY)
    message["Content-Type"] = value
    assert mime.multipart_header(mark) == SMTP.fold("Content-Type", message["Content-Type"])
