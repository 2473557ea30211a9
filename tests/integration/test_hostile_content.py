"""Hostile text in dumps (and in a subscriber's name) is escaped or rejected in every output:
the HTML and text parts of the email, its headers, the Markdown file, `preview`, `status`,
the run summary and the log lines.

The dumps are written here: tags and event handlers, control characters and ANSI escapes,
bidi overrides, Markdown and math specials, a 100k-character line, a 100k-character title.
"""

from __future__ import annotations

import os
import re
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from tests.integration import faultkit as fk
from tests.integration.smtpserver import Handler, smtp_server

# Bidi embeddings, overrides and isolates (they reorder what follows), C0/C1 controls but
# tab and newline, DEL, and the Unicode line separators.
FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
HOSTILE = [  # (title, abstract); every title names "segmentation" so it reaches the digest
    ("<script>alert(1)</script> Segmentation of tags",
     "We study segmentation <script>alert('abstract')</script> in the wild."),
    ('Segmentation "><img src=x onerror=alert(2)> of attributes',
     "Abstract '><svg onload=alert(3)> about segmentation."),
    ("Segmentation \u202eelbisivni\u202c with \u2066isolates\u2069 and \u200fmarks",
     "segmentation \u202e reversed text \u2067 isolate"),
    ("Segmentation \x1b[31mred\x1b[0m \x07bell \x0bvt \x0cff \x85nel \u2028ls\u2029ps controls",
     "segmentation \x1b[2J\x1b[H clear screen\x1b]0;title\x07 and \x1f\x7f controls"),
    ("Segmentation $x^2$ *bold* _it_ [link](javascript:alert(4)) `code` # | ~ \\ <b>bold</b>",
     "segmentation $$\\int$$ **x** [a](javascript:b) ![img](http://x/y.png) <!-- c --> &lt;i&gt;"),
    ("Segmentation of one very long line",
     "segmentation " + "word " * 20_000 + "A" * 100_000),  # a 200k-character line
]
LONG_TITLE = ("T" * 100_000 + " segmentation", "an abstract")  # rejected: out of step
NUL = ("Segmentation with a NUL \x00 byte", "segmentation")  # rejected: binary
NASTY_NAME = 'Eve\\r\\nBcc: victim@example.com\\r\\n\\u202eX-Evil: 1'  # TOML escapes
TAGS = {"html", "head", "meta", "title", "style", "body", "div", "header", "h1", "p",
        "article", "h2", "span", "a", "mark", "strong", "footer", "code"}  # the template's


class RawHandler(Handler):
    """Also keeps each message as it came over the wire."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.raw.append(envelope.content)
        return await super().handle_DATA(server, session, envelope)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _write(root: Path) -> Path:
    folder = root / "dumps"
    folder.mkdir(parents=True)
    (folder / "hostile.txt").write_text(fk.dump_text(HOSTILE), encoding="utf-8")
    (folder / "long_title.txt").write_text(fk.dump_text([LONG_TITLE]), encoding="utf-8")
    (folder / "nul.txt").write_text(fk.dump_text([NUL]), encoding="utf-8")
    for path in folder.iterdir():
        os.utime(path, (fk.WRITTEN.timestamp(), fk.WRITTEN.timestamp()))
    return folder


def _config(root: Path, url: str, port: int) -> Path:
    config = fk.config_dir(root, url, ["eve"], smtp_port=port)
    text = fk.subscriber("eve", deliver=("email", "markdown")).replace(
        'name = "Eve"', f'name = "{NASTY_NAME}"')
    (config / "subscribers" / "eve.toml").write_text(text, encoding="utf-8")
    return config


def check_html(html: str) -> None:
    html = html.replace("\r\n", "\n")  # the line ends of a decoded email part
    parser = Tags()
    parser.feed(html)
    assert {tag for tag, _ in parser.tags} <= TAGS
    for tag, attrs in parser.tags:
        assert not any(name.startswith("on") for name, _ in attrs), tag
        assert not any((value or "").strip().lower().startswith("javascript:")
                       for _, value in attrs), tag
    text = "".join(parser.text)
    assert "<script>alert(1)</script> Segmentation" in text  # shown, as text
    assert not FORBIDDEN.search(text)


def check_markdown(markdown: str) -> None:
    assert not FORBIDDEN.search(markdown)
    # GitHub-like rendering, raw HTML allowed: nothing from the dump may become markup.
    html = MarkdownIt("commonmark", {"html": True}).render(markdown)
    parser = Tags()
    parser.feed(html)
    produced = {tag for tag, _ in parser.tags}
    assert produced <= {"h1", "h2", "p", "strong", "em", "blockquote", "hr", "code"}, produced
    # no math mode either: simple LaTeX is written out (worker.mathtext), a `$` escaped
    assert "$x^2$" not in markdown and "Segmentation x² \\*bold\\*" in markdown
    text = "".join(parser.text)
    assert "<script>alert(1)</script> Segmentation" in text
    assert "[link](javascript:alert(4))" in text  # the link is text, not a link


def check_text(plain: str) -> None:
    plain = plain.replace("\r\n", "\n")
    assert not FORBIDDEN.search(plain)
    # Lines fit 80 columns but for one word longer than a line (a link, a path), kept whole
    # on a line of its own so that it can be copied; RFC 5322 bounds even that.
    assert all(len(line) <= 80 or " " not in line.strip() for line in plain.splitlines())
    assert max(len(line) for line in plain.splitlines()) <= 998


def check_headers(message: EmailMessage, raw: bytes, envelope: tuple[str, list[str]]) -> None:
    assert envelope == ("digest@example.org", ["eve@example.org"])
    assert message["Bcc"] is None and message["X-Evil"] is None
    for name in ("To", "Subject"):
        value = str(message[name])
        assert "\r" not in value and "\n" not in value and not FORBIDDEN.search(value)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"^(Bcc|X-Evil):", head, re.MULTILINE | re.IGNORECASE)
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998  # RFC 5322


def check_lines(output: str) -> None:
    """Summaries, status and logs: one event per line, no content from dumps, bounded."""
    assert not FORBIDDEN.search(output)
    assert "<script" not in output and "onerror" not in output
    assert max((len(line) for line in output.splitlines()), default=0) < 1000


def test_hostile_dump_text_is_escaped_everywhere(tmp_path: Path, database_url: str) -> None:
    _write(tmp_path)
    with smtp_server(RawHandler()) as (handler, port):
        config = _config(tmp_path, database_url, port)
        result = fk.run(config, "-v", "run", "--now", fk.NOW)
        status = fk.run(config, "status")
        previews = [fk.run(config, "preview", "eve", "--since", "7d", "--now", fk.NOW,
                           "--format", fmt) for fmt in ("md", "txt", "html")]
    assert result.code == 3  # two dumps were refused, with the reason
    assert "long_title.txt: line 5: title of 100013 characters" in result.stdout
    assert "nul.txt: binary data (NUL bytes)" in result.stdout
    assert isinstance(handler, RawHandler)
    (message,), (raw,), (envelope,) = handler.messages, handler.raw, handler.envelopes
    check_headers(message, raw, envelope)
    plain = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    check_html(html)
    check_text(plain)
    (markdown_file,) = (tmp_path / "out" / "eve").glob("*.md")
    check_markdown(markdown_file.read_text(encoding="utf-8"))
    md, txt, htm = (p.stdout for p in previews)
    assert all(p.code == 0 for p in previews)
    check_markdown(md)
    check_text(txt)
    check_html(htm)
    for output in (result.stdout, result.stderr, status.stdout, status.stderr):
        check_lines(output)
    # Nothing of the refused dump is on record; the hostile one is, whole.
    assert fk.scalar(database_url, "SELECT count(*) FROM papers") == len(HOSTILE)


def test_hostile_dump_file_name_cannot_forge_lines(tmp_path: Path, sqlite_url: str) -> None:
    folder = tmp_path / "dumps"
    folder.mkdir()
    name = "bad\x1b[2J\u202eevil\nERROR forged line.txt"
    (folder / name).write_text("new\n\nMar 14\n\nonly a title\n", encoding="utf-8")
    config = fk.config_dir(tmp_path, sqlite_url, ["ada"])
    result = fk.run(config, "run", "--now", fk.NOW)
    status = fk.run(config, "status")
    assert result.code == 3
    for output in (result.stdout, result.stderr, status.stdout):
        assert not FORBIDDEN.search(output)
        assert not any(line.startswith("ERROR forged") for line in output.splitlines())
    # The file is still named, escaped, so the operator can find it.
    assert r"bad\x1b[2J\u202eevil\nERROR forged line.txt" in result.stdout
