"""The due-check on real databases: catch-up after downtime, double fires, grace, edits."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from tests.integration.helpers import add_seed_day, make_config, run_cli, wait_for
from worker.app import Pipeline, run_pass
from worker.due import build_due, find_due
from worker.settings import load_config
from worker.store import schedule as store
from worker.store.opening import open_engine
from worker.store.schema import digests, slot_claims

BROAD = """
deliver = ["markdown"]
max_items = 500
min_score = 0.0
schedule = "{schedule}"
timezone = "Europe/Berlin"
[interests]
keywords = ["model", "language", "vision", "learning", "data"]
"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def sub(schedule: str = "daily 08:00") -> str:
    return BROAD.replace("{schedule}", schedule)


@pytest.fixture
def engine(database_url: str):  # type: ignore[no-untyped-def]
    engine = open_engine(database_url)
    yield engine
    engine.dispose()


def digest_slots(engine: Engine, subscriber: str = "ada") -> list[str | None]:
    with engine.connect() as conn:
        return list(conn.execute(select(digests.c.slot).where(
            digests.c.subscriber_id == subscriber).order_by(digests.c.id)).scalars())


def claims(engine: Engine, subscriber: str = "ada") -> list[tuple[str, int | None]]:
    with engine.connect() as conn:
        return [(r.slot, r.digest_id) for r in conn.execute(
            select(slot_claims).where(slot_claims.c.subscriber_id == subscriber)
            .order_by(slot_claims.c.slot))]


def test_catch_up_after_downtime_sends_one_digest(tmp_path: Path, seeds_dir: Path,
                                                  database_url: str, engine: Engine) -> None:
    config = make_config(tmp_path, database_url, {"ada": sub()})
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    # First sight at 21:00 Berlin: today's 08:00 slot predates ada, so nothing yet.
    first = run_cli(config, "run", "--due", "--now", "2026-03-12T20:00:00+00:00")
    assert first.exit_code == 0, first.output
    assert digest_slots(engine) == [] and claims(engine) == []
    # Down over three 08:00 slots (13th, 14th, 15th) while two more days of papers came in.
    add_seed_day(tmp_path, seeds_dir, "2026-03-13")
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    back = run_cli(config, "run", "--due", "--now", "2026-03-15T12:00:00+00:00")
    assert back.exit_code == 0, back.output
    assert digest_slots(engine) == ["2026-03-15T07:00:00Z"]  # 08:00 CET, the latest only
    assert "ada: " in back.output and "nothing new" not in back.output
    assert len(list((tmp_path / "out" / "ada").glob("*.md"))) == 1
    # The same slot again, and the rest of the day: nothing more.
    for moment in ("2026-03-15T12:00:00+00:00", "2026-03-15T22:00:00+00:00"):
        again = run_cli(config, "run", "--due", "--now", moment)
        assert again.exit_code == 0, again.output
    assert digest_slots(engine) == ["2026-03-15T07:00:00Z"]
    # The next slot with nothing new is handled (claimed) without a digest.
    run_cli(config, "run", "--due", "--now", "2026-03-16T07:00:30+00:00")
    assert digest_slots(engine) == ["2026-03-15T07:00:00Z"]
    assert [slot for slot, _ in claims(engine)] == ["2026-03-15T07:00:00Z",
                                                    "2026-03-16T07:00:00Z"]
    assert claims(engine)[1][1] is None


def test_plain_run_still_builds_for_everyone(tmp_path: Path, seeds_dir: Path,
                                             sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"ada": sub("weekly mon 09:00")})
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    due = run_cli(config, "run", "--due", "--now", "2026-03-14T20:00:00+00:00")
    assert due.exit_code == 0 and not (tmp_path / "out" / "ada").exists()
    plain = run_cli(config, "run", "--now", "2026-03-14T20:05:00+00:00")
    assert plain.exit_code == 0 and list((tmp_path / "out" / "ada").glob("*.md"))


def test_a_plain_runs_digest_serves_the_slot_that_passed_before_it(
        tmp_path: Path, seeds_dir: Path, database_url: str, engine: Engine) -> None:
    """A plain `run` builds everyone's digest, schedules or not. Its digest serves the slot
    that passed before it: cron's `run --due` the next morning, before that day's slot,
    built a second digest for it ("nothing new", sent to a send_empty reader), and another
    at the day's slot, two digests 90 minutes apart."""
    profile = sub("weekdays 07:30").replace("[interests]", "send_empty = true\n[interests]")
    config = make_config(tmp_path, database_url, {"ada": profile})
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    assert run_cli(config, "run", "--now", "2026-03-15T12:00:00+00:00").exit_code == 0
    add_seed_day(tmp_path, seeds_dir, "2026-03-13")
    # Monday 10:00 in Berlin, after its 07:30 slot, which nothing claimed
    plain = run_cli(config, "run", "--now", "2026-03-16T09:00:00+00:00")
    assert plain.exit_code == 0, plain.output
    assert digest_slots(engine) == [None, None]
    assert claims(engine) == [("2026-03-13T06:30:00Z", 1), ("2026-03-16T06:30:00Z", 2)]
    early = run_cli(config, "run", "--due", "--now", "2026-03-17T05:00:00+00:00")  # 06:00
    assert early.exit_code == 0, early.output
    assert digest_slots(engine) == [None, None], early.output
    slot = run_cli(config, "run", "--due", "--now", "2026-03-17T06:31:00+00:00")  # 07:31
    assert slot.exit_code == 0, slot.output
    assert digest_slots(engine) == [None, None, "2026-03-17T06:30:00Z"]
    # a dry run records no claim
    before = claims(engine)
    assert run_cli(config, "run", "--dry-run", "--now", "2026-03-18T09:00:00+00:00"
                   ).exit_code == 0
    assert claims(engine) == before


def test_run_due_with_nobody_due_says_so_rather_than_no_subscribers(
        tmp_path: Path, seeds_dir: Path, sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"ada": sub("weekly mon 09:00")})
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    due = run_cli(config, "run", "--due", "--now", "2026-03-14T20:00:00+00:00")
    assert due.exit_code == 0, due.output
    assert "no subscribers" not in due.output  # ada is there, only not due
    assert "1 subscriber not due yet" in due.output


def _prepared(tmp_path: Path, seeds_dir: Path, url: str, subscribers: dict[str, str],
              ) -> tuple[Path, datetime]:
    """Subscribers first seen on the 12th, papers of the 13th in: their slots are due."""
    config = make_config(tmp_path, url, subscribers)
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    assert run_cli(config, "run", "--due", "--now", "2026-03-12T20:00:00+00:00").exit_code == 0
    add_seed_day(tmp_path, seeds_dir, "2026-03-13")
    return config, at("2026-03-13T07:00:05")


def test_double_fire_in_sequence_and_in_parallel(tmp_path: Path, seeds_dir: Path,
                                                 database_url: str, engine: Engine) -> None:
    names = {f"s{i}": sub() for i in range(4)}
    config_dir, now = _prepared(tmp_path, seeds_dir, database_url, names)
    config = load_config(config_dir, {})
    # Four workers fire for the same slot at once (two replicas, a scheduler hiccup...).
    errors: list[BaseException] = []

    def fire() -> None:
        try:
            run_pass(config, engine, now, due=True)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fire) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    run_pass(config, engine, now + timedelta(seconds=30), due=True)  # and once more, later
    for name in names:
        assert digest_slots(engine, name) == ["2026-03-13T07:00:00Z"], name
        assert [c[0] for c in claims(engine, name)] == ["2026-03-13T07:00:00Z"]


def test_a_slot_claimed_meanwhile_is_not_built_again(tmp_path: Path, seeds_dir: Path,
                                                     database_url: str, engine: Engine) -> None:
    config_dir, now = _prepared(tmp_path, seeds_dir, database_url, {"ada": sub()})
    config = load_config(config_dir, {})
    # Worker A decided ada is due; before it claims, worker B claims and builds.
    seen = store.first_seen(engine, ["ada"])
    decided = find_due(engine, config.profiles, config.settings, now, seen)
    assert [d.id for d in decided] == ["2026-03-13T07:00:00Z"]
    build_due(Pipeline(config, engine, now), config.profiles)
    assert not store.claim_slot(engine, "ada", decided[0].id, owner="A", now=now,
                                stale_after=timedelta(minutes=10))
    assert digest_slots(engine) == ["2026-03-13T07:00:00Z"]
    # Built, the slot is due no more: serve's idle check does not start a pass for it
    # again at every tick until the next slot.
    assert find_due(engine, config.profiles, config.settings, now + timedelta(hours=1),
                    seen) == []


def test_a_slot_at_the_very_moment_a_subscriber_is_first_seen_is_not_its_first(
        tmp_path: Path, seeds_dir: Path, database_url: str, engine: Engine) -> None:
    """Due: a slot *later* than first seen minus [serve] grace."""
    config_dir, now = _prepared(tmp_path, seeds_dir, database_url, {"ada": sub()})
    config = load_config(config_dir, {})
    slot = at("2026-03-13T07:00:00")
    grace = config.settings.serve.duration("grace")
    for seen, due in ((slot + grace, []), (slot + grace - timedelta(seconds=1), [slot])):
        found = find_due(engine, config.profiles, config.settings, now, {"ada": seen})
        assert [d.slot for d in found] == due, seen


def test_stale_claim_is_taken_over_unless_its_digest_exists(engine: Engine,
                                                           tmp_path: Path, seeds_dir: Path,
                                                           database_url: str) -> None:
    config_dir, now = _prepared(tmp_path, seeds_dir, database_url, {"ada": sub()})
    config = load_config(config_dir, {})
    slot = "2026-03-13T07:00:00Z"
    # A worker claimed the slot and died before building.
    assert store.claim_slot(engine, "ada", slot, owner="dead", now=now,
                            stale_after=timedelta(minutes=10))
    assert build_due(Pipeline(config, engine, now + timedelta(minutes=1)), config.profiles) == {}
    later = now + timedelta(minutes=11)
    reports = build_due(Pipeline(config, engine, later), config.profiles)
    assert reports["ada"].digest_id is not None
    assert digest_slots(engine) == [slot] and claims(engine) == [(slot, reports["ada"].digest_id)]
    # A worker that died after writing its digest: the claim is finished, nothing rebuilt.
    with engine.begin() as conn:
        conn.execute(update(slot_claims).values(finished_at=None, digest_id=None))
    assert not store.claim_slot(engine, "ada", slot, owner="next", now=later + timedelta(hours=1),
                                stale_after=timedelta(minutes=10))
    assert claims(engine) == [(slot, reports["ada"].digest_id)]


def test_grace_lets_a_new_subscriber_have_todays_slot(tmp_path: Path, seeds_dir: Path,
                                                      sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"ada": sub()},
                         extra='[serve]\ngrace = "2h"\n')
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    # Added at 09:30 Berlin: the 08:00 slot is within the grace.
    run_cli(config, "run", "--due", "--now", "2026-03-12T08:30:00+00:00")
    engine = open_engine(sqlite_url)
    assert digest_slots(engine) == ["2026-03-12T07:00:00Z"]
    engine.dispose()


def test_schedule_edit_does_not_resend_an_older_slot(tmp_path: Path, seeds_dir: Path,
                                                     sqlite_url: str) -> None:
    config, _ = _prepared(tmp_path, seeds_dir, sqlite_url, {"ada": sub()})
    engine = open_engine(sqlite_url)
    run_cli(config, "run", "--due", "--now", "2026-03-13T07:30:00+00:00")
    assert digest_slots(engine) == ["2026-03-13T07:00:00Z"]
    # Moved to 09:00: yesterday's 09:00 slot is older than the one just handled.
    (config / "subscribers" / "ada.toml").write_text(sub("daily 09:00"), encoding="utf-8")
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    run_cli(config, "run", "--due", "--now", "2026-03-13T07:45:00+00:00")
    assert digest_slots(engine) == ["2026-03-13T07:00:00Z"]
    run_cli(config, "run", "--due", "--now", "2026-03-13T08:00:10+00:00")
    assert digest_slots(engine) == ["2026-03-13T07:00:00Z", "2026-03-13T08:00:00Z"]
    engine.dispose()


def test_default_schedule_and_timezone_come_from_worker_toml(tmp_path: Path, seeds_dir: Path,
                                                             sqlite_url: str) -> None:
    plain = "deliver = [\"markdown\"]\nmin_score = 0.0\n[interests]\nkeywords = [\"model\"]\n"
    config = make_config(tmp_path, sqlite_url, {"ada": plain},
                         extra='timezone = "America/New_York"\n'
                               '[serve]\ndefault_schedule = "weekdays 06:15"\n')
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    run_cli(config, "run", "--due", "--now", "2026-03-12T20:00:00+00:00")  # Thursday
    add_seed_day(tmp_path, seeds_dir, "2026-03-13")
    run_cli(config, "run", "--due", "--now", "2026-03-13T10:14:00+00:00")
    engine = open_engine(sqlite_url)
    assert digest_slots(engine) == []
    run_cli(config, "run", "--due", "--now", "2026-03-13T10:15:00+00:00")  # 06:15 EDT
    assert digest_slots(engine) == ["2026-03-13T10:15:00Z"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(slot_claims)).scalar() == 1
    engine.dispose()


def test_a_digest_due_with_a_fetch_holds_what_that_fetch_finds(tmp_path: Path,
                                                                sqlite_url: str) -> None:
    """serve fires the 08:00 digest check and the 08:00 fetch together, in either order: the
    check waits for the fetch, so the digest holds its papers instead of the next slot."""
    from tests.integration.httpfixture import FixtureServer, Reply
    from worker.cli import http_factory
    from worker.reload import ConfigWatcher
    from worker.scheduler import Server

    dump = b"Mar 14\n\nA Vision Language Model\n\nWe train a vision language model.\n"
    with FixtureServer() as web:
        web.route("/today.txt", Reply(200, dump, "text/plain", delay=1.5))
        config = make_config(tmp_path, sqlite_url, {"ada": sub("daily 08:00")}, extra=(
            f'[[sources]]\nname = "slow"\nkind = "dump_url"\nurl = "{web.url}/today.txt"\n'
            'min_interval = 0\n'))
        settings = load_config(config, {})
        assert not settings.problems, settings.problems
        clock = {"now": at("2026-03-14T06:30:00")}  # 07:30 in Berlin: first sight
        engine = open_engine(sqlite_url)
        server = Server(ConfigWatcher(config, {}, settings), engine, clock=lambda: clock["now"],
                        http_factory=http_factory(settings.settings))
        try:
            server.due()
            clock["now"] = at("2026-03-14T07:00:00")  # 08:00 in Berlin
            fetching = threading.Thread(target=server.fetch, args=("slow",))
            fetching.start()
            assert wait_for(lambda: bool(web.seen))  # the fetch is under way, not yet done
            server.due()
            fetching.join()
        finally:
            engine.dispose()
    (digest,) = (tmp_path / "out" / "ada").glob("*.md")
    assert "A Vision Language Model" in digest.read_text(encoding="utf-8")


def test_a_fetch_for_a_later_moment_does_not_hold_a_check_up(tmp_path: Path,
                                                              sqlite_url: str) -> None:
    import time

    from tests.integration.httpfixture import FixtureServer, Reply
    from worker.cli import http_factory
    from worker.reload import ConfigWatcher
    from worker.scheduler import Server

    with FixtureServer() as web:
        web.route("/today.txt", Reply(200, b"Mar 14\n\nA Model\n\nA model.\n", "text/plain",
                                      delay=3.0))
        config = make_config(tmp_path, sqlite_url, {"ada": sub("daily 08:00")}, extra=(
            f'[[sources]]\nname = "slow"\nkind = "dump_url"\nurl = "{web.url}/today.txt"\n'
            'min_interval = 0\n'))
        settings = load_config(config, {})
        clock = {"now": at("2026-03-14T07:01:00")}
        engine = open_engine(sqlite_url)
        server = Server(ConfigWatcher(config, {}, settings), engine, clock=lambda: clock["now"],
                        http_factory=http_factory(settings.settings))
        try:
            fetching = threading.Thread(target=server.fetch, args=("slow",))
            fetching.start()  # for 07:01
            assert wait_for(lambda: bool(web.seen))
            clock["now"] = at("2026-03-14T07:00:00")  # a check for 07:00 comes in meanwhile
            started = time.monotonic()
            server.due()
            assert time.monotonic() - started < 2.0 and fetching.is_alive()
            fetching.join()
        finally:
            engine.dispose()



def test_a_slot_is_claimed_and_finished_for_everyone_in_one_commit_each(engine: Engine) -> None:
    """A daily slot of 10,000 subscribers made two commits a subscriber (claim, finish): 83 s
    of `run --due` with nothing new on PostgreSQL. Now one commit claims them all (the
    statements in chunks) and one finishes them; a claim found taken is still left alone, or
    taken over once stale."""
    from sqlalchemy import event, insert

    from worker.store.schema import subscribers

    now, slot, stale = at("2026-03-13T08:00:00"), "2026-03-13T07:00:00Z", timedelta(minutes=10)
    names = [f"s{i:04d}" for i in range(store.CLAIMS_A_STATEMENT + 5)]
    with engine.begin() as conn:
        conn.execute(insert(subscribers), [{"id": n, "name": n, "cursor_seq": 0,
                                            "first_seen_at": now, "updated_at": now}
                                           for n in names])
    assert store.claim_slot(engine, names[0], slot, owner="other", now=now, stale_after=stale)
    assert store.claim_slot(engine, names[1], slot, owner="dead", now=now - stale * 2,
                            stale_after=stale)
    commits: list[object] = []
    event.listen(engine, "commit", commits.append)
    won = store.claim_slots(engine, [(n, slot) for n in reversed(names)], owner="me", now=now,
                            stale_after=stale)
    assert won == [(n, slot) for n in names[1:]]  # names[1] taken over: its claim was stale
    assert len(commits) == 1 + 2  # every free claim; then each found taken, on its own
    commits.clear()
    store.finish_slots(engine, slot, {n: None for n in names[1:]}, now=now)
    assert len(commits) == 1
    with engine.connect() as conn:
        rows = {r.subscriber_id: r for r in conn.execute(select(slot_claims))}
    assert rows[names[0]].owner == "other" and rows[names[0]].finished_at is None
    assert all(rows[n].owner == "me" and rows[n].finished_at == now for n in names[1:])
    assert store.claim_slots(engine, [(names[2], slot)], owner="late", now=now,
                             stale_after=stale) == []


def test_serves_idle_check_finds_no_work_in_the_slot_of_a_reader_who_unsubscribed(
        tmp_path: Path, seeds_dir: Path, database_url: str, engine: Engine) -> None:
    """A pass leaves out who unsubscribed, so their slot stays due: were they counted, serve's
    idle check would run a pass at every check (each minute) for nothing."""
    from worker.due import has_work
    from worker.store.subscriptions import set_unsubscribed

    config = make_config(tmp_path, database_url, {"ada": sub()})
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    assert run_cli(config, "run", "--due", "--now", "2026-03-12T20:00:00+00:00").exit_code == 0
    loaded, due_at = load_config(config, {}), at("2026-03-13T12:00:00")
    assert has_work(engine, loaded, due_at)  # the 13th's 08:00 slot
    set_unsubscribed(engine, "ada", due_at)
    assert not has_work(engine, loaded, due_at)
    set_unsubscribed(engine, "ada", None)
    assert has_work(engine, loaded, due_at)


def test_a_slot_pass_told_to_stop_while_matching_gives_back_the_slots_it_did_not_build(
        tmp_path: Path, seeds_dir: Path, database_url: str, engine: Engine,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """serve's shutdown (or SIGTERM to `run --due`) while a slot's subscribers are matched:
    the slots of those whose digests were built are finished with them; the others' claims
    are given back, so the next pass (serve restarted a minute later) claims and builds them
    at once, not after the claims grow stale, and nobody gets a slot's digest twice."""
    from worker import building

    names = {f"s{i}": sub() for i in range(3)}
    config_dir, now = _prepared(tmp_path, seeds_dir, database_url, names)
    config = load_config(config_dir, {})
    real, stopping = building.match_each, False

    def match_then_stop(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        nonlocal stopping
        for match in real(*args, **kwargs):  # type: ignore[arg-type]
            stopping = True  # shutdown as the first subscriber's match comes back
            yield match

    monkeypatch.setattr(building, "match_each", match_then_stop)
    report = run_pass(config, engine, now, due=True, stop=lambda: stopping)
    assert report.unbuilt == 2 and report.not_due == 0 and not report.deliveries
    assert claims(engine, "s0") == [("2026-03-13T07:00:00Z", report.subscribers["s0"].digest_id)]
    assert claims(engine, "s1") == claims(engine, "s2") == []
    monkeypatch.setattr(building, "match_each", real)
    again = run_pass(config, engine, now + timedelta(minutes=1), due=True)
    assert sorted(sid for sid, r in again.subscribers.items() if r.digest_id) == ["s1", "s2"]
    assert sorted(d.subscriber_id for d in again.deliveries if d.status == "sent") == [
        "s0", "s1", "s2"]
    for name in names:
        assert digest_slots(engine, name) == ["2026-03-13T07:00:00Z"], name
