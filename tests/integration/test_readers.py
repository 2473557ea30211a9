"""A subscriber id is a file name, and names are reused: a lab's next "alex" must not get the
last one's cursor, marks or unsubscribe, nor be reached by the links in the last one's digests
(worker.readers). Whole runs on a real database (SQLite, and PostgreSQL when configured), the
digests as .eml files, their links answered by the feedback desk."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from click.testing import Result
from sqlalchemy import Engine, select

from tests.integration.helpers import add_seed_day, make_config, run_cli
from worker.feedback import Desk, Page
from worker.store.marks import marks_for
from worker.store.opening import open_engine
from worker.store.readers import removed_since
from worker.store.schema import digests, subscribers
from worker.store.subscriptions import unsubscribed

SECRET = "feedback-secret-for-tests"
ENV = {"PAPER_DIGEST_FEEDBACK_SECRET": SECRET}
PUBLIC = "https://papers.example.org/digest"
NOW = datetime(2026, 3, 12, 21, tzinfo=UTC)  # the first reader reads its first digest
SUB = """name = "{name}"
email = "{email}"
deliver = ["email"]
min_score = 0.0
max_items = 3
[interests]
keywords = ["model", "language", "vision"]
"""


def _config(tmp_path: Path, database_url: str, **readers: str) -> Path:
    return make_config(tmp_path, database_url,
                       {sid: SUB.format(name=sid.title(), email=address)
                        for sid, address in readers.items()},
                       extra=f'[feedback]\nurl = "{PUBLIC}"\n')


def _run(config: Path, day: str, hour: int = 20) -> Result:
    result = run_cli(config, "run", "--now", f"{day}T{hour}:00:00+00:00", env=ENV)
    assert result.exit_code == 0, result.output
    return result


def _mails(tmp_path: Path, sid: str) -> list[EmailMessage]:
    """The subscriber's digests as written (.eml: no [smtp]), oldest first."""
    files = sorted((tmp_path / "out" / "outbox" / sid).glob("*.eml"),
                   key=lambda f: f.stat().st_mtime_ns)
    return [email.message_from_bytes(f.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for f in files]


def _links(mail: EmailMessage) -> tuple[str, str]:
    """A digest's first "more like this" link and its unsubscribe link."""
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    like = re.search(rf"{PUBLIC}/mark\?\S+v=like\S*", text).group(0)  # type: ignore[union-attr]
    [leave] = re.findall(r"<([^>]+/unsubscribe\?[^>]+)>", str(mail["List-Unsubscribe"]))
    return like, leave


def _click(desk: Desk, url: str, method: str = "POST") -> Page:
    """The desk's answer to a link, as serve gives it at .../mark or .../unsubscribe."""
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query))
    if parts.path.endswith("/unsubscribe"):
        return desk.unsubscribe(method, params)
    return desk.answer(method, params)


def _new_papers(result: Result) -> int:
    return int(re.search(r"^Papers: \d+ read, (\d+) new\.$", result.output, re.M).group(1))  # type: ignore[union-attr]


def _ranked(result: Result, sid: str) -> int:
    """How many papers the subscriber's digest of this run ranked: shown and lower."""
    found = re.search(rf"^  {sid}: (\d+) papers?(?:, (\d+) more ranked lower)?$",
                      result.output, re.M)
    assert found, result.output
    return int(found.group(1)) + int(found.group(2) or 0)


def _alex_liked_and_left(tmp_path: Path, seeds_dir: Path, database_url: str,
                         **others: str) -> tuple[Path, Engine, Desk, str, str]:
    """alex's first digest (2026-03-12), whose "more like this" and unsubscribe links alex
    used: (config, engine, desk, the like link, the unsubscribe link)."""
    config = _config(tmp_path, database_url, alex="alex@example.org", **others)
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    _run(config, "2026-03-12")
    like, leave = _links(_mails(tmp_path, "alex")[0])
    engine = open_engine(database_url)
    desk = Desk(engine, SECRET, lambda: NOW, subscribed=lambda sid: True)
    assert _click(desk, like).status == 200 and _click(desk, leave).status == 200
    return config, engine, desk, like, leave


def test_a_new_reader_given_a_removed_name_starts_afresh(
        tmp_path: Path, seeds_dir: Path, database_url: str) -> None:
    """The old alex left (and unsubscribed, and had marked a paper); months later the lab gave
    a new alex a file of the same name. The new alex got no mail at all (the old one's
    unsubscribe), would have been ranked by the old one's marks, got no backfill, and the old
    alex's links marked papers for and unsubscribed the new one."""
    config, engine, desk, like, leave = _alex_liked_and_left(
        tmp_path, seeds_dir, database_url, bob="bob@example.org")
    assert list(unsubscribed(engine)) == ["alex"] and marks_for(engine, ["alex"])["alex"]

    (config / "subscribers" / "alex.toml").unlink()
    add_seed_day(tmp_path, seeds_dir, "2026-03-13")
    gone = _run(config, "2026-03-13")
    assert "  alex: its file is gone: no digests; its state is kept for its return" in gone.output
    assert removed_since(engine) == {"alex": datetime(2026, 3, 13, 20, tzinfo=UTC)}

    (config / "subscribers" / "alex.toml").write_text(
        SUB.format(name="Alex Two", email="alex.two@example.org"), encoding="utf-8")
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    new = _run(config, "2026-03-14")
    assert ("  alex: a new reader (its file came back with another address after it was "
            "removed on 2026-03-13 20:00 UTC): starts afresh; gone with the earlier reader: 1 "
            "digest, 1 mark and its unsubscribe of 2026-03-12 21:00 UTC; the links in its digests "
            "no longer work"
            ) in new.output
    # Its own backfill (7 days: every paper stored), not what came after the old cursor.
    from worker.store.papers import counts

    assert _ranked(new, "alex") == counts(engine)["papers"]
    first = _mails(tmp_path, "alex")[-1]
    assert first["To"].addresses[0].addr_spec == "alex.two@example.org"
    assert marks_for(engine, ["alex"])["alex"] == [] and unsubscribed(engine) == {}
    assert removed_since(engine) == {}
    with engine.connect() as conn:  # the earlier reader's digest went with it
        assert conn.execute(select(digests.c.message_id).where(
            digests.c.subscriber_id == "alex")).scalars().all() == [first["Message-ID"]]
    rows = json.loads(run_cli(config, "subscribers", "--json", env=ENV).output)
    assert {r["id"]: r["state"] for r in rows} == {"alex": "ok", "bob": "ok"}

    # The earlier reader's links are refused with a page that says why, and change nothing.
    for url in (like, leave):
        for method in ("GET", "POST"):
            page = _click(desk, url, method)
            assert page.status == 410, page.body
            assert "earlier reader named alex" in page.body and "Nothing was" in page.body
    assert marks_for(engine, ["alex"])["alex"] == [] and unsubscribed(engine) == {}
    # ...also when its check and its write straddle the new reader's start (the write is
    # made only at the generation the link was checked at)
    from worker.store.subscriptions import set_unsubscribed

    assert not set_unsubscribed(engine, "alex", NOW, generation=0)
    assert unsubscribed(engine) == {}
    from worker.marking import mark_stored
    from worker.store.identity import find_paper
    from worker.store.marks import ReaderChanged

    paper = find_paper(engine, "paper:" + dict(parse_qsl(urlsplit(like).query))["p"])
    assert paper is not None
    for remove in (False, True):
        with pytest.raises(ReaderChanged):
            mark_stored(engine, "alex", paper, verdict="like", remove=remove, now=NOW,
                        generation=0)
    assert marks_for(engine, ["alex"])["alex"] == []
    # The new reader's own links work.
    own_like, own_leave = _links(first)
    assert "&g=1" in own_like and own_leave.endswith("&g=1")
    assert _click(desk, own_like).status == 200
    assert [m.verdict for m in marks_for(engine, ["alex"])["alex"]] == ["like"]
    thanked = _click(desk, own_leave)
    assert thanked.status == 200 and "You are unsubscribed" in thanked.body
    assert list(unsubscribed(engine)) == ["alex"]
    engine.dispose()


def test_a_restored_file_carries_on_where_it_left_off(
        tmp_path: Path, seeds_dir: Path, database_url: str) -> None:
    """A file deleted by mistake and restored (the same address) is the same reader: cursor,
    marks, unsubscribe and links as they were."""
    config, engine, desk, like, _ = _alex_liked_and_left(tmp_path, seeds_dir, database_url)
    file = config / "subscribers" / "alex.toml"
    kept = file.read_text(encoding="utf-8")
    file.unlink()
    add_seed_day(tmp_path, seeds_dir, "2026-03-13")
    meanwhile = _new_papers(_run(config, "2026-03-13"))
    file.write_text(kept.replace("alex@example.org", "Alex@Example.ORG"), encoding="utf-8")
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    back = _run(config, "2026-03-14")
    meanwhile += _new_papers(back)
    assert ("  alex: its file is back with the address it had (gone since 2026-03-13 20:00 "
            "UTC): carries on where it left off") in back.output
    assert "alex: unsubscribed 2026-03-12 21:00 UTC with the link in a digest" in back.output
    assert [m.verdict for m in marks_for(engine, ["alex"])["alex"]] == ["like"]
    assert _click(desk, like, "GET").status == 200  # its links still work
    assert removed_since(engine) == {}

    assert run_cli(config, "resubscribe", "alex", env=ENV).exit_code == 0
    again = _run(config, "2026-03-14", hour=21)
    assert _ranked(again, "alex") == meanwhile  # from its own cursor: what came meanwhile
    assert len(_mails(tmp_path, "alex")) == 2
    engine.dispose()


def test_an_address_edited_with_the_file_in_place_keeps_everything(
        tmp_path: Path, seeds_dir: Path, database_url: str) -> None:
    """A reader who moves to another address edits their file: the same reader. Also while
    unsubscribed (a pass builds them no digest): the database learns the new address all the
    same, so that the file, removed and restored with it, is still theirs."""
    config, engine, desk, like, _ = _alex_liked_and_left(tmp_path, seeds_dir, database_url)
    file = config / "subscribers" / "alex.toml"
    moved = file.read_text(encoding="utf-8").replace("alex@example.org",
                                                     "alex@newlab.example.org")
    file.write_text(moved, encoding="utf-8")
    add_seed_day(tmp_path, seeds_dir, "2026-03-13")
    edited = _run(config, "2026-03-13")
    assert ("  alex: address changed to alex@newlab.example.org with its file in place: the "
            "same reader, its cursor, marks and unsubscribe kept (someone else? "
            f"`paper-digest --config {config} forget alex --force`)") in edited.output
    with engine.connect() as conn:
        assert conn.execute(select(subscribers.c.email, subscribers.c.generation)).one() == (
            "alex@newlab.example.org", 0)
    assert list(unsubscribed(engine)) == ["alex"]
    assert [m.verdict for m in marks_for(engine, ["alex"])["alex"]] == ["like"]
    assert _click(desk, like, "GET").status == 200

    file.unlink()
    _run(config, "2026-03-13", hour=21)
    file.write_text(moved, encoding="utf-8")
    back = _run(config, "2026-03-13", hour=22)
    assert "  alex: its file is back with the address it had" in back.output
    assert "a new reader" not in back.output and list(unsubscribed(engine)) == ["alex"]
    assert [m.verdict for m in marks_for(engine, ["alex"])["alex"]] == ["like"]
    engine.dispose()


def test_forget_wipes_a_name_for_its_next_reader(
        tmp_path: Path, seeds_dir: Path, database_url: str) -> None:
    """A name given to someone else between two runs (the file replaced, not removed while a
    pass looked) cannot be told from an edit: `forget` says so. Refused while the file is
    there, unless --force; the next file of that name starts afresh, whatever its address."""
    config, engine, desk, like, leave = _alex_liked_and_left(
        tmp_path, seeds_dir, database_url, bob="bob@example.org")
    file = config / "subscribers" / "alex.toml"

    refused = run_cli(config, "forget", "alex", env=ENV)
    assert refused.exit_code == 1 and f"{file} is there" in refused.output
    assert f"`paper-digest --config {config} forget alex --force`" in refused.output
    assert list(unsubscribed(engine)) == ["alex"]  # nothing changed
    assert run_cli(config, "forget", "../alex", env=ENV).exit_code == 2
    nobody = run_cli(config, "forget", "carol", env=ENV)
    assert nobody.exit_code == 0 and "holds nothing of carol" in nobody.output

    text = file.read_text(encoding="utf-8")
    file.unlink()
    done = run_cli(config, "forget", "alex", "--now", "2026-03-13T10:00:00+00:00", env=ENV)
    assert done.exit_code == 0, done.output
    assert ("Forgot alex: 1 digest, 1 mark, its unsubscribe of 2026-03-12 21:00 UTC, its "
            "address and name; the links in its digests no longer work.") in done.output
    assert "A file alex.toml starts afresh, whatever its address." in done.output
    assert marks_for(engine, ["alex"])["alex"] == [] and unsubscribed(engine) == {}
    with engine.connect() as conn:
        assert conn.execute(select(subscribers.c.email, subscribers.c.generation).where(
            subscribers.c.id == "alex")).one() == (None, 1)
        assert conn.execute(select(digests.c.subscriber_id)).scalars().all() == ["bob"]
    assert _click(desk, leave).status == 410 and unsubscribed(engine) == {}
    quiet = _run(config, "2026-03-13", hour=11)  # a forgotten name is not "removed" again
    assert "alex" not in quiet.output

    file.write_text(text, encoding="utf-8")  # even the same address: a new reader
    add_seed_day(tmp_path, seeds_dir, "2026-03-13")
    new = _run(config, "2026-03-13")
    assert ("  alex: a new reader (as `forget` asked on 2026-03-13 10:00 UTC): starts afresh"
            ) in new.output
    from worker.store.papers import counts

    assert _ranked(new, "alex") == counts(engine)["papers"]  # its backfill
    assert _click(desk, like).status == 410  # still the earlier reader's

    # --force, the file there: the next run starts it afresh
    forced = run_cli(config, "forget", "alex", "--force", env=ENV)
    assert forced.exit_code == 0 and "Forgot alex: 1 digest, its address and name;" in forced.output
    assert f"alex.toml starts afresh at the next `paper-digest --config {config} run`" in (
        forced.output)
    again = _run(config, "2026-03-13", hour=21)
    assert "  alex: a new reader (as `forget` asked on" in again.output
    assert _ranked(again, "alex") == counts(engine)["papers"]
    engine.dispose()


def test_serve_records_a_file_removed_between_its_passes(
        tmp_path: Path, seeds_dir: Path, database_url: str) -> None:
    """serve builds digests at slots, hours apart: a file removed and another written in
    between would look like an edit of the address. Its reload records the removal as it
    sees it, and the next check of due work settles the returning name."""
    from worker.due import has_work
    from worker.reload import ConfigWatcher
    from worker.scheduler import Server
    from worker.settings import load_config

    config = _config(tmp_path, database_url, alex="alex@example.org")
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    _run(config, "2026-03-12")
    engine = open_engine(database_url)
    later = datetime(2026, 3, 13, 3, tzinfo=UTC)
    server = Server(ConfigWatcher(config, ENV, load_config(config, ENV)), engine,
                    clock=lambda: later)
    file = config / "subscribers" / "alex.toml"
    file.unlink()
    logged: list[logging.LogRecord] = []
    catch = logging.Handler()
    catch.emit = logged.append  # type: ignore[method-assign]
    ours = logging.getLogger("paper_digest")
    level = ours.level
    ours.addHandler(catch)
    ours.setLevel(logging.INFO)  # as serve logs
    try:
        server.reload()
    finally:
        ours.removeHandler(catch)
        ours.setLevel(level)
    assert removed_since(engine) == {"alex": later}
    # README: serve logs what a pass says of it (the pass after finds it recorded already)
    assert [(getattr(r, "event", None), getattr(r, "subscriber", None)) for r in logged
            if getattr(r, "event", "").startswith("subscriber.")] == [
        ("subscriber.removed", "alex")]
    file.write_text(SUB.format(name="Alex Two", email="alex.two@example.org"),
                    encoding="utf-8")
    server.reload()
    assert has_work(engine, server.watcher.config, later)
    from worker.app import run_pass

    report = run_pass(server.watcher.config, engine, later, only_sources=[], due=True)
    assert [(n.id, n.kind) for n in report.readers] == [("alex", "afresh")]
    assert removed_since(engine) == {}
    engine.dispose()


def test_mark_before_the_new_readers_first_run_is_its_own(
        tmp_path: Path, seeds_dir: Path, sqlite_url: str) -> None:
    """`mark` on the new alex's file before any run met it listed, and added to, the earlier
    alex's marks (then wiped by the run that started it afresh)."""
    config = _config(tmp_path, sqlite_url, alex="alex@example.org")
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    _run(config, "2026-03-12")
    assert run_cli(config, "mark", "alex", "paper:1", env=ENV).exit_code == 0
    file = config / "subscribers" / "alex.toml"
    file.unlink()
    _run(config, "2026-03-12", hour=21)
    file.write_text(SUB.format(name="Alex Two", email="alex.two@example.org"),
                    encoding="utf-8")
    listed = run_cli(config, "mark", "alex", env=ENV)
    assert listed.exit_code == 0
    assert "note: alex: a new reader (its file came back with another address" in listed.stderr
    assert "alex has marked no papers" in listed.stdout
    assert run_cli(config, "mark", "alex", "paper:2", env=ENV).exit_code == 0
    quiet = _run(config, "2026-03-12", hour=22)
    assert "a new reader" not in quiet.output
    engine = open_engine(sqlite_url)
    assert [m.paper.id for m in marks_for(engine, ["alex"])["alex"]] == [2]
    engine.dispose()
