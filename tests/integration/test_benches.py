"""The benchmarks of issue 7 run on small sizes and check what they can check: the scale pass
sends every digest over one SMTP connection, matching alone agrees with every profile matched
again with nothing cached, and the nothing-new run is timed; and issue 6's relevance bench
marks as its reader would. No figure is asserted here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench(*args: str, timeout: int = 300) -> str:
    done = subprocess.run([sys.executable, str(BENCH / args[0]), *args[1:]],
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_matching_bench_verifies_shared_work_against_profiles_alone() -> None:
    out = _bench("matching.py", "--subscribers", "60", "--new", "200", "--history", "100",
                 "--verify", "2")
    assert "verify: 30 of 30 profiles matched alone agree" in out
    assert re.search(r"matching: 60 subscribers x 200 papers: .* fingerprint [0-9a-f]{16}", out)


def test_scale_bench_delivers_every_digest_over_one_connection(tmp_path: Path) -> None:
    out = _bench("scale.py", "--workdir", str(tmp_path), "--history", "300",
                 "--subscribers", "25", "--new", "120")
    digests = int(re.search(r"digests: ([\d,]+) with", out).group(1))  # type: ignore[union-attr]
    assert digests > 0 and "not sent: 0" in out
    assert f"messages={digests} recipients={digests} connections=1" in out
    assert re.search(r"^this machine: a bare Python loop of 10\^7 additions \d+\.\d\d s", out, re.M)
    for stage in ("ingest", "matching", "rendering (templates)", "delivery to SMTP"):
        assert re.search(rf"^{re.escape(stage)}\s+\d+\.\d\d ", out, re.M), stage


def test_commands_bench_times_every_command_on_a_kept_scale_folder(tmp_path: Path) -> None:
    _bench("scale.py", "--workdir", str(tmp_path), "--history", "200", "--subscribers", "5",
           "--new", "60", "--no-smtp", "--keep")
    out = _bench("commands.py", str(tmp_path / "config"))
    rows = re.findall(r"^(\S.*?)\s+(\d+\.\d\d)\s+(\d+)\s+(-?\d+)$", out, re.M)
    assert len(rows) == 16 and {row[0].split()[0] for row in rows} >= {
        "status", "subscribers", "check", "preview", "explain", "mark", "retry", "fetch", "run"}
    assert [row[0] for row in rows if row[3] != "0"] == []  # each ran as typed


def test_rendering_bench_replays_the_scale_pass_s_rendering_exactly(tmp_path: Path) -> None:
    out = _bench("scale.py", "--workdir", str(tmp_path), "--history", "200", "--subscribers",
                 "8", "--new", "60", "--no-smtp", "--keep")
    passed = re.search(r"fingerprint ([0-9a-f]{16})", out).group(1)  # type: ignore[union-attr]
    again = _bench("rendering.py", str(tmp_path), "--repeat", "2")
    assert re.findall(r"fingerprint ([0-9a-f]{16})", again) == [passed, passed]
    assert re.search(r"^rendering: median of 2: \d+\.\d\d s$", again, re.M)


def test_retention_bench_times_both_prunes_and_leaves_the_days_it_keeps() -> None:
    out = _bench("retention.py", "--subscribers", "20", "--days", "10", "--items", "3")
    assert "first prune (once, after turning it on): 60 digests, 180 items in " in out
    assert re.search(r"nothing old enough: [\d.]+ ms, 0 digests", out)
    assert re.search(r"one day's digests old enough: [\d.]+ ms, 20 digests and 60 items", out)
    assert "left: 120 digests, 360 items (6 days)" in out


def test_nothing_new_bench_times_a_run() -> None:
    out = _bench("nothing_new.py", "--runs", "1")
    assert re.search(r"nothing_new: .* median of 1: \d\.\d{3} s", out)


def test_vs_rss2email_times_a_command_and_reports_medians_cpu_and_stages(
        tmp_path: Path) -> None:
    """The side-by-side's own bookkeeping, without rss2email: `time` records a command's wall
    and CPU time, `report` prints the medians, the ratios and paper-digest's stage split."""
    (tmp_path / "mail" / "rss2email-1").mkdir(parents=True)
    (tmp_path / "mail" / "paper-digest-1").mkdir(parents=True)
    spin = "import time\nend = time.process_time() + 0.05\nwhile time.process_time() < end: pass"
    for run in ("0", "1", "2", "3"):  # round 0 is the warm-up: not counted
        _bench("vs_rss2email.py", "time", str(tmp_path), "rss2email", run,
               str(tmp_path / "r2e.log"), "--", sys.executable, "-c", spin)
        (tmp_path / f"paper-digest-{run}.log").write_text(
            '{"event": "pass.stages", "stages": {"ingest": 0.01, "matching": 0.02}}\n')
        _bench("vs_rss2email.py", "time", str(tmp_path), "paper-digest", run,
               str(tmp_path / f"paper-digest-{run}.log"), "--", sys.executable, "-c", spin)
    rows = [line.split("\t") for line in (tmp_path / "times.tsv").read_text().splitlines()]
    assert len(rows) == 8 and all(float(cpu) >= 0.04 for *_, cpu in rows)
    out = _bench("vs_rss2email.py", "report", str(tmp_path))
    assert "3 alternating runs each" in out
    assert re.search(r"ratio paper-digest / rss2email: \d\.\d\d .* in CPU time \d\.\d\d", out)
    assert "(medians of its `-vv` log): ingest 0.010, matching 0.020;" in out
    assert re.search(r"floor, timed now: python -c pass \d\.\d{3} s", out)


def test_relevance_feedback_reader_marks_each_digest_before_the_next_day(tmp_path: Path) -> None:
    """bench/relevance.py --feedback: after each day's pass the reader marks every item of the
    digest by the judgements, and the next day's pass (and its ranking) has those marks."""
    sys.path.insert(0, str(BENCH))
    try:
        import relevance
    finally:
        sys.path.remove(str(BENCH))
    from worker.records import normalize_title

    labels = relevance.read_labels()
    config, passes, _ = relevance.pipeline(["D2"], False, tmp_path, reader=labels)
    [profile] = config.profiles
    assert passes.marks[0]["D2"] == []  # the first day's pass had none
    sent = [pid for day in passes.sent["D2"][:2] for pid in day]
    assert sent  # something to mark
    marked = {m.paper.id: m.verdict for m in passes.marks[2]["D2"]}
    assert set(marked) == set(sent)  # the last day's pass had the marks of both days before
    for mark in passes.marks[2]["D2"]:
        relevant = "D2" in labels.get(normalize_title(mark.paper.title), ())
        assert mark.verdict == ("like" if relevant else "unlike")
    later = relevance.pipeline_scores(passes, profile, labels, None, since=1)
    assert 0.0 < later.precision <= 1.0 and 0.0 < later.ap <= 1.0
    passes.engine.dispose()


def test_relevance_variants_keep_only_their_interests_and_rank_as_the_pipeline_did(
        tmp_path: Path) -> None:
    """bench/relevance.py --variants: a profile with its terms only or its examples only; the
    ranking it is judged by is what each day's pass sent, with the examples stored by then
    (D2's third example is listed on the second day)."""
    sys.path.insert(0, str(BENCH))
    try:
        import relevance
    finally:
        sys.path.remove(str(BENCH))
    from worker.settings import load_config

    (tmp_path / "t").mkdir()
    (tmp_path / "e").mkdir()
    terms = load_config(relevance.write_config(tmp_path / "t", ["D2"], False, "terms only"), {})
    [only_terms] = terms.profiles
    assert only_terms.interests.keywords and only_terms.interests.query
    assert only_terms.interests.synonyms and not only_terms.interests.like
    assert not terms.problems
    config, passes, _ = relevance.pipeline(["D2"], False, tmp_path / "e",
                                           variant="examples only")
    [profile] = config.profiles
    assert len(profile.interests.like) == 3 and not profile.interests.keywords
    assert profile.interests.query is None
    examples, _ = relevance.own_examples(passes.engine, profile)
    assert len({p.first_seen_seq <= passes.days[0][1][-1].first_seen_seq
                for p in examples.values()}) == 2  # one example came later
    scored = relevance.pipeline_ranking(passes.engine, profile, passes.days, examples,
                                        passes.marks, None)
    sent = [pid for day in passes.sent["D2"] for pid in day]
    assert sent and relevance.check_digest(profile, passes.days, scored, sent) == []
    passes.engine.dispose()


def test_relevance_ranking_is_what_each_days_pass_ranked(tmp_path: Path) -> None:
    """The ranking the bench judges (AP) is each day's pass's own: with terms, a term's
    specificity counts the papers seen before that day's batch, as in the pipeline. D1's
    digests differed from a ranking made without them."""
    sys.path.insert(0, str(BENCH))
    try:
        import relevance
    finally:
        sys.path.remove(str(BENCH))

    config, passes, _ = relevance.pipeline(["D1"], False, tmp_path)
    [profile] = config.profiles
    assert profile.interests.keywords
    examples, _ = relevance.own_examples(passes.engine, profile)
    scored = relevance.pipeline_ranking(passes.engine, profile, passes.days, examples,
                                        passes.marks, None)
    sent = [pid for day in passes.sent["D1"] for pid in day]
    assert sent and relevance.check_digest(profile, passes.days, scored, sent) == []
    passes.engine.dispose()


def test_semantic_compare_bench_agrees_with_plain_loops_and_scoring_everything() -> None:
    out = _bench("semantic_compare.py", "--papers", "200", "--examples", "3", "20",
                 "--profiles", "40")
    lines = [x for x in out.splitlines() if x.startswith("semantic: 200 papers x ")]
    assert len(lines) == 2 and all("the same nearest example and z for every paper" in x
                                   for x in lines), out
    assert re.search(r"^semantic ranking: [1-9]\d* profiles with liked examples x 200 papers: "
                     r".* the same digests$", out, re.M), out
