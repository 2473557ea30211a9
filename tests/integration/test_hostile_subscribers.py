"""What one subscriber writes in their own file reaches only their own digest: their address
cannot make the relay deliver to anyone else, nor their name make the To header name anyone
else.

The messages are received by a real SMTP server on loopback; `run` is a real subprocess.
"""

from __future__ import annotations

import os
from email.header import decode_header, make_header
from pathlib import Path

from tests.integration import faultkit as fk
from tests.integration.smtpserver import smtp_server

# Addresses of one "@" that smtplib reads as another: it takes the first address of a list
# (`a,b@x`), a group's member (`a:b;c@x`) or drops a comment (`a(b)c@x`) for RCPT TO, so
# `all-staff,eve@example.org` went to the relay's local `all-staff`, whoever that reaches.
ENVELOPE_TRICKS = {
    "eve": "all-staff,eve@example.org",
    "fay": "group:postmaster;fay@example.org",
    "gus": "root(x)@example.org",
    "hal": '"root"@example.org',
}


def test_an_address_cannot_reach_another_recipient(tmp_path: Path, sqlite_url: str) -> None:
    fk.write_dumps(tmp_path, [3])
    with smtp_server() as (handler, port):
        config = fk.config_dir(tmp_path, sqlite_url, ["ada", *ENVELOPE_TRICKS], smtp_port=port)
        for sid, address in ENVELOPE_TRICKS.items():
            path = config / "subscribers" / f"{sid}.toml"
            path.write_text(path.read_text(encoding="utf-8").replace(
                f'email = "{sid}@example.org"', f"email = '{address}'"), encoding="utf-8")
        result = fk.run(config, "run", "--now", fk.NOW)
    assert handler.envelopes == [("digest@example.org", ["ada@example.org"])]
    for sid in ENVELOPE_TRICKS:  # each a broken file, named with its key; ada's digest went
        assert f"{sid}.toml:2: email: expected an address like ada@example.org" in \
            result.stdout + result.stderr
# Display names that need quoting or encoding, each with an address long enough (or a name
# long enough) that the To header is folded: CPython 3.11's folder dropped the quotes of a
# quoted name, or encoded one word of it, so the rest read as addresses of their own.
NAMES = {
    "ada": "Lovelace, Adé",
    "bob": "Bob " + "x" * 80 + " <victim@evil.example>, other@evil.example",
    "cyd": '"Cyd" <victim@evil.example>; group: third@evil.example;',
    "dan": "Dan Dañ, victim@evil.example, =?utf-8?q?x=40evil.example?=",
}
LONG = "a.very.long.local.part.that.makes.the.to.header.fold"  # + "@example.org"


def _config(root: Path, url: str, port: int) -> Path:
    config = fk.config_dir(root, url, list(NAMES), smtp_port=port)
    for sid, name in NAMES.items():
        path = config / "subscribers" / f"{sid}.toml"
        text = path.read_text(encoding="utf-8")
        text = text.replace(f'name = "{sid.title()}"', f"name = '{name}'")
        if sid == "ada":
            text = text.replace('email = "ada@', f'email = "{LONG}@')
        path.write_text(text, encoding="utf-8")
    return config


def test_a_name_cannot_make_the_to_header_name_anyone_else(tmp_path: Path,
                                                           sqlite_url: str) -> None:
    fk.write_dumps(tmp_path, [3])
    with smtp_server() as (handler, port):
        result = fk.run(_config(tmp_path, sqlite_url, port), "run", "--now", fk.NOW)
    assert result.code == 0, result.stdout + result.stderr
    assert len(handler.messages) == len(NAMES)
    for message, (_, recipients) in zip(handler.messages, handler.envelopes, strict=True):
        (address,) = message["To"].addresses  # one address, and it is the envelope's
        assert [address.addr_spec] == recipients
        sid = address.addr_spec.partition("@")[0]
        sid = "ada" if sid == LONG else sid
        # As mail clients read it (RFC 2047: no space between adjacent encoded-words; the
        # stdlib's address parser keeps one), the name is the name written.
        raw = message.as_bytes().split(b"\nTo: ", 1)[1].split(b"\nSubject: ")[0].decode()
        assert str(make_header(decode_header(raw))) == f"{NAMES[sid]} <{address.addr_spec}>"
        assert all(len(line) <= 998 for line in message.as_bytes().split(b"\n"))


# An RFC 2047 encoded-word is text like any other in a name: the stdlib decoded it in the
# Subject and wrote what it spelt, a line break and a header of its own included.
ENCODED = "=?utf-8?q?Eve=0D=0ABcc:_victim@evil.example?="


def test_an_encoded_word_in_a_name_is_shown_as_written(tmp_path: Path,
                                                       sqlite_url: str) -> None:
    fk.write_dumps(tmp_path, [3])
    with smtp_server() as (handler, port):
        config = fk.config_dir(tmp_path, sqlite_url, ["eve"], smtp_port=port)
        path = config / "subscribers" / "eve.toml"
        path.write_text(path.read_text(encoding="utf-8").replace(
            'name = "Eve"', f"name = '{ENCODED}'"), encoding="utf-8")
        result = fk.run(config, "run", "--now", fk.NOW)
    assert result.code == 0, result.stdout + result.stderr
    (message,) = handler.messages
    assert message["Bcc"] is None
    assert str(message["Subject"]).startswith(f"Paper digest for {ENCODED}: 3 new papers")
    assert handler.envelopes == [("digest@example.org", ["eve@example.org"])]


def test_a_subscriber_file_that_is_no_file_of_text_stops_no_one(tmp_path: Path,
                                                                sqlite_url: str) -> None:
    """In a shared repository a subscriber can commit a link as their file: to /dev/zero (read
    until memory ran out) or to a pipe (a read that never returns): the run, and serve's
    reload, stopped for everyone. A file larger than any profile is refused unread too."""
    fk.write_dumps(tmp_path, [3])
    with smtp_server() as (handler, port):
        config = fk.config_dir(tmp_path, sqlite_url, ["ada"], smtp_port=port)
        folder = config / "subscribers"
        (folder / "zero.toml").symlink_to("/dev/zero")
        os.mkfifo(folder / "pipe.toml")
        (folder / "huge.toml").write_text(fk.subscriber("huge") + "# x\n" * 600_000,
                                          encoding="utf-8")
        result = fk.finish(fk.launch(config, "run", "--now", fk.NOW), timeout=60)
    assert handler.envelopes == [("digest@example.org", ["ada@example.org"])]
    said = result.stdout + result.stderr
    assert f"{folder / 'zero.toml'}: not a regular file" in said
    assert f"{folder / 'pipe.toml'}: not a regular file" in said
    assert f"{folder / 'huge.toml'}: larger than 1 MiB" in said


def test_a_channel_named_twice_is_delivered_once(tmp_path: Path, sqlite_url: str) -> None:
    """`deliver = ["email", "email"]` gave the digest two deliveries of one channel, which the
    database refused: its digest was never written, the run said it was "built by another
    run at the same time" and exited 0, and so did every run after it."""
    fk.write_dumps(tmp_path, [3])
    with smtp_server() as (handler, port):
        config = fk.config_dir(tmp_path, sqlite_url, ["ada"], smtp_port=port)
        (config / "subscribers" / "bob.toml").write_text(
            fk.subscriber("bob", deliver=("email", "markdown", "email")), encoding="utf-8")
        result = fk.run(config, "run", "--now", fk.NOW)
    assert result.code == 0, result.stdout + result.stderr
    assert "another run" not in result.stdout, result.stdout
    assert sorted(to for _, (to,) in handler.envelopes) == ["ada@example.org", "bob@example.org"]
    assert len(list((tmp_path / "out" / "bob").glob("*.md"))) == 1
    assert fk.delivery_statuses(sqlite_url) == {"sent": 3}
