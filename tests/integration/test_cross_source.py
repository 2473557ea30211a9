"""The same papers from a text dump and from the HF API are one paper each, delivered once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.integration.helpers import make_config, run_cli
from tests.integration.httpfixture import JSON, FixtureServer, Reply, shared_fixture
from worker.store.identity import find_paper
from worker.store.opening import open_engine
from worker.store.schema import digest_items, papers

SUB = """
deliver = ["markdown"]
max_items = 100
min_score = 0.01
backfill = "30d"
[interests]
keywords = ["model", "models", "language", "learning", "data"]
"""
NOW = "2026-06-12T20:00:00+00:00"


def _api_items() -> list[dict]:  # type: ignore[type-arg]
    return json.loads(shared_fixture("hf_api", "daily_papers_2026-06-12.json"))


def _dump_from(items: list[dict]) -> str:  # type: ignore[type-arg]
    # The seed format, built here from the API's own titles and summaries (with hard wraps in
    # a few titles, as text dumps sometimes have them).
    blocks = ["new", "Subscribe", "Jun 12"]
    for index, item in enumerate(items):
        title = item["paper"]["title"]
        if index % 5 == 0 and " " in title:
            head, _, tail = title.partition(" ")
            title = f"{head}\n{tail}"
        blocks += [title, " ".join(item["paper"]["summary"].split())]
    return "\n\n".join(blocks) + "\n"


def _api_source(url: str) -> str:
    return (f'[[sources]]\nname = "hf"\nkind = "hf_api"\nbase_url = "{url}"\n'
            f'date = "2026-06-12"\nmin_interval = 0\n')


@pytest.mark.parametrize("dump_first", [True, False], ids=["dump-then-api", "api-then-dump"])
def test_one_paper_across_sources(tmp_path: Path, database_url: str, dump_first: bool) -> None:
    items = _api_items()
    body = json.dumps(items).encode()
    with FixtureServer() as server:
        server.route("/api/daily_papers", Reply(200, body, JSON))
        config = make_config(tmp_path, database_url, {"ada": SUB})
        worker = config / "worker.toml"
        dump_source, api_source = worker.read_text(), _api_source(server.url)
        (tmp_path / "dumps" / "jun12.txt").write_text(_dump_from(items), encoding="utf-8")
        for step in ("dump", "api") if dump_first else ("api", "dump"):
            # One source at a time, as two days of a real deployment would see them.
            worker.write_text(dump_source if step == "dump" else
                              dump_source.split("[[sources]]")[0] + api_source)
            result = run_cli(config, "run", "--now", NOW)
            assert result.exit_code == 0, result.output
            new = "30 new" if step == ("dump" if dump_first else "api") else "0 new"
            assert f"30 papers listed, {new}" in result.output, result.output
    engine = open_engine(database_url)
    try:
        for item in items:
            paper = find_paper(engine, item["paper"]["id"])
            assert paper is not None, item["paper"]["title"]
            assert paper.authors == tuple(a["name"] for a in item["paper"]["authors"])
            assert paper.links.abstract == f"https://arxiv.org/abs/{item['paper']['id']}"
        with engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(digest_items)).scalar_one()
            distinct = conn.execute(select(func.count(digest_items.c.paper_id.distinct())))
            assert total == distinct.scalar_one() > 0
    finally:
        engine.dispose()


def test_fetch_command(tmp_path: Path, sqlite_url: str) -> None:
    body = json.dumps(_api_items()).encode()
    with FixtureServer() as server:
        server.route("/api/daily_papers", Reply(200, body, JSON, etag='"v1"'))
        config = make_config(tmp_path, sqlite_url, {"ada": SUB})
        worker = config / "worker.toml"
        worker.write_text(worker.read_text().split("[[sources]]")[0] + _api_source(server.url))
        dry = run_cli(config, "fetch", "--dry-run", "--now", NOW)
        assert dry.exit_code == 0 and "dry run" in dry.output
        assert "hf: 1 dump read; 30 papers listed, 30 new" in dry.output, dry.output
        real = run_cli(config, "fetch", "--source", "hf", "--now", NOW)
        assert "30 papers listed, 30 new" in real.output, real.output
        # The ETag was stored: the next fetch is conditional, and a 304 costs no parsing.
        again = run_cli(config, "fetch", "--now", NOW)
        assert "hf: 0 dumps read, 1 unchanged" in again.output, again.output
        assert server.seen[-1].headers.get("if-none-match") == '"v1"'
        assert not (tmp_path / "out").exists()  # fetch builds no digests
        unknown = run_cli(config, "fetch", "--source", "nope")
        assert unknown.exit_code == 2 and "no source named nope" in unknown.output


# (as a text dump shows the title, as arXiv's metadata and the HF API give it): made up
TEX_TITLES = [
    ("Schrödinger Bridges for Tiny Models", 'Schr\\"odinger Bridges for Tiny Models'),
    ("Poincaré Embeddings Revisited", "Poincar\\'{e} Embeddings Revisited"),
    ("Erdős Graphs and Transformers", "Erd\\H{o}s Graphs and Transformers"),
    ("ℓ1-Sparse Probing of Language Models", "$\\ell_1$-Sparse Probing of Language Models"),
    ("Sub-O(log n) Retrieval for Agents", "Sub-$O(\\log n)$ Retrieval for Agents"),
    ("Multi\u00admodal Token Pruning", "Multimodal Token Pruning"),
]


def test_a_title_in_tex_and_as_shown_is_one_paper_sent_once(tmp_path: Path,
                                                              database_url: str) -> None:
    """A dump lists titles as a page shows them; the API gives the same papers' titles with
    their TeX (accents, `\\ell`, `\\log`) and their ids: they gain the ids, are not new again,
    and each reaches the subscriber once."""
    items = [{"paper": {"id": f"2606.{n:05d}", "title": tex, "summary": f"Models, paper {n}.",
                        "authors": [{"name": "A. Author"}],
                        "submittedOnDailyAt": "2026-06-12T00:00:00.000Z"}}
             for n, (_, tex) in enumerate(TEX_TITLES, start=1)]
    blocks = ["new", "Jun 12"]
    for n, (shown, _) in enumerate(TEX_TITLES, start=1):
        blocks += [shown, f"Models, paper {n}."]
    with FixtureServer() as server:
        server.route("/api/daily_papers", Reply(200, json.dumps(items).encode(), JSON))
        config = make_config(tmp_path, database_url, {"ada": SUB})
        worker = config / "worker.toml"
        dump_source = worker.read_text()
        (tmp_path / "dumps" / "jun12.txt").write_text("\n\n".join(blocks) + "\n",
                                                      encoding="utf-8")
        first = run_cli(config, "run", "--now", NOW)
        assert "6 papers listed, 6 new" in first.output, first.output
        worker.write_text(dump_source.split("[[sources]]")[0] + _api_source(server.url))
        second = run_cli(config, "run", "--now", "2026-06-13T20:00:00+00:00")
        assert second.exit_code == 0, second.output
        assert "6 papers listed, 0 new, 6 already known" in second.output, second.output
    engine = open_engine(database_url)
    try:
        for n in range(1, len(TEX_TITLES) + 1):
            assert find_paper(engine, f"2606.{n:05d}") is not None
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(papers)).scalar_one() == 6
            total = conn.execute(select(func.count()).select_from(digest_items)).scalar_one()
            distinct = conn.execute(select(func.count(digest_items.c.paper_id.distinct())))
            assert total == distinct.scalar_one() == 6
    finally:
        engine.dispose()
