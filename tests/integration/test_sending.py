"""The delivery stage told to stop (serve's shutdown): no send starts after, and what it
claimed but did not try goes back unsent, free for the next pass at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.integration.helpers import add_seed_day, make_config
from worker.app import Pipeline
from worker.settings import Config, load_config
from worker.store.opening import open_engine
from worker.store.schema import deliveries

NOW = datetime(2026, 3, 14, 20, tzinfo=UTC)
SUBSCRIBER = """
deliver = ["markdown"]
min_score = 0.01
[interests]
keywords = ["{keyword}"]
"""


def _config(root: Path, seeds: Path, url: str, keywords: list[str]) -> Config:
    """A subscriber a keyword (Markdown only), matched in this process, and a seed day."""
    subscribers = {f"s{n}": SUBSCRIBER.format(keyword=k) for n, k in enumerate(keywords)}
    config = load_config(make_config(root, url, subscribers, extra="[matching]\nworkers = 1"),
                         {})
    add_seed_day(root, seeds, "2026-03-12")
    return config


def test_a_delivery_told_to_stop_hands_back_what_it_did_not_try(
        tmp_path: Path, seeds_dir: Path, database_url: str) -> None:
    config = _config(tmp_path, seeds_dir, database_url,
                     ["model", "language", "vision", "image", "learning"])
    engine = open_engine(database_url)
    try:
        asked, sending = 0, False

        def stop() -> bool:  # shutdown arrives after the second send
            nonlocal asked
            asked += sending
            return asked > 2

        first = Pipeline(config, engine, NOW, stop=stop)
        first.ingest()
        built = first.build_digests(config.profiles)
        assert all(r.digest_id for r in built.values())
        sending = True
        sent = first.deliver(config.profiles)
        assert [r.status for r in sent] == ["sent", "sent"]
        with engine.connect() as conn:
            rows = conn.execute(select(deliveries.c.status, deliveries.c.lease_owner,
                                       deliveries.c.attempts)).all()
        unsent = [r for r in rows if r.status != "sent"]
        assert len(rows) == 5 and len(unsent) == 3
        # handed back: no lease to wait out, and the attempt it never made not counted
        assert all(r.status == "pending" and r.lease_owner is None and r.attempts == 0
                   for r in unsent), unsent

        rest = Pipeline(config, engine, NOW).deliver(config.profiles)
        assert sorted(r.digest_id for r in rest) == sorted(
            r.digest_id for r in built.values() if r.digest_id not in {s.digest_id for s in sent})
        assert {r.status for r in rest} == {"sent"}
    finally:
        engine.dispose()


def test_a_pass_told_to_stop_is_recorded_as_interrupted_with_its_duration(
        tmp_path: Path, seeds_dir: Path, sqlite_url: str) -> None:
    """serve's shutdown mid-send: the run is `interrupted` (not `ok`: digests were handed
    back), and every run has the time it took, not `finished` = `started`."""
    from worker.app import run_pass
    from worker.store import runs

    config = _config(tmp_path, seeds_dir, sqlite_url, ["model", "language", "vision"])
    engine = open_engine(sqlite_url)
    try:
        def sent_at_least(count: int) -> Callable[[], bool]:
            def stop() -> bool:  # shutdown once `count` digests are sent
                with engine.connect() as conn:
                    return conn.execute(select(func.count()).select_from(deliveries).where(
                        deliveries.c.status == "sent")).scalar_one() >= count
            return stop

        report = run_pass(config, engine, NOW, stop=sent_at_least(1))
        assert [d.status for d in report.deliveries] == ["sent"]
        # shutdown once the two handed back are sent: nothing was left to hand back
        late_stop = sent_at_least(3)
        again = run_pass(config, engine, NOW, stop=late_stop)
        assert [d.status for d in again.deliveries] == ["sent", "sent"] and late_stop()
        second, first = runs.recent_runs(engine, 2)
        assert (first.status, second.status) == ("interrupted", "ok")
        assert all(r.finished_at is not None and r.finished_at > r.started_at
                   for r in (first, second))
    finally:
        engine.dispose()


def test_serve_leaving_a_hung_send_hands_back_what_it_had_not_tried(
        tmp_path: Path, sqlite_url: str) -> None:
    """SIGTERM while the SMTP server hangs on a message: serve gives the job its grace, then
    leaves. The deliveries it claimed but had not begun are free again, their attempt not
    counted; the one under way keeps its lease (the server may yet take it); the run reads
    abandoned, not running."""
    import threading
    import time

    from tests.integration import faultkit as fk
    from tests.integration.test_faults_smtp import stub_smtp
    from worker.app import run_pass
    from worker.reload import ConfigWatcher
    from worker.scheduler import Server
    from worker.store import runs

    with stub_smtp(reply_delay=4) as smtp:
        fk.write_dumps(tmp_path, (3,))
        root = fk.config_dir(tmp_path, sqlite_url, ("ada", "bob", "cy"),
                             smtp_port=smtp.server_address[1])
        config = load_config(root, {})
        engine = open_engine(sqlite_url)
        server = Server(ConfigWatcher(root, {}, config), engine, clock=lambda: NOW)
        job = threading.Thread(target=server._guarded("run", lambda: run_pass(
            config, engine, NOW, stop=server.stopping.is_set)))
        try:
            job.start()
            deadline = time.monotonic() + 20
            while not smtp.messages and time.monotonic() < deadline:  # the first one hangs
                time.sleep(0.02)
            assert smtp.messages, "the first send never reached the server"
            assert server.shutdown(grace=0.3) is False  # the job is stuck in its send
            with engine.connect() as conn:
                rows = conn.execute(select(deliveries.c.attempts, deliveries.c.lease_owner)
                                    .order_by(deliveries.c.id)).all()
            assert [(a, owner is not None) for a, owner in rows] == [
                (1, True), (0, False), (0, False)]
            [run] = runs.recent_runs(engine, 1)
            # serve knows when it gave the run up: status shows that as its end
            assert run.status == "abandoned" and run.finished_at is not None
            assert run.finished_at.replace(tzinfo=UTC) == NOW
        finally:
            job.join()
            engine.dispose()


def test_handing_back_one_databases_claims_leaves_anothers_alone(sqlite_url: str) -> None:
    """serve hands back what its own database's passes claimed. Claims of another database
    (an earlier engine of the process whose pass failed when its server went away: kept for
    its next pass) are not its to hand back: asking that server too failed the whole hand
    back, and serve's run was never marked abandoned."""
    from types import SimpleNamespace

    from sqlalchemy import create_engine

    from worker.sending import Untried

    engine = open_engine(sqlite_url)
    gone = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/gone")  # nothing listens
    untried = Untried()
    untried.add(gone, [SimpleNamespace(id=7, lease_owner="w")])
    untried.strand(gone)
    untried.add(engine, [SimpleNamespace(id=1, lease_owner="w"),
                         SimpleNamespace(id=2, lease_owner="w")])
    try:
        assert untried.release(engine) == 2
        assert untried.release(engine) == 0
        assert list(untried.stranded) == [(id(gone), 7)]  # kept for a pass on its database
    finally:
        engine.dispose()
        gone.dispose()


def test_a_pass_told_to_stop_while_reading_sources_leaves_the_digests_to_the_next(
        tmp_path: Path, seeds_dir: Path, sqlite_url: str) -> None:
    """SIGTERM, Ctrl-C or serve's shutdown while sources are read: the papers are recorded,
    and the pass stops there, interrupted, rather than go on to match every subscriber (at
    scale, a while) only to hand the digests back unsent. The next pass builds and sends
    them, each paper once."""

    from worker.app import run_pass
    from worker.store import runs
    from worker.store.papers import counts
    from worker.store.schema import digests

    config = _config(tmp_path, seeds_dir, sqlite_url, ["model", "language", "vision"])
    engine = open_engine(sqlite_url)
    try:
        stopped = run_pass(config, engine, NOW, stop=lambda: True)
        assert sum(s.new_papers for s in stopped.sources) > 0 and not stopped.deliveries
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(digests)).scalar_one() == 0
        assert counts(engine)["papers"] > 0
        [run] = runs.recent_runs(engine, 1)
        assert run.status == "interrupted"
        again = run_pass(config, engine, NOW)
        assert sum(s.new_papers for s in again.sources) == 0
        assert {d.status for d in again.deliveries} == {"sent"} and len(again.deliveries) == 3
    finally:
        engine.dispose()


def test_a_pass_told_to_stop_while_matching_keeps_what_it_built_and_leaves_the_rest(
        tmp_path: Path, seeds_dir: Path, database_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM, Ctrl-C or serve's shutdown while subscribers are matched (at scale, a while):
    the pass stops after the digest under way, keeps the digests it wrote (pending, unsent:
    no send starts once told to stop) and leaves the other subscribers, whose cursors have
    not moved, to the next pass. That one sends every digest, each paper once."""

    from worker import building
    from worker.app import run_pass
    from worker.report import pass_lines
    from worker.store import runs
    from worker.store.schema import digest_items, digests

    config = _config(tmp_path, seeds_dir, database_url, ["model", "language", "vision"])
    stopping = False

    real = building.match_each

    def match_then_stop(*args: Any, **kwargs: Any) -> Iterator[Any]:
        nonlocal stopping
        for match in real(*args, **kwargs):
            stopping = True  # SIGTERM as the first subscriber's match comes back
            yield match

    monkeypatch.setattr(building, "match_each", match_then_stop)
    engine = open_engine(database_url)
    try:
        stopped = run_pass(config, engine, NOW, stop=lambda: stopping)
        assert list(stopped.subscribers) == ["s0"] and stopped.subscribers["s0"].digest_id
        assert stopped.unbuilt == 2 and not stopped.deliveries
        [run] = runs.recent_runs(engine, 1)
        assert run.status == "interrupted"
        with engine.connect() as conn:
            assert conn.execute(select(digests.c.subscriber_id)).scalars().all() == ["s0"]
            assert {r.status for r in conn.execute(select(deliveries.c.status))} == {"pending"}
        lines = pass_lines(stopped, config.settings)
        assert "  (2 subscribers left to the next run: stopped before their digests were " \
               "built)" in lines
        assert not any("no subscribers" in line for line in lines)

        monkeypatch.setattr(building, "match_each", real)
        again = run_pass(config, engine, NOW)
        assert sorted(sid for sid, r in again.subscribers.items() if r.digest_id) == [
            "s1", "s2"] and again.unbuilt == 0
        assert sorted(d.subscriber_id for d in again.deliveries if d.status == "sent") == [
            "s0", "s1", "s2"]
        with engine.connect() as conn:
            sent_twice = conn.execute(
                select(digest_items.c.subscriber_id, digest_items.c.paper_id)
                .group_by(digest_items.c.subscriber_id, digest_items.c.paper_id)
                .having(func.count() > 1)).all()
        assert sent_twice == []
    finally:
        engine.dispose()
