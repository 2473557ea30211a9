"""Every email a run writes is a well-formed message to a strict reader: Python's parser under
both its policies finds no defect in the message, its parts or any header; lines end in
CRLF and hold at most 998 octets; the header block is ASCII. Subscribers as they may be
named: non-ASCII and quoted display names, ids with dots anywhere the file name allows,
sections by interest, and [email] and [feedback] on (list headers, signed links)."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from tests.integration.helpers import add_seed_day, make_config, run_cli

SECRET = {"PAPER_DIGEST_FEEDBACK_SECRET": "0123456789abcdef0123"}
LISTS = """
[email]
list_id = "papers.lab.example.org"
unsubscribe = ["mailto:papers-admin@lab.example.org?subject=unsubscribe%20{subscriber}"]
help = "Ana, papers-admin@lab.example.org"
[feedback]
url = "https://papers.example.org/digest"
"""
SUBSCRIBER = """
name = {name}
email = "{address}@example.org"
deliver = ["email"]
min_score = 0.1
max_items = {items}
{extra}
[interests]
keywords = ["language model", "segmentation", "robot", "vision"]
"""
SUBSCRIBERS = {  # file name (the id) -> name, items, extra
    "ada": ('"Ada Lovelace"', 30, 'group_by = "interest"'),
    "zoe.": ('"Zoë Ørsted-Müller"', 1, ""),  # an id that ends in a dot
    "t..aro": ('"山田 太郎"', 5, ""),  # and one with two dots in a row
    "quoted": ("""'Lovelace, Adé "Ada" Byron-King of a long name that goes on'""", 3, ""),
}


def _messages(root: Path, database_url: str, seeds: Path, extra: str) -> list[Path]:
    config = make_config(root, database_url, {
        sub_id: SUBSCRIBER.format(name=name, address=sub_id.replace(".", ""), items=items,
                                  extra=more)
        for sub_id, (name, items, more) in SUBSCRIBERS.items()}, extra=extra)
    add_seed_day(root, seeds, "2026-03-13")
    result = run_cli(config, "run", "--now", "2026-03-13T20:00:00+00:00", env=SECRET)
    assert result.exit_code == 0, result.output
    found = sorted((root / "out" / "outbox").glob("*/*.eml"))
    assert len(found) == len(SUBSCRIBERS)
    return found


def _defects(data: bytes) -> list[str]:
    found = []
    for name, policy in (("default", email.policy.default), ("compat32", email.policy.compat32)):
        message = email.message_from_bytes(data, policy=policy)
        for part in message.walk():
            found += [f"{name} {part.get_content_type()}: {d!r}" for d in part.defects]
            for header, value in part.items():
                found += [f"{name} {header}: {d!r}" for d in getattr(value, "defects", ())]
    return found


@pytest.mark.parametrize("lists", [False, True], ids=["plain", "email-and-feedback"])
def test_every_email_parses_without_a_defect(tmp_path: Path, database_url: str,
                                             seeds_dir: Path, lists: bool) -> None:
    """A subscriber file named `zoe..toml` (id `zoe.`) made the Message-ID
    `<digest.<hex>.zoe.@host>`: a msg-id's left part is a dot-atom, which neither ends in a
    dot nor has two in a row, and a strict parser reports it (Python's: "invalid trailing
    '.'", "invalid repeated '.'")."""
    for path in _messages(tmp_path, database_url, seeds_dir, LISTS if lists else ""):
        data = path.read_bytes()
        assert _defects(data) == [], path
        assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
        assert max(len(line) for line in data.split(b"\r\n")) <= 998, path
        head = data.split(b"\r\n\r\n", 1)[0]
        assert head.isascii(), path
        message = email.message_from_bytes(data, policy=email.policy.default)
        assert message["Message-ID"].startswith("<digest.")
