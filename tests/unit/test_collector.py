"""The collector's pace during a delivery pass (worker/collector.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from worker.collector import PASS_THRESHOLD, paced_for_batches


@pytest.fixture(autouse=True)
def _thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_a_pass_raises_the_young_threshold_and_restores_all_three_after() -> None:
    with paced_for_batches():
        assert gc.get_threshold() == (PASS_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_the_thresholds_come_back_when_the_pass_fails() -> None:
    with pytest.raises(RuntimeError), paced_for_batches(2000):
        assert gc.get_threshold()[0] == 2000
        raise RuntimeError("a channel broke")
    assert gc.get_threshold() == (700, 10, 10)


def test_a_nested_pass_keeps_the_outer_pace_and_a_higher_one_is_not_lowered() -> None:
    gc.set_threshold(100_000, 10, 10)
    with paced_for_batches(2000):
        assert gc.get_threshold()[0] == 100_000
        with paced_for_batches(300_000):
            assert gc.get_threshold()[0] == 300_000
        assert gc.get_threshold()[0] == 100_000
    assert gc.get_threshold()[0] == 100_000


def test_collection_switched_off_by_a_zero_threshold_stays_off() -> None:
    gc.set_threshold(0, 10, 10)
    with paced_for_batches():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold()[0] == 0
