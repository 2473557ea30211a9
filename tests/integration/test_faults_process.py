"""`kill -9` of a real `paper-digest run` at each step, then a normal run: nothing lost, and
nothing twice except in the one documented window (accepted by SMTP, not yet marked sent),
where the repeat carries the same Message-ID.

Each case kills a subprocess at a precise point (tests/integration/crashpoint.py), checks
what the database holds right after the crash, runs `paper-digest run` normally one minute
later (inside the 10-minute lease: the dead process's leases must be reclaimed at once), and
counts what the SMTP server received per subscriber and per Message-ID.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.integration import faultkit as fk
from tests.integration.smtpserver import Handler, smtp_server

SUBSCRIBERS = ("ada", "bob", "cy")
DUMPS = (4, 6, 5)  # papers per dump: 15 papers, all wanted by every subscriber
RECOVER_AT = "2026-03-14T20:01:00+00:00"
LATER = "2026-03-14T20:02:00+00:00"


@dataclass(frozen=True)
class After:
    """What must hold right after the crash."""

    received: int  # messages the SMTP server accepted before the process died
    dumps: int  # dumps recorded as ingested
    digests: int
    statuses: dict[str, int]  # delivery status -> count
    leased: int  # pending deliveries still leased by the dead process
    repeats: int  # digests that may legitimately arrive twice (the documented window)


@dataclass(frozen=True)
class Case:
    id: str
    step: str
    after: After


CASES = [
    # The 2nd dump's rows are written but not committed: only the 1st dump is on record.
    Case("during-ingest", "ingest:2", After(0, 1, 0, {}, 0, 0)),
    Case("during-first-ingest", "ingest:1", After(0, 0, 0, {}, 0, 0)),
    # Digests and their items are committed (the outbox), nothing was claimed or sent.
    Case("after-build", "built", After(0, 3, 3, {"pending": 3}, 0, 0)),
    # Half of the 1st message was written when the process died: the server has nothing.
    Case("during-send", "send:1", After(0, 3, 3, {"pending": 3}, 3, 0)),
    Case("during-send-3rd", "send:3", After(2, 3, 3, {"sent": 2, "pending": 1}, 1, 0)),
    # The server accepted the 2nd digest; the process died before recording it: the window.
    Case("after-send-before-mark", "sent:2", After(2, 3, 3, {"sent": 1, "pending": 2}, 2, 1)),
]


def _check_after_crash(url: str, case: Case, handler: Handler, tokens: dict[str, list[str]]
                       ) -> None:
    after = case.after
    assert len(handler.messages) == after.received
    assert fk.scalar(url, "SELECT count(*) FROM dumps WHERE status = 'ingested'") == after.dumps
    # A dump is all or nothing: the papers on record are exactly those of the recorded dumps.
    recorded = {t for name in sorted(tokens)[: after.dumps] for t in tokens[name]}
    titles = [t for (t,) in fk.query(url, "SELECT title FROM papers")]
    assert {tok for title in titles for tok in fk.TOKEN.findall(title)} == recorded
    assert fk.scalar(url, "SELECT count(*) FROM sightings") == len(recorded)
    assert fk.scalar(url, "SELECT count(*) FROM digests") == after.digests
    assert dict(fk.delivery_statuses(url)) == after.statuses
    leased = fk.scalar(url, "SELECT count(*) FROM deliveries WHERE status = 'pending' "
                            "AND lease_owner IS NOT NULL")
    assert leased == after.leased
    if after.digests:  # a built digest holds every paper for its subscriber, once
        items = fk.stored_items(url)
        assert all(sorted(items[s]) == sorted(recorded) for s in SUBSCRIBERS)


def _check_recovered(url: str, case: Case, handler: Handler, every: set[str]) -> fk.Tally:
    received = fk.mails(handler.messages)
    tally = fk.tally(received)
    for name in SUBSCRIBERS:
        assert tally.delivered(f"{name}@example.org") == every, f"{name} is missing papers"
    # A repeat is a whole digest sent again under its own Message-ID: no item ever arrives
    # under two Message-IDs, and at most the digests in the window arrive twice.
    assert all(len(ids) == 1 for ids in tally.ids_per_item.values())
    assert set(tally.repeated_message_ids.values()) <= {2}
    assert len(tally.repeated_message_ids) == case.after.repeats
    assert dict(fk.delivery_statuses(url)) == {"sent": len(SUBSCRIBERS)}
    assert sorted(fk.sent_message_ids(url)) == sorted(set(tally.per_message_id))
    items = fk.stored_items(url)
    assert all(sorted(items[s]) == sorted(every) for s in SUBSCRIBERS)  # each paper once
    return tally


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_kill_9_then_normal_run(case: Case, tmp_path: Path, database_url: str) -> None:
    tokens = fk.write_dumps(tmp_path, DUMPS)
    every = {t for group in tokens.values() for t in group}
    with smtp_server() as (handler, port):
        config = fk.config_dir(tmp_path, database_url, SUBSCRIBERS, smtp_port=port)
        crashed = fk.run(config, "run", "--now", fk.NOW, step=case.step)
        assert crashed.code == -9, f"the crash point was not reached:\n{crashed.stderr}"
        _check_after_crash(database_url, case, handler, tokens)
        status = fk.run(config, "status", "--json")  # a dead run does not break status,
        assert status.code == 0, status.stderr  # and does not read "running" for ever
        assert [r["status"] for r in json.loads(status.stdout)["runs"]] == ["abandoned"]

        recovered = fk.run(config, "run", "--now", RECOVER_AT)
        assert recovered.code == 0, recovered.stdout + recovered.stderr
        tally = _check_recovered(database_url, case, handler, every)

        assert fk.scalar(database_url, "SELECT status FROM runs WHERE id = 1") == "abandoned"
        again = fk.run(config, "run", "--now", LATER)  # and after that, nothing more
        assert again.code == 0 and len(handler.messages) == sum(tally.per_message_id.values())
    _record(case, tally, every)


def _record(case: Case, tally: fk.Tally, every: set[str]) -> None:
    # The figures for the fault matrix (shown with pytest -s).
    expected = len(every) * len(SUBSCRIBERS)
    delivered = sum(len(c) for c in tally.items.values())
    print(f"\nFAULT kill-9 {case.id}: items expected {expected}, delivered {delivered}, "
          f"duplicate items {tally.duplicates} (window repeats: "
          f"{len(tally.repeated_message_ids)} digest, same Message-ID)")


def _bodies(message: EmailMessage) -> tuple[str, str]:
    return tuple(message.get_body((kind,)).get_content()  # type: ignore[union-attr, return-value]
                 for kind in ("plain", "html"))


def test_window_repeat_keeps_message_id(tmp_path: Path, database_url: str) -> None:
    """The repeat after a crash between accept and mark is the same digest: same Message-ID,
    the same headers and the same text and HTML (only the MIME boundary differs), but for
    its Date, which says when each was sent."""
    fk.write_dumps(tmp_path, (3,))
    with smtp_server() as (handler, port):
        config = fk.config_dir(tmp_path, database_url, ("ada",), smtp_port=port)
        assert fk.run(config, "run", "--now", fk.NOW, step="sent:1").code == -9
        assert fk.run(config, "run", "--now", RECOVER_AT).code == 0
    first, repeat = handler.messages
    stored = fk.scalar(database_url, "SELECT message_id FROM digests")
    assert first["Message-ID"] == repeat["Message-ID"] == stored
    for header in ("Subject", "To", "From", "X-Paper-Digest"):
        assert first[header] == repeat[header], header
    assert first["Date"].datetime == datetime.fromisoformat(fk.NOW)
    assert repeat["Date"].datetime == datetime.fromisoformat(RECOVER_AT)
    assert _bodies(first) == _bodies(repeat)


def _recovers_each_paper_once(config: Path, handler: Handler, every: set[str]) -> None:
    """The next run, as after a stop: every subscriber has every paper, none twice."""
    recovered = fk.run(config, "run", "--now", RECOVER_AT)
    assert recovered.code == 0, recovered.stdout + recovered.stderr
    tally = fk.tally(fk.mails(handler.messages))
    assert tally.repeated_message_ids == {} and tally.duplicates == 0
    assert all(tally.delivered(f"{s}@example.org") == every for s in SUBSCRIBERS)


def _stopped(config: Path, database_url: str, step: str, action: str, said: str) -> None:
    """A run told to stop (SIGTERM or SIGINT, `action`) at `step`: it says `said` and exits 3,
    its run recorded `interrupted`."""
    stopped = fk.run(config, "run", "--now", fk.NOW, step=step, action=action)
    assert stopped.code == 3, f"{stopped.code}\n{stopped.stdout}\n{stopped.stderr}"
    assert said in stopped.stdout
    assert fk.query(database_url, "SELECT status FROM runs") == [("interrupted",)]


@pytest.mark.parametrize("action", ["term", "int"])
def test_sigterm_finishes_the_send_under_way_and_hands_back_the_rest(
        action: str, tmp_path: Path, database_url: str) -> None:
    """`docker stop` (or a CronJob's pod ending) sends a one-shot run SIGTERM. It killed the
    run mid-pass; in a container, where the run is PID 1 and an unhandled SIGTERM is dropped,
    docker waited 10 s and killed it. Now the run stops as serve does: the digest the server
    took is marked sent, the rest are handed back untried, and the next run sends them once.
    Ctrl-C (SIGINT) too: it aborted the run mid-send, so a digest the server took could stay
    unrecorded and go out again, the rest stayed leased with an attempt counted, and the run
    read `failed` with no reason."""
    tokens = fk.write_dumps(tmp_path, DUMPS)
    every = {t for group in tokens.values() for t in group}
    with smtp_server() as (handler, port):
        config = fk.config_dir(tmp_path, database_url, SUBSCRIBERS, smtp_port=port)
        _stopped(config, database_url, "sent:1", action, "stopped (SIGTERM or Ctrl-C): the "
                 "send under way was finished")
        assert len(handler.messages) == 1
        assert fk.delivery_statuses(database_url) == {"sent": 1, "pending": 2}
        assert fk.query(database_url, "SELECT attempts, lease_owner FROM deliveries WHERE "
                                      "status = 'pending'") == [(0, None), (0, None)]
        _recovers_each_paper_once(config, handler, every)


@pytest.mark.parametrize("action", ["term", "int"])
def test_a_stop_while_sources_are_read_leaves_the_digests_to_the_next_run(
        action: str, tmp_path: Path, database_url: str) -> None:
    """SIGTERM or Ctrl-C while the dumps are read: the run reads them to the end (each is one
    transaction), records their papers and stops there, rather than match every subscriber
    only to hand the digests back unsent (a first Ctrl-C seemed to do nothing until then).
    The next run builds and sends them, each paper once."""
    tokens = fk.write_dumps(tmp_path, DUMPS)
    every = {t for group in tokens.values() for t in group}
    with smtp_server() as (handler, port):
        config = fk.config_dir(tmp_path, database_url, SUBSCRIBERS, smtp_port=port)
        _stopped(config, database_url, "ingest", action,
                 "stopped (SIGTERM or Ctrl-C) once the sources were read")
        assert handler.messages == [] and fk.query(database_url,
                                                   "SELECT count(*) FROM digests") == [(0,)]
        _recovers_each_paper_once(config, handler, every)


@pytest.mark.parametrize("action", ["term", "int"])
def test_a_stop_while_subscribers_are_matched_keeps_the_digest_under_way_and_no_more(
        action: str, tmp_path: Path, database_url: str) -> None:
    """SIGTERM or Ctrl-C as the first subscriber's match comes back: that digest is written
    and stays pending, unsent (no send starts once told to stop); the others are not built,
    their cursors unmoved. The run says so and exits 3; the next run sends the first and
    builds and sends the others, each paper once."""
    tokens = fk.write_dumps(tmp_path, DUMPS)
    every = {t for group in tokens.values() for t in group}
    with smtp_server() as (handler, port):
        config = fk.config_dir(tmp_path, database_url, SUBSCRIBERS, smtp_port=port)
        _stopped(config, database_url, "matched:1", action,
                 "stopped (SIGTERM or Ctrl-C) while digests were built: those built stay "
                 "pending, unsent; the next run sends them and builds the other 2")
        assert handler.messages == []
        assert fk.query(database_url, "SELECT subscriber_id FROM digests") == [("ada",)]
        assert fk.delivery_statuses(database_url) == {"pending": 1}
        _recovers_each_paper_once(config, handler, every)


def test_sigterm_while_serve_starts_stops_it_cleanly(tmp_path: Path, database_url: str) -> None:
    """`docker stop` as serve starts (its imports, a migration of the schema) killed it: the
    handlers were set only once it served, and as a container's PID 1 an unhandled SIGTERM is
    dropped, so docker waited its 10 s and killed it. Now serve stops as soon as it can, 0."""
    config = fk.config_dir(tmp_path, database_url, ("ada",))
    stopped = fk.run(config, "serve", step="sql:alembic_version", action="term")
    assert stopped.code == 0, f"{stopped.code}\n{stopped.stdout}\n{stopped.stderr}"
    assert "stopped before serving" in stopped.stderr
    assert fk.query(database_url, "SELECT count(*) FROM heartbeats") == [(0,)]
