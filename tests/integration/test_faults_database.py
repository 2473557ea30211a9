"""PostgreSQL connections killed mid-run (`pg_terminate_backend` from a second connection).

crashpoint.py terminates every backend the run opened just before a chosen SQL statement (or
between two transactions), then lets the run carry on. Whatever the run then does, nothing
may be marked sent that the SMTP server did not receive, nothing half-written may stay, and
the next normal run must finish the work. Restarting the server itself is left out: it is
shared by everything on the machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import _pg_base_url, _pg_schema
from tests.integration import faultkit as fk
from tests.integration.smtpserver import smtp_server

SUBSCRIBERS = ("ada", "bob", "cy")
DUMPS = (4, 6, 5)
RECOVER_AT = "2026-03-14T20:01:00+00:00"


@dataclass(frozen=True)
class Case:
    id: str
    step: str
    exit_code: int  # what the faulty run ends with
    dumps: int  # dumps on record after it
    received: int  # messages the server accepted during it
    repeats: int  # digests sent twice in the end (the documented window), same Message-ID


CASES = [
    # The 2nd dump's transaction dies: that source stops, the 1st dump's digests go out.
    Case("ingest", "sql:INSERT INTO sightings:2", 3, 1, 3, 0),
    # Writing the digests' items (COPY) dies: whatever was written with them is rolled back
    # (the digests, their deliveries, the cursors' moves), the run stops.
    Case("build", "rows:digest_items:1", 1, 3, 0, 0),
    # Claiming deliveries dies: nothing was leased, nothing sent.
    Case("claim", r"sql:UPDATE deliveries SET attempts=\(deliveries.attempts \+", 1, 3, 0, 0),
    # Between transactions the pool notices the dead connection (pre-ping) and reconnects.
    Case("between-send-and-mark", "sent:2", 0, 3, 3, 0),
    # Marking bob's digest sent dies after the server accepted it: the mark is written again
    # on a new connection (worker/store/recording.py), the run finishes, nothing repeats.
    Case("mark-sent", "sql:UPDATE deliveries SET status=.*sent_at=:2", 0, 3, 3, 0),
]


@dataclass
class Played:
    url: str
    faulty: fk.Outcome
    status: fk.Outcome  # `paper-digest status` right after the faulty run
    received_ids: list[str]  # Message-IDs the server accepted during the faulty run
    sent_ids: list[str]  # Message-IDs marked sent after it
    dumps: int
    half_written: list[tuple[str, int]]  # a digest or dump whose rows are not all there
    recovered: fk.Outcome
    tally: fk.Tally
    every: set[str]


def _play(case: Case, url: str, root: Path) -> Played:
    tokens = fk.write_dumps(root, DUMPS)
    with smtp_server() as (handler, port):
        config = fk.config_dir(root, url, SUBSCRIBERS, smtp_port=port)
        faulty = fk.run(config, "run", "--now", fk.NOW, step=case.step, action="pgterm")
        received = [str(m["Message-ID"]) for m in handler.messages]
        sent = fk.sent_message_ids(url)
        dumps = fk.scalar(url, "SELECT count(*) FROM dumps WHERE status = 'ingested'")
        half_written = _half_written(url)
        status = fk.run(config, "status")
        recovered = fk.run(config, "run", "--now", RECOVER_AT)
        tally = fk.tally(fk.mails(handler.messages))
    return Played(url, faulty, status, received, sent, dumps, half_written, recovered, tally,
                  {t for group in tokens.values() for t in group})


def _half_written(url: str) -> list[tuple[str, int]]:
    digests = fk.query(url, "SELECT 'digest', d.id FROM digests d WHERE d.item_count <> "
                            "(SELECT count(*) FROM digest_items i WHERE i.digest_id = d.id) "
                            "OR NOT EXISTS (SELECT 1 FROM deliveries v WHERE v.digest_id = d.id)")
    dumps = fk.query(url, "SELECT 'dump', d.id FROM dumps d WHERE d.status = 'ingested' AND "
                          "d.entries <> (SELECT count(*) FROM sightings s WHERE s.dump_id = d.id)")
    return digests + dumps


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Case], Played]]:
    """Each case is played once and shared by the tests that judge it."""
    base = _pg_base_url()
    if base is None:
        pytest.skip("PAPER_DIGEST_TEST_DATABASE_URL is not set (PostgreSQL tests need it)")
    schemas: list[Iterator[str]] = []
    cache: dict[str, Played] = {}

    def play(case: Case) -> Played:
        if case.id not in cache:
            schema = _pg_schema(base)
            schemas.append(schema)
            cache[case.id] = _play(case, next(schema), tmp_path_factory.mktemp(case.id))
        return cache[case.id]

    yield play
    for schema in schemas:
        for _ in schema:  # runs its clean-up: the schema is dropped
            pass


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_connection_killed_loses_nothing(case: Case, played: Callable[[Case], Played]) -> None:
    p = played(case)
    # the pass's connection and its run's lease (worker.store.locks.RunLease)
    assert "crashpoint: " in p.faulty.stderr and " terminated 2 backend(s)" in p.faulty.stderr
    assert p.faulty.code == case.exit_code, p.faulty.stdout + p.faulty.stderr
    assert p.dumps == case.dumps  # a dump is all or nothing
    assert p.half_written == []  # and so is a digest with its items and deliveries
    assert len(p.received_ids) == case.received
    # Nothing is marked sent that the server did not receive.
    assert set(p.sent_ids) <= set(p.received_ids)
    assert p.status.code == 0, p.status.stderr
    # The next normal run completes the work: every paper to every subscriber, once, except
    # the digest in the documented window, which arrives twice with one Message-ID.
    assert p.recovered.code == 0, p.recovered.stdout + p.recovered.stderr
    for name in SUBSCRIBERS:
        assert p.tally.delivered(f"{name}@example.org") == p.every
    assert all(len(ids) == 1 for ids in p.tally.ids_per_item.values())
    assert set(p.tally.repeated_message_ids.values()) <= {2}
    assert len(p.tally.repeated_message_ids) == case.repeats
    assert dict(fk.delivery_statuses(p.url)) == {"sent": len(p.tally.per_message_id)}
    assert sorted(fk.sent_message_ids(p.url)) == sorted(p.tally.per_message_id)
    expected = len(p.every) * len(SUBSCRIBERS)
    print(f"\nFAULT pg_terminate_backend {case.id}: exit {p.faulty.code}, items expected "
          f"{expected}, delivered {sum(len(c) for c in p.tally.items.values())}, duplicate "
          f"items {p.tally.duplicates} (window repeats {len(p.tally.repeated_message_ids)})")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_connection_killed_reports_cleanly(case: Case, played: Callable[[Case], Played]) -> None:
    p = played(case)
    for text in (p.faulty.stdout, p.faulty.stderr, p.status.stdout):
        assert "Traceback" not in text and "[SQL:" not in text and "[parameters:" not in text
    if p.faulty.code == 1:
        errors = [line for line in p.faulty.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and errors[0].startswith("error: database error: "), errors
        assert "run again" in p.faulty.stderr  # and says what to do next
    for text in (p.faulty.stdout, p.faulty.stderr, p.status.stdout):
        assert "INSERT INTO" not in text and "UPDATE deliveries" not in text
