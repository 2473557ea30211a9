"""The commands an operator types: init, subscribers, status --json, help, completion."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.integration.helpers import add_seed_day, make_config, run_cli
from worker.cli import cli
from worker.store.opening import open_engine

SUB = """
deliver = ["markdown"]
min_score = 0.01
[interests]
keywords = ["segmentation"]
"""


def test_init_writes_a_working_config(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    result = CliRunner().invoke(cli, ["init", str(target), "--name", "ada"])
    assert result.exit_code == 0, result.output
    assert "Next steps:" in result.output and f"--config {target} check" in result.output
    profile = (target / "subscribers" / "ada.toml").read_text()  # its commands name the config
    assert f"# See your next digest with: paper-digest --config {target.resolve()} preview ada\n" \
        in profile
    check = run_cli(target, "check")
    assert check.exit_code == 0 and "OK: 2 source(s), 1 subscriber(s)" in check.output
    (target / "dumps" / "day.txt").write_text("Nov 20\n\nA Multimodal Benchmark\n\nWe test.\n")
    run = run_cli(target, "run", "--source", "local")
    assert run.exit_code == 0, run.output
    assert list((target / "out" / "ada").glob("*.md"))
    again = CliRunner().invoke(cli, ["init", str(target)])
    assert again.exit_code == 1 and "exists already; nothing was written" in again.output
    # what is turned off is counted apart: it fetches and gets nothing
    worker = target / "worker.toml"
    worker.write_text(worker.read_text().replace('name = "hf-daily"\n',
                                                 'name = "hf-daily"\nenabled = false\n'))
    (target / "subscribers" / "bo.toml").write_text(
        "enabled = false\n" + (target / "subscribers" / "ada.toml").read_text())
    assert "OK: 1 source(s) (1 disabled), 1 subscriber(s) (1 disabled);" in \
        run_cli(target, "check").output


def test_init_writes_where_config_points(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`--config` (or $PAPER_DIGEST_CONFIG) names the config of every command: `init` without
    a DIRECTORY writes there, not into ./config (where a first `init` had already written, so
    `paper-digest --config mine init` refused: "config/worker.toml exists already")."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PAPER_DIGEST_CONFIG", raising=False)
    assert CliRunner().invoke(cli, ["init", "--name", "ada"]).exit_code == 0
    done = CliRunner().invoke(cli, ["--config", "mine", "init", "--name", "ada"])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "mine" / "subscribers" / "ada.toml").exists()
    assert "paper-digest --config mine check " in done.output
    done = CliRunner().invoke(cli, ["init", "--name", "ada"], env={"PAPER_DIGEST_CONFIG": "env"})
    assert done.exit_code == 0, done.output
    assert (tmp_path / "env" / "worker.toml").exists()
    assert "  2. paper-digest check " in done.output  # the variable holds it for later commands


def test_init_config_works_from_any_directory(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`init mine` then a cron job run from $HOME: the same database and folders, not a second
    empty database beside wherever the job happens to run; even under a folder whose name a
    URL would read otherwise (`%41`, `?`)."""
    tmp_path = tmp_path / "odd %41 name?x"
    tmp_path.mkdir()
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(cli, ["init", "mine", "--name", "ada"]).exit_code == 0
    (tmp_path / "mine" / "dumps" / "day.txt").write_text(
        "Nov 20\n\nA Multimodal Benchmark\n\nWe test.\n")
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = run_cli(Path("../mine"), "run", "--source", "local")
    assert run.exit_code == 0, run.output
    assert (tmp_path / "mine" / "data" / "paper-digest.db").exists()
    assert list((tmp_path / "mine" / "out" / "ada").glob("*.md"))
    assert list(elsewhere.iterdir()) == []


def test_a_disabled_subscriber_can_still_be_previewed_and_marked(tmp_path: Path,
                                                                seeds_dir: Path,
                                                                sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"ada": SUB, "bob": "enabled = false\n" + SUB})
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    assert run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00").exit_code == 0
    shown = run_cli(config, "preview", "bob", "--since", "7d", "--now",
                    "2026-03-14T21:00:00+00:00")
    assert shown.exit_code == 0, shown.output
    assert "note: bob is disabled (enabled = false in " in shown.output
    assert "from the papers already stored (sources are not read" in shown.output
    marked = run_cli(config, "mark", "bob", "paper:1")
    assert marked.exit_code == 0, marked.output
    assert run_cli(config, "preview", "nobody").exit_code == 2


def test_a_mark_against_the_files_like_says_which_counts(tmp_path: Path, seeds_dir: Path,
                                                        sqlite_url: str) -> None:
    """`mark --unlike` of a paper the profile's `like` lists: the mark wins, as documented,
    but nothing said so, and the file went on saying the opposite."""
    liked = "paper:1"
    config = make_config(tmp_path, sqlite_url, {"ada": SUB})
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    assert run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00").exit_code == 0
    file = config / "subscribers" / "ada.toml"
    title = json.dumps(_title(sqlite_url, 1), ensure_ascii=False)  # a TOML string too
    file.write_text(file.read_text().replace("[interests]", f"[interests]\nlike = [{title}]"))
    unliked = run_cli(config, "mark", "ada", liked, "--unlike")
    assert unliked.exit_code == 0, unliked.output
    assert (f"note: `like` in {file} lists it too: a mark is the later word, so it counts as "
            "unliked; take it out of `like` to keep the file true") in unliked.stderr
    removed = run_cli(config, "mark", "ada", liked, "--remove")
    assert f"note: `like` in {file} still lists it: it stays liked" in removed.stderr
    again = run_cli(config, "mark", "ada", liked)  # the same word as the file: nothing to say
    assert again.exit_code == 0 and "note:" not in again.stderr, again.stderr


def _title(url: str, paper_id: int) -> str:
    from worker.store.identity import find_paper

    engine = open_engine(url)
    try:
        found = find_paper(engine, f"paper:{paper_id}")
        assert found is not None
        return found.title
    finally:
        engine.dispose()


def test_hints_name_the_config_they_were_given(tmp_path: Path, seeds_dir: Path,
                                              sqlite_url: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """README's first steps run `--config mine`: each command a hint proposes must name that
    config, or it acts on ./config (no such subscriber there, or someone else's digests). And
    `preview --below` right after a run, when every paper is delivered, says so and how to
    replay the week, not that every paper made a digest there is not."""
    monkeypatch.delenv("PAPER_DIGEST_CONFIG", raising=False)
    config = make_config(tmp_path, sqlite_url, {"ada": SUB})
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    assert run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00").exit_code == 0
    command = f"paper-digest --config {config}"
    assert f"`{command} run` sends them" in run_cli(config, "retry").output
    assert f"({command} mark ada PAPER, " in run_cli(config, "mark", "ada").output
    below = run_cli(config, "preview", "ada", "--below", "5", "--now",
                    "2026-03-14T21:00:00+00:00")
    assert below.exit_code == 0, below.output
    assert "every paper that scored is in the digest" not in below.output
    assert (f"left out: none (no paper waits for ada's next digest: `{command} preview ada "
            "--since 7d --below 5` replays the last week's)") in below.output
    replay = run_cli(config, "preview", "ada", "--since", "7d", "--below", "5", "--now",
                     "2026-03-14T21:00:00+00:00")
    assert f"`{command} explain ada KEY` says why" in replay.output, replay.output


def test_commands_about_one_subscriber_or_none_read_only_its_file(
        tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """preview, explain, mark and retry NAME parse NAME's file alone, fetch and retry none:
    with 10,000 subscribers, parsing every file took ~1.5 s of each (bench/scale.py data)."""
    import worker.settings

    config = make_config(tmp_path, sqlite_url, {"ada": SUB, "bob": SUB, "cy": "max_itemz = 1\n"})
    (tmp_path / "dumps" / "day.txt").write_text(
        "Mar 14\n\nA Segmentation Benchmark\n\nWe test segmentation.\n")
    assert run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00").exit_code == 3  # cy
    read: list[str] = []
    real = worker.settings.load_profile

    def recording(path: Path) -> Any:
        read.append(path.stem)
        return real(path)

    monkeypatch.setattr(worker.settings, "load_profile", recording)
    for args, files in ((["preview", "ada", "--since", "7d", "--now", "2026-03-14T21:00:00Z"],
                         ["ada"]),
                        (["explain", "ada", "paper:1"], ["ada"]),
                        (["mark", "ada", "paper:1"], ["ada"]),
                        (["retry", "bob"], ["bob"]),
                        (["retry"], []),
                        (["fetch", "--now", "2026-03-14T21:00:00Z"], [])):
        read.clear()
        done = run_cli(config, *args)
        assert done.exit_code == 0, (args, done.output)
        assert read == files, args
    unknown = run_cli(config, "explain", "nobody", "paper:1")  # the error lists who there is
    assert unknown.exit_code == 2 and "subscribers: ada, bob" in unknown.output
    broken = run_cli(config, "preview", "cy")
    assert broken.exit_code == 1 and "max_itemz: unknown key" in broken.output


def test_no_subscribers_and_a_missing_dump_folder_are_said(tmp_path: Path, sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {})
    (tmp_path / "dumps").rmdir()
    assert f"note: source local: no folder {tmp_path / 'dumps'} (from " \
        in run_cli(config, "check").output
    (tmp_path / "dumps").mkdir()
    checked = run_cli(config, "check")
    assert checked.exit_code == 0
    assert f"note: no subscribers: add NAME.toml files to {config / 'subscribers'}" \
        in checked.output
    assert "init" not in checked.output  # it would refuse: worker.toml is there
    ran = run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00")
    assert ran.exit_code == 0
    assert ran.output.split("Digests:\n", 1)[1].splitlines()[0] == \
        f"  (no subscribers: add NAME.toml files to {config / 'subscribers'})"


def test_a_missing_worker_toml_names_the_init_for_that_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--config mine check` before `init`: the init it proposes writes to mine, as typed."""
    monkeypatch.delenv("PAPER_DIGEST_CONFIG", raising=False)
    checked = run_cli(tmp_path / "mine", "check")
    assert checked.exit_code == 1
    assert f"worker.toml: file not found; `paper-digest --config {tmp_path / 'mine'} init` " \
        "writes one" in checked.output
    assert f"(`paper-digest --config {tmp_path / 'mine'} init` writes a starter)" \
        in checked.output


def test_a_broken_template_is_named_with_its_line_by_check_preview_and_run(
        tmp_path: Path, sqlite_url: str) -> None:
    """A `templates_dir` template Jinja cannot compile passed `check`; `preview` of it, or of
    one that names a field `d` lacks, was a traceback, and a digest's reason was Jinja's words
    without the file."""
    templates = tmp_path / "my-templates"
    templates.mkdir()
    config = make_config(tmp_path, sqlite_url, {"ada": SUB},
                         extra=f'templates_dir = "{templates}"')
    (tmp_path / "dumps" / "day.txt").write_text("Nov 20\n\nA Segmentation Model\n\nWe "
                                                 "segment.\n", encoding="utf-8")
    (templates / "digest.md.j2").write_text("# {{ d.subscriber_name }}\n"
                                            "{{ d.count|nosuchfilter }}\n", encoding="utf-8")
    checked = run_cli(config, "check")
    assert checked.exit_code == 1, checked.output
    assert f"error: {templates / 'digest.md.j2'}:2: No filter named 'nosuchfilter'." \
        in checked.output
    ran = run_cli(config, "run", "--now", "2026-11-20T20:00:00+00:00")
    assert ran.exit_code == 3, ran.output
    assert f"NOT SENT (will retry) TemplateError: {templates / 'digest.md.j2'}:2: No filter " \
        "named 'nosuchfilter'." in ran.output
    (templates / "digest.md.j2").write_text("# {{ d.subscriber_name }}\n\n{{ d.nosuch }}\n",
                                            encoding="utf-8")
    assert run_cli(config, "check").exit_code == 0  # (valid Jinja: a field is known rendered)
    shown = run_cli(config, "preview", "ada")
    assert shown.exit_code == 1
    assert shown.output.startswith(f"error: {templates / 'digest.md.j2'}:3: ")
    assert "has no attribute 'nosuch'" in shown.output and "Traceback" not in shown.output


def test_check_does_not_call_a_broken_only_subscriber_missing(tmp_path: Path,
                                                              sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"ada": "max_itemz = 3\n" + SUB})
    checked = run_cli(config, "check")
    assert checked.exit_code == 1
    assert "max_itemz: unknown key" in checked.output
    assert "no subscribers" not in checked.output  # there is one: its file has problems


def test_status_says_when_each_run_started_and_finished(tmp_path: Path, seeds_dir: Path,
                                                       sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"ada": SUB})
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    assert run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00").exit_code == 0
    shown = run_cli(config, "status")
    assert shown.exit_code == 0, shown.output
    assert "  #1 run 2026-03-14 20:00 UTC to 2026-03-14 20:00 UTC: ok" in shown.output


def test_status_says_a_run_was_partial_for_a_broken_subscriber_file(tmp_path: Path,
                                                                   sqlite_url: str) -> None:
    """A run whose only trouble was a subscriber file it skipped read `partial` in `status`
    with no reason at all (its stats count sources, digests and sends)."""
    config = make_config(tmp_path, sqlite_url, {"ada": SUB, "bob": "max_itemz = 3\n" + SUB})
    assert run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00").exit_code == 3
    shown = run_cli(config, "status")
    assert "  #1 run 2026-03-14 20:00 UTC to 2026-03-14 20:00 UTC: partial " \
        "(broken_subscribers 1)" in shown.output, shown.output


def test_check_notes_subscribers_sending_to_one_address(tmp_path: Path, sqlite_url: str) -> None:
    mail = 'email = "Ada@Example.org"\ndeliver = ["email"]\n[interests]\nkeywords = ["x"]\n'
    config = make_config(tmp_path, sqlite_url, {"ada": mail, "ada2": mail.lower(), "bob": SUB})
    checked = run_cli(config, "check")
    assert checked.exit_code == 0
    assert "note: ada, ada2 all send to ada@example.org: each gets digests of its own" \
        in checked.output


def test_check_notes_max_items_past_what_an_html_email_shows_in_full(tmp_path: Path,
                                                                   sqlite_url: str) -> None:
    """With feedback links about 36 papers fit in full under Gmail's clipping size (52
    without): a subscriber asking for more by email is told the rest are shown compact."""
    mail = 'email = "{0}@example.org"\ndeliver = ["email"]\nmax_items = {1}\n' \
           '[interests]\nkeywords = ["x"]\n'
    subscribers = {"ada": mail.format("ada", 60), "bob": mail.format("bob", 40),
                   "cy": mail.format("cy", 30),
                   "md": 'deliver = ["markdown"]\nmax_items = 90\n[interests]\nkeywords = ["x"]\n'}
    plain = make_config(tmp_path / "plain", sqlite_url, subscribers)
    notes = [line for line in run_cli(plain, "check").output.splitlines() if "compact" in line]
    assert notes == [
        "note: max_items over about 52: ada (60): so that Gmail does not cut the email short, "
        "the HTML part of a digest that long shows about its first 52 papers in full and the "
        "rest compact (no abstract or authors; the title links to the paper's page, if it has "
        "one); its plain-text part and Markdown digests show them all in full"]
    linked = make_config(tmp_path / "linked", sqlite_url, subscribers,
                         extra='[feedback]\nurl = "https://lab.example.org/digest"\n')
    checked = run_cli(linked, "check", env={"PAPER_DIGEST_FEEDBACK_SECRET": "s" * 20})
    assert checked.exit_code == 0, checked.output
    assert "note: max_items over about 36 with feedback links: ada (60), bob (40): " \
        in checked.output


def test_check_notes_interests_that_cannot_work_as_meant(tmp_path: Path,
                                                        sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {
        "ada": 'deliver = ["markdown"]\n[interests]\nkeywords = ["the", "x", "of the", "OCR"]\n',
        "bob": 'deliver = ["markdown"]\n[interests]\nquery = "NOT survey"\n',
        "cy": 'deliver = ["markdown"]\n[interests]\nquery = "NOT survey"\nkeywords = ["OCR"]\n'})
    checked = run_cli(config, "check")
    assert checked.exit_code == 0
    notes = [line for line in checked.output.splitlines() if line.startswith("note: ")]
    assert notes == [
        "note: ada: “the” is in nearly every paper: it will match almost anything (a word "
        "such as “the”, or a single letter)",
        "note: ada: “x” is in nearly every paper: it will match almost anything (a word such "
        "as “the”, or a single letter)",
        "note: ada: “of the” is in nearly every paper: it will match almost anything (a word "
        "such as “the”, or a single letter)",
        "note: bob: the query NOT survey only leaves papers out: with nothing else under "
        "[interests], no paper can score; add keywords or terms it asks for"]


def test_check_notes_an_interest_its_own_exclude_rules_out(tmp_path: Path,
                                                          sqlite_url: str) -> None:
    """`exclude = ["video"]` beside the keyword `text-to-video` (or the same term in both)
    passed check silently, and every paper the keyword found was dropped: a profile that
    could never send what it asks for."""
    config = make_config(tmp_path, sqlite_url, {
        "ada": 'deliver = ["markdown"]\n[interests]\nkeywords = ["Video Generation", '
               '"text-to-video", "video generation"]\nexclude = ["video generation", "video", '
               '"survey"]\nquery = "diffusion OR video"\n',
        "bob": 'deliver = ["markdown"]\n[interests]\nkeywords = ["video"]\n'
               'exclude = ["video generation", "survey"]\nexclude_mode = "demote"\n',
        "cy": 'deliver = ["markdown"]\n[interests]\nphrases = ["survey of video"]\n'
              'exclude = ["surveys"]\nexclude_mode = "demote"\n'})
    checked = run_cli(config, "check")
    assert checked.exit_code == 0, checked.output
    notes = [line for line in checked.output.splitlines() if line.startswith("note: ")]
    assert notes == [
        "note: ada: “Video Generation” is also in `exclude`: every paper that names it is "
        'dropped (exclude_mode = "drop"); take it out of one of the two',
        "note: ada: “text-to-video” holds “video”, which `exclude` names: every paper that "
        'names “text-to-video” is dropped (exclude_mode = "drop"); take “video” out of '
        "`exclude`, or make it longer than the interest",
        "note: ada: “video” is also in `exclude`: every paper that names it is dropped "
        '(exclude_mode = "drop"); take it out of one of the two',
        "note: cy: “survey of video” holds “surveys”, which `exclude` names: every paper "
        'that names “survey of video” is demoted (exclude_mode = "demote"); take “surveys” '
        "out of `exclude`, or make it longer than the interest"]


def test_status_says_why_a_removed_subscribers_digest_waits(tmp_path: Path, seeds_dir: Path,
                                                            sqlite_url: str) -> None:
    from tests.integration.smtpserver import free_port

    mail = 'email = "ada@example.org"\nmin_score = 0.01\n[interests]\nkeywords = ["model"]\n'
    config = make_config(tmp_path, sqlite_url, {"ada": mail}, smtp_port=free_port())
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    assert run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00").exit_code == 3
    (config / "subscribers" / "ada.toml").unlink()
    shown = run_cli(config, "status").output
    assert "ada (removed): last digest sent never; 1 pending, 0 failed" in shown
    assert "pending digest 1 (email, 0 attempts, held while its file is gone)" in shown


def test_check_with_errors_still_notes_and_lists_a_files_errors_in_line_order(
        tmp_path: Path, sqlite_url: str) -> None:
    bad = ('min_score = 5\nemail = "not an address"\ncolour = 1\n[interests]\n'
           'keywords = ["x"]\nexclude_mode = "x"\n')
    config = make_config(tmp_path, sqlite_url, {"ada": SUB, "bob": bad})
    (tmp_path / "dumps").rmdir()
    checked = run_cli(config, "check")
    assert checked.exit_code == 1
    lines = [line.split("bob.toml:", 1)[1] for line in checked.output.splitlines()
             if "bob.toml:" in line]
    assert [int(line.split(":", 1)[0]) for line in lines] == [1, 2, 3, 6]
    assert f"note: source local: no folder {tmp_path / 'dumps'}" in checked.output


def test_a_run_with_only_disabled_subscribers_says_so(tmp_path: Path, sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"ada": "enabled = false\n" + SUB})
    ran = run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00")
    assert ran.output.split("Digests:\n", 1)[1].splitlines()[0] == \
        "  (no enabled subscribers: 1 disabled)"


def test_check_notes_a_login_without_its_password(tmp_path: Path, sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"ada": SUB}, smtp_port=2525)
    with (config / "worker.toml").open("a", encoding="utf-8") as toml:
        toml.write('username = "digest"\n')
    bare = run_cli(config, "check")
    assert bare.exit_code == 0 and "note: [smtp] username is 'digest' but " \
        "PAPER_DIGEST_SMTP_PASSWORD is not set here" in bare.output
    given = run_cli(config, "check", env={"PAPER_DIGEST_SMTP_PASSWORD": "s3cret"})
    assert given.exit_code == 0 and "PAPER_DIGEST_SMTP_PASSWORD" not in given.output


def test_subscribers_and_status_json(tmp_path: Path, seeds_dir: Path, sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"ada": SUB, "bob": SUB, "bad": "[x"})
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00")
    table = run_cli(config, "subscribers")
    assert table.output.splitlines()[0].split() == [
        "SUBSCRIBER", "CHANNELS", "SCHEDULE", "LAST", "DIGEST", "PENDING", "FAILED"]
    assert any(line.startswith("bad (broken)") for line in table.output.splitlines())
    rows = json.loads(run_cli(config, "subscribers", "--json").output)
    by_id = {r["id"]: r for r in rows}
    assert by_id["ada"]["last_sent"].startswith("2026-03-14T20:00")
    assert by_id["ada"]["deliver"] == ["markdown"] and by_id["bad"]["state"] == "broken"
    # no schedule of its own: serve and run --due use [serve] default_schedule, and say so
    assert (by_id["ada"]["schedule"], by_id["ada"]["schedule_is_default"]) == (
        "daily 08:00", True)
    # ...in the zone its times are in (worker.toml's, as ada sets none)
    assert by_id["ada"]["timezone"] == "UTC"
    assert any(line.split()[:5] == ["ada", "markdown", "daily", "08:00", "UTC"]
               and "(default)" in line for line in table.output.splitlines())
    status = json.loads(run_cli(config, "status", "--json").output)
    assert status["runs"][0]["status"] == "partial"  # the broken file makes the run partial
    assert status["sources"][0]["name"] == "local" and status["sources"][0]["error"] is None


@pytest.mark.parametrize("command", ["run", "check", "preview", "status", "fetch", "retry",
                                     "explain", "subscribers", "init", "serve", "health",
                                     "forget"])
def test_every_command_help_has_an_example(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output and "paper-digest " in result.output


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_scripts(shell: str) -> None:
    env = {**os.environ, "_PAPER_DIGEST_COMPLETE": f"{shell}_source"}
    script = Path(sys.executable).with_name("paper-digest")
    done = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode == 0 and "_PAPER_DIGEST_COMPLETE" in done.stdout


def test_completion_offers_the_configs_subscribers_and_sources(tmp_path: Path,
                                                               sqlite_url: str) -> None:
    """`paper-digest --config mine preview <TAB>`: README sets completion up, and the names a
    user types most are the subscribers' (preview, explain, mark, retry) and the sources'
    (run and fetch --source), which click cannot know by itself."""
    config = make_config(tmp_path, sqlite_url, {"ada": SUB, "alan": SUB, "bob": SUB})
    (config / "subscribers" / ".#ada.toml").write_text("")  # an editor's: not a subscriber

    def complete(line: str, env: dict[str, str] | None = None) -> list[str]:
        words = line.split(" ")
        done = CliRunner().invoke(cli, [], prog_name="paper-digest", env={
            **(env or {}), "_PAPER_DIGEST_COMPLETE": "bash_complete", "COMP_WORDS": line,
            "COMP_CWORD": str(len(words) - 1)})
        return [item.split(",", 1)[1] for item in done.output.split()]

    for command in ("preview", "explain", "mark", "retry"):
        assert complete(f"paper-digest --config {config} {command} a") == ["ada", "alan"]
    assert complete("paper-digest retry ", {"PAPER_DIGEST_CONFIG": str(config)}) == \
        ["ada", "alan", "bob"]
    for command in ("run", "fetch"):
        assert complete(f"paper-digest --config {config} {command} --source ") == ["local"]
    assert complete(f"paper-digest --config {tmp_path / 'none'} preview ") == []


def test_python_dash_m_is_the_same_command() -> None:
    done = subprocess.run([sys.executable, "-m", "worker", "--version"], capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0 and done.stdout.startswith("paper-digest, version ")
    # the database schema it writes, which an older or newer paper-digest names in its errors
    from worker.store.opening import HEAD_REVISION

    assert done.stdout.rstrip().endswith(f"(database schema {HEAD_REVISION})")


def test_the_process_exits_with_its_work_closed_and_said(tmp_path: Path) -> None:
    """main() ends the process without interpreter teardown (cli.exit_now): the exit code is
    still the command's, all output is flushed to a pipe, and the engine was disposed (SQLite
    checkpoints and removes its WAL only on close, so a left -wal file means it was not)."""
    repo = Path(__file__).resolve().parents[2]
    shutil.copytree(repo / "config", tmp_path / "config")
    shutil.copytree(repo / "examples", tmp_path / "examples")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "worker", "--config", "config", *args],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60,
                              check=False)

    first, again = run("run"), run("run")
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    subscribers = sorted(p.stem for p in (tmp_path / "config" / "subscribers").glob("*.toml"))
    assert again.stdout.rstrip().splitlines()[-len(subscribers):] == [
        f"  {name}: nothing new" for name in subscribers]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["paper-digest.db"]
    (tmp_path / "config" / "worker.toml").write_text("no_such_key = 1\n", encoding="utf-8")
    broken = run("run")
    assert broken.returncode == 1 and "no_such_key" in broken.stderr


def test_run_logs_its_stage_times_at_debug(tmp_path: Path, seeds_dir: Path,
                                           sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"ada": SUB})
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    result = run_cli(config, "-vv", "run", "--now", "2026-03-14T20:00:00+00:00",
                     env={"PAPER_DIGEST_LOG_FORMAT": "json"})
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    stages = [e["stages"] for e in events if e.get("event") == "pass.stages"]
    assert len(stages) == 1 and {"ingest", "matching", "delivery"} <= set(stages[0])
    assert all(seconds >= 0 for seconds in stages[0].values())
    quiet = run_cli(config, "run", "--now", "2026-03-14T21:00:00+00:00")
    assert "pass.stages" not in quiet.stderr and "pass stages" not in quiet.stderr


def test_the_collector_is_settled_after_start_up_only_in_its_own_process(
        tmp_path: Path, seeds_dir: Path, sqlite_url: str) -> None:
    """main() turns the collector off for start-up; opening the database turns it back on
    with start-up's objects frozen and a larger young generation (a speed matter:
    cli.settle_heap). A caller of `cli`, such as this test's CliRunner, keeps its collector
    as it was."""
    import gc

    config = make_config(tmp_path, sqlite_url, {"ada": SUB})
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    before = gc.isenabled(), gc.get_freeze_count(), gc.get_threshold()
    assert run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00").exit_code == 0
    assert (gc.isenabled(), gc.get_freeze_count(), gc.get_threshold()) == before
    probe = ("import atexit, gc, sys\n"
             "atexit.register(lambda: print('gc', gc.isenabled(), gc.get_freeze_count() > 0,"
             " gc.get_threshold()[0], file=sys.stderr))\n"
             "from worker.cli import main\n"
             f"sys.argv = ['paper-digest', '--config', {str(config)!r}, 'run']\n"
             "main()\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "gc True True 5000"


@pytest.mark.parametrize("command", [("run",), ("status",), ("explain", "ada", "No Such Paper")])
def test_a_command_closes_its_database_connections_as_it_ends(
        tmp_path: Path, seeds_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch,
        command: tuple[str, ...]) -> None:
    """However a command ends (explain of an unknown paper exits 2), its connections are closed
    then, not when the process exits: a process that runs commands in-process (the tests, an
    embedding application) must not pile up PostgreSQL sessions."""
    import worker.store.opening as opening

    opened: list[Any] = []

    def recording(opener: Any) -> Any:
        def recorded(url: str, **kw: Any) -> Any:
            opened.append(engine := opener(url, **kw))
            return engine
        return recorded

    # commands that only read open the database as it is (open_existing)
    for name in ("open_engine", "open_existing"):
        monkeypatch.setattr(opening, name, recording(getattr(opening, name)))
    config = make_config(tmp_path, database_url, {"ada": SUB})
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    assert run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00").exit_code == 0
    run_cli(config, *command)
    assert len(opened) == 2
    assert [engine.pool.checkedin() for engine in opened] == [0, 0]


def test_a_digest_another_run_built_meanwhile_is_not_called_no_match(
        tmp_path: Path, seeds_dir: Path, database_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs at once (cron overlapping a run by hand, or `run` beside serve): the one whose
    digest the other wrote first said 'none of 15 new papers matched' of papers that matched
    and went out in the other's digest."""
    from worker.app import run_pass
    from worker.settings import load_config
    from worker.store import outbox
    from worker.store.opening import open_engine

    config = make_config(tmp_path, database_url, {"ada": SUB})
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    write = outbox.create_digests
    other: list[Any] = []

    def after_another_run(*args: Any, **kw: Any) -> Any:
        if not other:  # the other run matches the same papers and writes its digest first
            monkeypatch.setattr(outbox, "create_digests", write)
            engine = open_engine(database_url)
            try:
                other.append(run_pass(load_config(config, {}), engine,
                                      datetime(2026, 3, 12, 20, tzinfo=UTC)))
            finally:
                engine.dispose()
        return write(*args, **kw)

    monkeypatch.setattr(outbox, "create_digests", after_another_run)
    result = run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00")
    assert result.exit_code == 0, result.output
    assert other[0].subscribers["ada"].items > 0  # the papers matched, in the other's digest
    assert "ada: built by another run at the same time" in result.output
    assert "matched" not in result.output, result.output


def test_check_and_serve_say_when_the_environment_overrides_worker_tomls_database(
        tmp_path: Path) -> None:
    """The image presets PAPER_DIGEST_DATABASE_URL (its SQLite file in /data), which wins over
    database_url in worker.toml: a PostgreSQL URL there was silently left unused (nothing,
    not check nor serve's log, said which database it used)."""
    from worker.settings import load_config

    config = make_config(tmp_path, "postgresql://digest:secret@db:5432/papers", {"ada": SUB})
    env = {"PAPER_DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'paper-digest.db'}"}
    result = run_cli(config, "check", env=env)
    assert result.exit_code == 0, result.output
    assert ("database_url in worker.toml (postgresql+psycopg://digest:***@db:5432/papers) is "
            "not used: PAPER_DIGEST_DATABASE_URL (sqlite:///") in result.output
    assert "secret" not in result.output
    settings = load_config(config, env).settings
    assert settings.database_url_unused == "postgresql://digest:secret@db:5432/papers"
    # the variable alone, or the same URL in both, says nothing
    assert load_config(config, {}).settings.database_url_unused is None
    same = {"PAPER_DIGEST_DATABASE_URL": "postgresql://digest:secret@db:5432/papers"}
    assert load_config(config, same).settings.database_url_unused is None
    assert "is not used" not in run_cli(config, "check", env=same).output


@pytest.mark.parametrize("ref", ["paper:99999999999999999999999", "paper:\u00b2"])
def test_a_paper_key_no_database_integer_holds_is_no_paper(tmp_path: Path, seeds_dir: Path,
                                                           database_url: str, ref: str) -> None:
    """`paper:` and 23 digits was an OverflowError traceback from the database driver,
    `paper:²` (a digit to str.isdigit, not to int) a ValueError."""
    config = make_config(tmp_path, database_url, {"ada": SUB})
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    assert run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00").exit_code == 0
    for command in ("explain", "mark"):
        result = CliRunner().invoke(cli, ["--config", str(config), command, "ada", ref])
        assert result.exit_code == 2, (result.output, result.exception)
        assert f"no stored paper matches {ref!r}" in result.output, result.output


def _named_papers(tmp_path: Path, seeds_dir: Path, url: str) -> tuple[Path, list[Any]]:
    """A config with subscriber ada after a run over one seed day, and the stored papers (id,
    title) whose title names the work before a colon and ends in letters: titles to get
    slightly wrong (a letter lost, only the name) as a reader copying them would."""
    from sqlalchemy import select

    from worker.store.opening import open_engine
    from worker.store.schema import papers

    config = make_config(tmp_path, url, {"ada": SUB})
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    assert run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00").exit_code == 0
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(papers.c.id, papers.c.title).order_by(papers.c.id)).all()
    finally:
        engine.dispose()
    return config, [(i, t) for i, t in rows
                    if ":" in t and len(t.split(":")[0]) > 6 and t[-4:].isalpha()]


def test_a_title_that_almost_names_a_stored_paper_is_answered_with_it(
        tmp_path: Path, seeds_dir: Path, database_url: str) -> None:
    """A title with its last letter lost in copying, or only its first words, said "no stored
    paper matches" and to add it to `like` (looked up on arXiv), not which paper it nearly
    names and the key to give instead."""
    config, named = _named_papers(tmp_path, seeds_dir, database_url)
    paper_id, title = named[0]
    for command, ref in (("explain", title[:-1]), ("mark", title.split(":")[0]),
                         ("explain", title[:-4] + "q" + title[-3:])):
        result = CliRunner().invoke(cli, ["--config", str(config), command, "ada", ref])
        assert result.exit_code == 2, (result.output, result.exception)
        assert f"did you mean “{title}” (paper:{paper_id})?" in result.output, result.output
    nothing = CliRunner().invoke(cli, ["--config", str(config), "explain", "ada", "zq xj wv"])
    assert nothing.exit_code == 2 and "did you mean" not in nothing.output, nothing.output


def test_check_names_the_stored_paper_a_like_title_almost_is(tmp_path: Path, seeds_dir: Path,
                                                              sqlite_url: str) -> None:
    """A `like` title with a letter lost, or only the paper's first words, was noted only as
    "not listed by any source; the next run looks it up on arXiv", though the paper it nearly
    names was in the database: the example went unused, and nothing said which title to
    write."""
    config, named = _named_papers(tmp_path, seeds_dir, sqlite_url)
    (_, first), (_, second) = named[:2]
    wrong = [first[:-1], second.split(":")[0]]
    (config / "subscribers" / "ada.toml").write_text(
        SUB + f"like = {json.dumps(wrong[:1])}\nunlike = {json.dumps(wrong[1:])}\n",
        encoding="utf-8")
    checked = run_cli(config, "check")
    assert checked.exit_code == 0, checked.output
    for ref, key, title in ((wrong[0], "like", first), (wrong[1], "unlike", second)):
        assert (f"note: ada: “{ref}” in `{key}` is not the title of a stored paper: did you "
                f"mean “{title}”?") in checked.output, checked.output


@pytest.mark.parametrize("now", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
def test_a_now_at_the_ends_of_the_calendar_is_a_usage_error(tmp_path: Path, now: str) -> None:
    """A pass reaches 100 years back (backfill) and a lease ahead: these were an OverflowError
    traceback mid-run."""
    config = make_config(tmp_path, "sqlite:///" + str(tmp_path / "db.sqlite"), {"ada": SUB})
    result = CliRunner().invoke(cli, ["--config", str(config), "run", "--dry-run", "--now", now])
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Invalid value for --now" in result.output and "from 1970 to 9000" in result.output


@pytest.mark.parametrize("command", [("run",), ("status",)])
def test_a_file_that_is_no_database_is_named(tmp_path: Path, command: tuple[str, ...]) -> None:
    """database_url naming some other file said only "database error: file is not a
    database ... check that the database is reachable ... run again" (the ops audit)."""
    other = tmp_path / "notes.db"
    other.write_text("not a database " * 20, encoding="utf-8")
    config = make_config(tmp_path, f"sqlite:///{other}", {"ada": SUB})
    result = run_cli(config, *command)
    assert result.exit_code == 1
    assert (f"cannot open database sqlite:///{other}: file is not a database (this file is "
            "something else: is database_url the file paper-digest made?)") in result.output
    assert "run again" not in result.output
    assert other.read_text(encoding="utf-8") == "not a database " * 20  # left as it was


def test_check_notes_synonyms_that_widen_no_term(tmp_path: Path, sqlite_url: str) -> None:
    """Synonyms only widen the terms a profile names; a group none of them holds adds nothing
    (the README's own `RES = ["referring expression segmentation"]` beside the keyword
    `referring expression` did nothing, and check said OK)."""
    from worker.matching import Matcher
    from worker.settings import load_config

    unused = ('keywords = ["visual grounding", "referring expression"]\n'
              'synonyms = { RES = ["referring expression segmentation"] }\n')
    config = make_config(tmp_path, sqlite_url, {
        "ada": f'deliver = ["markdown"]\n[interests]\n{unused}',
        "bob": 'deliver = ["markdown"]\n[interests]\nquery = "VLM AND benchmark"\n'
               'synonyms = { VLM = ["vision-language model"] }\n',
        "cy": 'deliver = ["markdown"]\n[interests]\nkeywords = ["grounding"]\nexclude = '
              '["RS"]\nsynonyms = { "remote sensing" = ["RS"], LVLM = ["large VLM"] }\n'})
    checked = run_cli(config, "check")
    assert checked.exit_code == 0, checked.output
    notes = [line for line in checked.output.splitlines() if line.startswith("note: ")]
    assert notes == [
        "note: ada: synonyms.RES: neither “RES” nor “referring expression segmentation” is a "
        "keyword, phrase, query or exclude term (or part of one), and synonyms only widen "
        "those: it changes nothing; add “RES” to keywords, for one",
        "note: cy: synonyms.LVLM: neither “LVLM” nor “large VLM” is a keyword, phrase, query "
        "or exclude term (or part of one), and synonyms only widen those: it changes nothing; "
        "add “LVLM” to keywords, for one"]
    ada = next(p for p in load_config(config, {}).profiles if p.id == "ada")
    assert all(len(t.variants) == 1 for t in Matcher(ada.interests).terms)  # as the note says
