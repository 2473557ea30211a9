"""Delivery renders digests over `[matching] workers` processes: the same files as one process,
a digest that fails to render stays pending and says why, and a dead worker costs time only."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.integration.helpers import add_seed_day, make_config
from worker import rendering
from worker.app import Pipeline
from worker.rendering import RENDER_MIN
from worker.settings import load_config
from worker.store.opening import open_engine
from worker.store.schema import deliveries

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="rendering workers are forked on Linux")
NOW = datetime(2026, 3, 14, 20, tzinfo=UTC)
SUBSCRIBER = """
email = "{name}@example.org"
deliver = {deliver}
max_items = 30
min_score = 0.01
[interests]
keywords = ["{keyword}"]
"""
KEYWORDS = ["model", "language", "vision", "image", "learning", "benchmark"]
_PARENT = os.getpid()


def _pipeline(tmp_path: Path, seeds_dir: Path, database_url: str, workers: int,
              count: int = RENDER_MIN + 20, build: bool = True) -> Pipeline:
    """`count` subscribers (email, Markdown, or both), their digests built unless not."""
    subscribers = {
        f"s{n:03d}": SUBSCRIBER.format(
            name=f"s{n:03d}", keyword=KEYWORDS[n % len(KEYWORDS)],
            deliver=('["email"]', '["markdown"]', '["email", "markdown"]')[n % 3])
        for n in range(count)}
    root = make_config(tmp_path, database_url, subscribers,
                       extra=f"[matching]\nworkers = {workers}")
    for day in ("2026-03-12", "2026-03-13"):
        add_seed_day(tmp_path, seeds_dir, day)
    config = load_config(root, {})
    pipeline = Pipeline(config, open_engine(database_url), NOW)
    assert not config.broken, config.broken
    if build:
        pipeline.ingest()
        pipeline.build_digests(config.profiles)
    return pipeline


def _with_workers(pipeline: Pipeline, workers: int) -> Pipeline:
    config = pipeline.config
    settings = replace(config.settings, matching=replace(config.settings.matching,
                                                         workers=workers))
    return Pipeline(replace(config, settings=settings), pipeline.engine, pipeline.now)


def _delivered(pipeline: Pipeline, workers: int) -> dict[str, bytes]:
    """Every pending delivery sent with `workers` rendering processes: the files written."""
    pipeline = _with_workers(pipeline, workers)
    out = pipeline.settings.output_dir
    with pipeline.engine.begin() as conn:
        conn.execute(update(deliveries).values(status="pending", attempts=0, sent_at=None,
                                               target=None))
    for path in out.rglob("*"):
        if path.is_file():
            path.unlink()
    reports = pipeline.deliver(pipeline.config.profiles)
    assert len(reports) > RENDER_MIN and {r.status for r in reports} == {"sent"}, reports[:3]
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file()}


def test_workers_render_the_same_files_as_one_process(tmp_path: Path, seeds_dir: Path,
                                                      database_url: str) -> None:
    pipeline = _pipeline(tmp_path, seeds_dir, database_url, 2)
    alone = _delivered(pipeline, 1)
    assert any(k.endswith(".eml") for k in alone) and any(k.endswith(".md") for k in alone)
    assert _delivered(pipeline, 2) == alone
    assert _delivered(pipeline, 3) == alone


def test_a_digest_that_fails_to_render_in_a_worker_stays_pending_and_says_why(
        tmp_path: Path, seeds_dir: Path, database_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = _pipeline(tmp_path, seeds_dir, database_url, 2)
    render = rendering.Renderer.render
    broken = 5  # a digest every process fails on (the workers inherit the patch)

    def failing(self: rendering.Renderer, digest_id: int, *args: Any) -> Any:
        if digest_id == broken:
            raise ValueError(f"template trouble in digest {digest_id}")
        return render(self, digest_id, *args)

    monkeypatch.setattr(rendering.Renderer, "render", failing)
    reports = pipeline.deliver(pipeline.config.profiles)
    failed = [r for r in reports if r.status != "sent"]
    assert failed and {r.digest_id for r in failed} == {broken}
    assert all(r.status == "retry" and "ValueError: template trouble in digest 5" in r.detail
               for r in failed)
    assert len(reports) - len(failed) > RENDER_MIN


def test_a_template_that_fails_in_a_worker_holds_that_form_only(
        tmp_path: Path, seeds_dir: Path, database_url: str) -> None:
    """A `templates_dir` HTML template that fails when rendered holds every email, pending
    with no attempt counted (the install's to fix, not the digests'); the Markdown of the
    same digests goes out: a worker renders each form on its own, as the sending process
    does (it used to fail the digest's every form when one failed)."""
    pipeline = _pipeline(tmp_path, seeds_dir, database_url, 2)
    templates = tmp_path / "my-templates"
    templates.mkdir()
    (templates / "digest.html.j2").write_text("{{ d.no_such_field }}\n", encoding="utf-8")
    config = pipeline.config
    settings = replace(config.settings, templates_dir=templates)
    pipeline = Pipeline(replace(config, settings=settings), pipeline.engine, NOW)
    reports = pipeline.deliver(pipeline.config.profiles)
    assert len(reports) > RENDER_MIN
    emails = [r for r in reports if r.channel == "email"]
    markdown = [r for r in reports if r.channel == "markdown"]
    reason = f"TemplateError: {templates / 'digest.html.j2'}:1: "
    assert emails and all(r.status == "retry" and r.detail.startswith(reason) for r in emails)
    assert markdown and {r.status for r in markdown} == {"sent"}
    assert {r.digest_id for r in emails} & {r.digest_id for r in markdown}  # both channels
    with pipeline.engine.connect() as conn:
        held = set(conn.execute(select(deliveries.c.status, deliveries.c.attempts)
                                .where(deliveries.c.channel == "email")))
    assert held == {("pending", 0)}


def _dying_there(share: Any) -> Any:
    if os.getpid() != _PARENT:
        os._exit(9)  # as if the kernel had killed the worker (out of memory)
    return _really_rendered(share)


_really_rendered = rendering._render_share


def test_a_rendering_worker_that_dies_costs_time_not_digests(
        tmp_path: Path, seeds_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    pipeline = _pipeline(tmp_path, seeds_dir, database_url, 2)
    alone = _delivered(pipeline, 1)
    monkeypatch.setattr(rendering, "_render_share", _dying_there)
    assert _delivered(pipeline, 2) == alone
    assert "a rendering worker process died" in caplog.text


def _no_process_may_start(monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("no process may be started")

    monkeypatch.setattr(multiprocessing, "get_context", refuse)


def test_a_few_digests_are_rendered_where_they_are_sent(
        tmp_path: Path, seeds_dir: Path, database_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Below RENDER_MIN digests a pass forks no renderer: starting one costs more than it
    saves (a laptop's daily run)."""
    pipeline = _pipeline(tmp_path, seeds_dir, database_url, 2, count=RENDER_MIN - 10)
    _no_process_may_start(monkeypatch)
    reports = pipeline.deliver(pipeline.config.profiles)
    assert len(reports) >= RENDER_MIN - 10 and {r.status for r in reports} == {"sent"}


def test_a_dry_run_renders_on_its_one_connection(tmp_path: Path, seeds_dir: Path,
                                                 database_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """--dry-run runs the pass on one connection, rolled back after: a renderer could not
    read its uncommitted digests, and must not share that connection."""
    from worker.app import run_pass

    pipeline = _pipeline(tmp_path, seeds_dir, database_url, 2, build=False)
    _no_process_may_start(monkeypatch)
    report = run_pass(pipeline.config, pipeline.engine, NOW, dry_run=True)
    assert len(report.deliveries) > RENDER_MIN
    assert all(d.status == "sent" and d.detail.startswith("would ") for d in report.deliveries)
