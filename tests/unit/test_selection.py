"""worker.selection: every subscriber's digest items, matched in this process or over several."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import sys
import time
from datetime import UTC, datetime

import pytest

from tests.unit.test_matching_batch import TOPICS, synthetic
from worker.matching import Interests, Reason
from worker.profiles import Profile
from worker.records import Links
from worker.selection import PARALLEL_MIN, Candidates, match_each, match_papers
from worker.selection import _matched as _really_matched  # before any test replaces it
from worker.store.models import StoredPaper

NOW = datetime(2026, 3, 16, 8, tzinfo=UTC)


def stored(papers: list) -> list[StoredPaper]:
    return [StoredPaper(id=n + 1, title=p.title, abstract=p.abstract, arxiv_id=None,
                        version=None, authors=(), links=Links(), published=None, upvotes=None,
                        first_seen_at=NOW, first_seen_seq=n + 1) for n, p in enumerate(papers)]


def profiles(count: int, history: list[StoredPaper], seed: int = 3) -> list[Profile]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        topic = rng.choice(TOPICS)
        fields: dict = {"keywords": tuple(rng.sample(topic, 2))}
        if i % 3 == 0:
            fields["like"] = (rng.choice(history).title,)
        if i % 5 == 0:
            fields["query"] = " OR ".join(f'"{t}"' for t in rng.sample(topic, 2))
        out.append(Profile(f"s{i:04d}", f"s{i}", None, ("markdown",), Interests(**fields),
                           max_items=rng.choice((3, 10, 20)), min_score=rng.choice((0.2, 0.4))))
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux")
@pytest.mark.parametrize("workers", [2, 3])
def test_several_processes_match_exactly_what_one_does(workers: int) -> None:
    history = stored(synthetic(200, 11))
    examples = {p.title: p for p in history}
    new = Candidates(stored(synthetic(300, 12)))
    group = profiles(2 * PARALLEL_MIN + 17, history)
    alone = [match_papers(p, new, examples) for p in group]
    together = list(match_each(group, Candidates(new.papers), examples, {}, workers=workers))
    assert together == alone
    assert sum(len(items) for items, _ in alone) > len(group)  # digests are not empty
    assert all(json.loads(item.reasons) for items, _ in alone for item in items)


def test_a_small_group_is_matched_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting processes for a few subscribers costs more than it saves."""
    import multiprocessing

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("no process may be started")

    monkeypatch.setattr(multiprocessing, "get_context", refuse)
    history = stored(synthetic(50, 1))
    new = Candidates(stored(synthetic(80, 2)))
    group = profiles(PARALLEL_MIN // 2, history)
    got = list(match_each(group, new, {p.title: p for p in history}, {}, workers=4))
    assert got == [match_papers(p, new, {p.title: p for p in history}) for p in group]


@pytest.mark.parametrize("reason", [
    Reason("keyword", "title mentions “VLM”", "title", ("VLM", "VLMs"), 0.25, "VLM"),
    Reason("example", 'resembles "A" (similarity 0.50)', None, (), 0.5),
    Reason("exclude", "abstract mentions excluded “survey”\n\t\u202e", "abstract", ("survey",),
           -0.1, None),
    Reason("keyword", 'a \\ "quoted" \x00 \U0001f600 ×', "title", ('"q"', "\\"), 1e-07, "é"),
    Reason("unlike", "", None, (), -123456.789012, ""),
    Reason("query", "matches", None, (), 0, None),  # type: ignore[arg-type]  # an int weight
])
def test_a_reason_is_stored_as_json_of_its_fields(reason: Reason) -> None:
    fields = dataclasses.asdict(reason)
    stored = {**fields, "terms": list(reason.terms)}
    assert json.loads(reason.to_json()) == stored
    assert reason.to_json() == json.dumps(stored, ensure_ascii=False)


def test_items_store_their_reasons_as_the_json_list_of_them() -> None:
    history = stored(synthetic(50, 1))
    new = Candidates(stored(synthetic(80, 2)))
    [profile] = profiles(1, history, seed=9)
    items, _ = match_papers(profile, new, {})
    assert items
    for item in items:
        decoded = json.loads(item.reasons)
        assert item.reasons == json.dumps(decoded, ensure_ascii=False)
        assert decoded and all(set(r) == {f.name for f in dataclasses.fields(Reason)}
                               for r in decoded)


# Workers run what the running process runs (FanOut maps one function); these tell the two
# apart by process. Module-level: a worker is handed its function by reference (pickled).
_HERE: list[tuple[int, int]] = []
_PARENT = os.getpid()


def _slow_there_counted_here(bounds: tuple[int, int]) -> object:
    if os.getpid() == _PARENT:
        _HERE.append(bounds)  # a worker's calls count in its own copy, not here
    else:
        time.sleep(0.3)
    return _really_matched(bounds)


def _dying_there(bounds: tuple[int, int]) -> object:
    if os.getpid() != _PARENT:
        os._exit(9)  # as if the kernel had killed the worker (out of memory)
    return _really_matched(bounds)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux")
def test_the_running_process_matches_the_shares_no_worker_has_started(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """While the share it must hand on next is not ready, the pass matches later ones itself
    (its own process is one of the `workers`), and still hands every digest on in order."""
    from worker import selection

    history = stored(synthetic(60, 5))
    new = Candidates(stored(synthetic(100, 6)))
    group = profiles(3 * PARALLEL_MIN, history)
    expected = [match_papers(p, new, {}) for p in group]
    _HERE.clear()
    monkeypatch.setattr(selection, "_matched", _slow_there_counted_here)
    assert list(match_each(group, new, {}, {}, workers=2)) == expected
    assert 0 < len(_HERE) < len(group) // selection.SHARE  # some here, some by the worker


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux")
def test_a_worker_that_dies_costs_time_not_digests(monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    from worker import selection

    history = stored(synthetic(60, 3))
    new = Candidates(stored(synthetic(100, 4)))
    group = profiles(2 * PARALLEL_MIN, history)
    expected = [match_papers(p, new, {}) for p in group]
    monkeypatch.setattr(selection, "_matched", _dying_there)
    assert list(match_each(group, new, {}, {}, workers=2)) == expected
    assert "a matching worker process died" in caplog.text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux")
def test_matching_closed_early_ends_its_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass told to stop while it matches closes match_each after the digest under way:
    its worker processes end then, with the shares they had begun, not after every
    subscriber was matched; the fan-out is free for the next pass."""
    import multiprocessing

    from worker import selection
    from worker.fanout import _HELD

    history = stored(synthetic(60, 5))
    new = Candidates(stored(synthetic(100, 6)))
    group = profiles(3 * PARALLEL_MIN, history)
    monkeypatch.setattr(selection, "_matched", _slow_there_counted_here)
    _HERE.clear()
    matched = match_each(group, new, {}, {}, workers=2)
    assert next(matched) == match_papers(group[0], new, {})
    began = time.perf_counter()
    matched.close()
    # the worker finishes the share it is on (0.3 s), none of the ~10 after it
    assert time.perf_counter() - began < 2.0
    assert multiprocessing.active_children() == []
    assert not _HELD["matching"].locked()
    assert len(_HERE) < len(group) // selection.SHARE - 2


def _slow_here_dying_there(n: int) -> int:
    if os.getpid() != _PARENT:
        time.sleep(0.5)  # the running process does the shares after this one meanwhile
        os._exit(9)
    time.sleep(0.02)
    return n


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux")
def test_a_worker_dying_while_this_process_works_ahead_leaves_the_pool_sound(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The running process does shares ahead while a worker's is under way; the worker then
    dies. Every share is done once and handed on in order, and the pool fails cleanly: no
    share was taken back from it (Python 3.11's pool, when a worker dies while a cancelled
    share is still queued, crashes its manager thread with InvalidStateError, and the shares
    queued after that one never complete)."""
    import threading

    from worker.fanout import FanOut

    crashed: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: crashed.append(args.exc_value))
    with FanOut(2, "dying-test") as fan:
        assert list(fan.map(_slow_here_dying_there, list(range(16)))) == list(range(16))
    assert "a dying-test worker process died" in caplog.text
    assert crashed == []


def test_a_second_fan_out_at_the_same_time_matches_in_its_own_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers read the batch from module state: while one group is fanned out (another
    thread of serve), a second is matched where it runs, not mixed into the first's."""
    import multiprocessing

    from worker.fanout import FanOut, shared

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("no process may be started")

    history = stored(synthetic(50, 1))
    new = Candidates(stored(synthetic(80, 2)))
    group = profiles(2 * PARALLEL_MIN, history)
    other = {"profiles": "the other group's"}
    with FanOut(2, "matching", other) as first:  # another fan-out under way
        assert first.workers == 2 and shared("matching") is other
        monkeypatch.setattr(multiprocessing, "get_context", refuse)
        got = list(match_each(group, new, {}, {}, workers=2))
        assert shared("matching") is other  # left as it was
    assert got == [match_papers(p, new, {}) for p in group]
