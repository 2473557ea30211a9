"""Cron overlap: 2 and 4 `paper-digest run` processes started at the same moment over the same
config, dumps and database (SQLite and PostgreSQL), with a real SMTP server.

Every digest is sent exactly once (one message per Message-ID), every paper reaches every
subscriber exactly once, no run deadlocks or reports an error, nothing is left pending.
The runs wait on a barrier file after importing everything, so they start within
milliseconds of each other.
"""

from __future__ import annotations

import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.integration import faultkit as fk
from tests.integration.smtpserver import Handler, smtp_server

SUBSCRIBERS = ("ada", "bob", "cy", "dee")
DUMPS = (8, 6, 7, 5)
WARM_UP = "2026-03-13T20:00:00+00:00"


def _race(config: Path, runs: int, barrier: Path) -> list[fk.Outcome]:
    procs = [fk.launch(config, "run", "--now", fk.NOW, wait_for=barrier) for _ in range(runs)]
    deadline = time.monotonic() + 60
    while len(list(barrier.parent.glob(f"{barrier.name}.ready.*"))) < runs:  # all imported
        assert time.monotonic() < deadline, "the runs never reached the barrier"
        assert all(p.poll() is None for p in procs), "a run ended before the barrier"
        time.sleep(0.01)
    barrier.touch()
    return [fk.finish(p) for p in procs]


def _check(url: str, outcomes: list[fk.Outcome], messages: list[EmailMessage],
           every: set[str]) -> None:
    for outcome in outcomes:  # no error for the user: exit 0, nothing on stderr but logs
        assert outcome.code == 0, outcome.stdout + outcome.stderr
        assert "Traceback" not in outcome.stderr and "error" not in outcome.stdout.lower()
    tally = fk.tally(fk.mails(messages))
    assert tally.repeated_message_ids == {}, "a digest was sent twice"
    assert tally.duplicates == 0, "a paper reached a subscriber twice"
    for name in SUBSCRIBERS:
        assert tally.delivered(f"{name}@example.org") == every
    assert dict(fk.delivery_statuses(url)) == {"sent": len(tally.per_message_id)}
    assert sorted(fk.sent_message_ids(url)) == sorted(tally.per_message_id)
    per_run = [o.stdout.count("email -> ") for o in outcomes]  # who sent what
    print(f"\nCONCURRENCY {len(outcomes)} runs: {len(tally.per_message_id)} digests "
          f"(sent per run {per_run}), items expected {len(every) * len(SUBSCRIBERS)}, "
          f"delivered {sum(len(c) for c in tally.items.values())}, duplicates "
          f"{tally.duplicates}")


@pytest.mark.parametrize("runs", [2, 4])
def test_simultaneous_runs_send_each_digest_once(runs: int, tmp_path: Path,
                                                 database_url: str) -> None:
    with smtp_server() as (handler, port):
        config = fk.config_dir(tmp_path, database_url, SUBSCRIBERS, smtp_port=port)
        # Yesterday's run made the schema and met the subscribers (cron has run before).
        assert fk.run(config, "run", "--now", WARM_UP).code == 0
        assert handler.messages == []
        tokens = fk.write_dumps(tmp_path, DUMPS)
        outcomes = _race(config, runs, tmp_path / "go")
        every = {t for group in tokens.values() for t in group}
        _check(database_url, outcomes, handler.messages, every)


@pytest.mark.parametrize("runs", [2, 4])
def test_simultaneous_first_runs_on_an_empty_database(runs: int, tmp_path: Path,
                                                      database_url: str) -> None:
    """The very first cron tick overlapping: the schema is created by one of them."""
    with smtp_server() as (handler, port):
        config = fk.config_dir(tmp_path, database_url, SUBSCRIBERS, smtp_port=port)
        tokens = fk.write_dumps(tmp_path, DUMPS)
        outcomes = _race(config, runs, tmp_path / "go")
        every = {t for group in tokens.values() for t in group}
        _check(database_url, outcomes, handler.messages, every)


@pytest.mark.parametrize("runs", [4])
def test_runs_overlapping_a_slow_send_leave_its_digests_alone(runs: int, tmp_path: Path,
                                                              database_url: str) -> None:
    """The server takes 0.3 s per message: while the first run is still sending, the others
    claim, find every delivery leased by a live process, and send nothing twice."""
    with smtp_server(Handler(delay=0.3)) as (handler, port):
        config = fk.config_dir(tmp_path, database_url, SUBSCRIBERS, smtp_port=port)
        assert fk.run(config, "run", "--now", WARM_UP).code == 0
        tokens = fk.write_dumps(tmp_path, DUMPS)
        outcomes = _race(config, runs, tmp_path / "go")
        every = {t for group in tokens.values() for t in group}
        _check(database_url, outcomes, handler.messages, every)
