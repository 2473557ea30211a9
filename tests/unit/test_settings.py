"""worker.toml and subscriber files: good config loads; every problem is reported at once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from worker.settings import load_config

GOOD_WORKER = """
database_url = "sqlite:///data/x.db"
output_dir = "out"
[[sources]]
name = "local"
kind = "dump_dir"
path = "dumps"
"""
GOOD_SUB = """
name = "Ada"
email = "ada@example.org"
deliver = ["email", "markdown"]
max_items = 5
min_score = 0.3
backfill = "3d"
[interests]
keywords = ["hallucination", "vision-language"]
query = '(hallucination OR "language prior") AND NOT survey'
"""


def write_config(root: Path, worker: str = GOOD_WORKER, **subs: str) -> Path:
    (root / "subscribers").mkdir(parents=True, exist_ok=True)
    (root / "worker.toml").write_text(worker, encoding="utf-8")
    for name, text in subs.items():
        (root / "subscribers" / f"{name}.toml").write_text(text, encoding="utf-8")
    return root


def test_good_config(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, ada=GOOD_SUB), {})
    assert config.problems == []
    (profile,) = config.profiles
    assert profile.id == "ada" and profile.name == "Ada"
    assert profile.deliver == ("email", "markdown")
    assert profile.backfill == timedelta(days=3)
    assert profile.interests.keywords == ("hallucination", "vision-language")
    source = config.settings.sources[0]
    assert (source.name, source.kind, source.options.path) == ("local", "dump_dir", "dumps")


def test_env_database_url_wins(tmp_path: Path) -> None:
    env = {"PAPER_DIGEST_DATABASE_URL": "sqlite:///elsewhere.db"}
    assert load_config(write_config(tmp_path), env).settings.database_url == \
        "sqlite:///elsewhere.db"


def test_smtp_password_comes_from_env(tmp_path: Path) -> None:
    worker = GOOD_WORKER + '[smtp]\nhost = "mail"\nport = 587\nfrom = "PD <pd@example.org>"\n'
    config = load_config(write_config(tmp_path, worker),
                         {"PAPER_DIGEST_SMTP_PASSWORD": "s3cret"})
    smtp = config.settings.smtp
    assert smtp is not None and smtp.password == "s3cret" and smtp.mode == "starttls"
    assert "s3cret" not in repr(smtp)


def _messages(tmp_path: Path, worker: str = GOOD_WORKER, **subs: str) -> list[str]:
    return [str(p) for p in load_config(write_config(tmp_path, worker, **subs), {}).problems]


def test_smtp_problems_name_the_keys_a_file_can_hold(tmp_path: Path) -> None:
    # `from` is read into the field `sender`, and the password comes only from the
    # environment: a problem that named `sender` or offered `password` sent the user to a
    # key the next check refuses
    typo = GOOD_WORKER + '[smtp]\nhost = "mail"\nfrom = "PD <pd@example.org>"\nusernme = "pd"\n'
    messages = [m.split("worker.toml", 1)[1] for m in _messages(tmp_path / "a", typo)]
    assert messages == [":11: smtp.usernme: unknown key; did you mean `username`? supported: "
                        "from, host, port, security, timeout, username"]
    no_host = GOOD_WORKER + "[smtp]\nport = 587\n"
    messages = [m.split("worker.toml", 1)[1] for m in _messages(tmp_path / "b", no_host)]
    assert messages == [":8: smtp.host: missing; add `host = ...` (a string)",
                        ":8: smtp.from: missing; add `from = ...` (a string)"]
    sender = GOOD_WORKER + '[smtp]\nsender = "PD <pd@example.org>"\nport = 587\n'
    messages = [m.split("worker.toml", 1)[1] for m in _messages(tmp_path / "c", sender)]
    assert messages[0].startswith(":9: smtp.sender: unknown key; supported: from, host,")
    good = GOOD_WORKER + '[smtp]\nhost = "mail"\nfrom = "PD <pd@example.org>"\n'
    config = load_config(write_config(tmp_path / "d", good), {})
    assert config.problems == [] and config.settings.smtp is not None
    assert config.settings.smtp.sender == "PD <pd@example.org>"


@pytest.mark.parametrize(("text", "expected"), [
    ("email = 'a@example.org'\n[interests\nkeywords = ['x']", ["ada.toml:2: invalid TOML"]),
    (GOOD_SUB + "colour = 'blue'\n", ["ada.toml:11: interests.colour: unknown key; supported: "]),
    # A key a letter or two from a supported one is named.
    (GOOD_SUB.replace("min_score", "mins_score"),
     ["ada.toml:6: mins_score: unknown key; did you mean `min_score`? supported: backfill, "]),
    (GOOD_SUB + "keyowrds = ['x']\n",
     ["ada.toml:11: interests.keyowrds: unknown key; did you mean `keywords`? supported: "]),
    (GOOD_SUB.replace("max_items = 5", "max_items = 'five'"),
     ["ada.toml:5: max_items: expected an integer, got str 'five'"]),
    (GOOD_SUB.replace("AND NOT survey", "AND (NOT survey"),  # the key said once
     ["ada.toml:10: interests.query: unbalanced parenthesis: '(' is never closed"]),
    (GOOD_SUB.replace("min_score = 0.3", "min_score = 3").replace('"3d"', '"three days"'),
     ["ada.toml:6: min_score: expected a number from 0 to 1",
      "ada.toml:7: backfill: 'three days' is not a duration"]),
    ("email = 'not-an-address'\n[interests]\nkeywords = ['x']\n",
     ["ada.toml:1: email: expected an address like ada@example.org"]),
    ("deliver = ['pigeon']\n[interests]\nkeywords = ['x']\n",
     ["ada.toml:1: deliver: unknown channel 'pigeon'; supported: email, markdown"]),
    # A key of the wrong type is said once: not also "nowhere to deliver" without it.
    ("deliver = 'markdown'\n[interests]\nkeywords = ['x']\n",
     ["ada.toml:1: deliver: expected a list of strings"]),
    ("email = 42\n[interests]\nkeywords = ['x']\n",
     ["ada.toml:1: email: expected a string"]),
    ("email = 'a@example.org'\n", ["ada.toml: interests: no interests"]),
    ("email = 'a@example.org'\n[interests]\nkeywords = 'x'\n",
     ["ada.toml:3: interests.keywords: expected a list of strings"]),
    ("email = 'jos\u00e9@ex\u00e4mple.org'\n[interests]\nkeywords = ['x']\n",
     ["ada.toml:1: email: only ASCII addresses can be sent to"]),
    # A problem at the top does not hide those further down, in [interests] too.
    ("colour = 'red'\nmin_score = 2\nemail = 'a@example.org'\n[interests]\nwords = ['x']\n"
     "query = '(multimodal OR vision'\n",
     ["ada.toml:1: colour: unknown key; supported: backfill, deliver, email",
      "ada.toml:5: interests.words: unknown key; did you mean `keywords`? supported: ",
      "ada.toml:2: min_score: expected a number from 0 to 1",
      "ada.toml:6: interests.query: "]),
    ("email = 'a@example.org'\n[interests]\nkeywords = ['x']\n"
     "synonyms = { VLM = 'vision-language model', OK = ['x y'] }\n",
     ["ada.toml:4: interests.synonyms.VLM: expected a list of strings, got str "
      "'vision-language model'"]),
    ("email = 'a@example.org'\ninterests = 'x'\n",
     ["ada.toml:2: interests: expected a table of "]),  # and not also "no interests"
    # A setting added at the end of the file is in [interests] (TOML): said so, at its own
    # line, not at the line of the same key above the header (nor as an unknown key).
    (GOOD_SUB + "max_items = 8\n",
     ["ada.toml:11: interests.max_items: not an interest but a setting of the subscriber: move "
      "it above [interests]"]),
    (GOOD_SUB + "colour = 'blue'\nmax_items = 8\n",
     ["ada.toml:12: interests.max_items: not an interest but a setting",
      "ada.toml:11: interests.colour: unknown key"]),
    # ...and an interest above the header is one: not "unknown", nor "no interests".
    ("email = 'a@example.org'\nkeywords = ['x']\n",
     ["ada.toml:2: keywords: an interest: move it under [interests]"]),
    # A query over several lines: its error by line and column, at the file's line.
    ("email = 'a@example.org'\n[interests]\nquery = \'\'\'\n  (hallucination OR grounding)\n"
     "  AND (VLM OR\n  ) AND NOT survey\'\'\'\n",
     ["ada.toml:5: interests.query: dangling operator: OR needs a term after it, "
      "before ')' (line 2 of the query, column 12)"]),
    ("email = 'a@example.org'\n[interests]\nquery = \'\'\'(a OR\n  )\'\'\'\n",
     ["ada.toml:3: interests.query: dangling operator: OR needs a term after it, "
      "before ')' (line 1 of the query, column 4)"]),
    # The key a digest shows is for `mark`: as a `like`, it was sent to arXiv as a title.
    ("email = 'a@example.org'\n[interests]\nkeywords = ['x']\nlike = ['2403.12345']\n"
     "unlike = ['paper:154']\n",
     ["ada.toml:5: interests.unlike: 'paper:154' is the key a digest shows, which only "
      "`explain` and `mark` take: run `paper-digest "]),  # --config: the test below
    ("max_items = 2.5\nemail = 'a@example.org'\n[interests]\nkeywords = ['x']\n"
     "exclude_mode = 'x'\n",
     ["ada.toml:1: max_items: expected an integer, got float 2.5",
      "ada.toml:5: interests.exclude_mode: expected \"drop\" or \"demote\""]),
    # TOML's true is no number (Python's bool is an int): not a max_items of 1
    (GOOD_SUB.replace("max_items = 5", "max_items = true"),
     ["ada.toml:5: max_items: expected an integer, got bool True"]),
    # a digest of no papers at all is no digest
    (GOOD_SUB.replace("max_items = 5", "max_items = 0"),
     ["ada.toml:5: max_items: expected at least 1"]),
    # email asked for, with nowhere to send it
    ("deliver = ['email', 'markdown']\n[interests]\nkeywords = ['x']\n",
     ["ada.toml:1: email: deliver includes email but no `email = ...` is set"]),
])
def test_subscriber_problems(tmp_path: Path, text: str, expected: list[str]) -> None:
    messages = _messages(tmp_path, ada=text)
    assert len(messages) == len(expected), messages
    for message, wanted in zip(messages, expected, strict=True):
        assert wanted.split(":", 1)[1] in message and message.startswith(str(tmp_path)), message
        assert message.split(str(tmp_path / "subscribers") + "/", 1)[1].startswith(wanted)


def test_a_digest_key_in_like_names_the_mark_command_for_this_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """README's first steps work in `--config mine`: the `mark` that check proposes for
    `like = ["paper:45"]` must say so, or it marks in ./config (no such subscriber there)."""
    monkeypatch.delenv("PAPER_DIGEST_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    sub = "email = 'a@example.org'\n[interests]\nkeywords = ['x']\nlike = ['paper:45']\n"
    for folder, command in [("my digest", "paper-digest --config 'my digest' mark ada paper:45"),
                            ("config", "paper-digest mark ada paper:45")]:
        write_config(tmp_path / folder, ada=sub)
        (problem,) = load_config(Path(folder), {}).problems
        assert f"run `{command}` instead" in str(problem), problem
    monkeypatch.setenv("PAPER_DIGEST_CONFIG", "my digest")  # where a bare paper-digest looks
    (problem,) = load_config(Path("my digest"), {}).problems
    assert "run `paper-digest mark ada paper:45` instead" in str(problem), problem


def test_worker_problems_all_at_once(tmp_path: Path) -> None:
    worker = GOOD_WORKER + 'colour = "red"\n[[sources]]\nname = "web"\nkind = "ftp"\n' \
        '[[sources]]\nname = "local2"\nkind = "dump_dir"\n'
    messages = _messages(tmp_path, worker)
    assert any("sources[1].kind: unknown kind 'ftp'; supported: dump_dir" in m for m in messages)
    assert any("sources[2].path: missing" in m for m in messages)
    # `colour` sits after [[sources]] in the file, so TOML puts it in that source's table.
    assert any("sources[0].colour: unknown key" in m for m in messages)
    assert len(messages) == 3


def test_worker_problems_are_not_hidden_by_a_first_one(tmp_path: Path) -> None:
    worker = ('outptu = "x"\ntimezone = "Mars/Olympus"\n'
              "[delivery]\nmax_attempts = 0\nretry_base = \"0m\"\n"
              '[smtp]\nhost = "mail"\nport = 99999\nfrom = "PD <pd@example.org>"\n'
              '[[sources]]\nname = "a"\nkind = "dump_dir"\npath = "d"\n'
              '[[sources]]\nname = "a"\nkind = "dump_dir"\npath = "e"\n')
    messages = [m.split("worker.toml", 1)[1] for m in _messages(tmp_path, worker)]
    assert messages == [
        ":1: outptu: unknown key; supported: contact, database_url, delivery, email, feedback, "
        "matching, output_dir, retention, serve, smtp, sources, templates_dir, timezone",
        ":2: timezone: unknown time zone 'Mars/Olympus'; use an IANA name such as "
        "'Europe/Berlin' or 'UTC'",
        ":15: sources[1].name: duplicate source name 'a'",
        ":8: smtp.port: expected a port number from 1 to 65535",
        ":5: delivery.retry_base: expected a wait longer than 0, e.g. 2m",
        ":4: delivery.max_attempts: expected 1 or more (sends tried before a digest is marked "
        "failed)",
    ]


def test_an_emptied_source_says_what_it_lacks_at_its_header(tmp_path: Path) -> None:
    worker = GOOD_WORKER + '[[sources]]\n# taken out for now\n\n[[sources]]\nname = "b"\n' \
        'kind = "dump_dir"\npath = "b"\n[smpt]\nhost = "x"\n'
    messages = [m.split("worker.toml", 1)[1] for m in _messages(tmp_path, worker)]
    assert messages[0].startswith(":15: smpt: unknown key; did you mean `smtp`? supported: ")
    assert messages[1:] == [
        ":8: sources[1].name: missing; add `name = \"...\"` (letters, digits, '.', '_' or '-')",
        ":8: sources[1].kind: missing; add `kind = ...`, one of dump_dir, dump_url, hf_papers, "
        "hf_api, arxiv_api, arxiv_rss, arxiv_listing"]


def test_a_missing_key_is_said_at_the_header_of_its_table(tmp_path: Path) -> None:
    # `check` names the line of every problem; a key left out has no line of its own, so the
    # table that lacks it is named (it was said with no line at all: which [[sources]]?)
    worker = GOOD_WORKER + '[[sources]]\nname = "b"\nkind = "dump_url"\n\n[[sources]]\n' \
        'name = "c"\nkind = "arxiv_rss"\n[smtp]\nhost = "mail"\n'
    messages = [m.split("worker.toml", 1)[1] for m in _messages(tmp_path, worker)]
    assert messages == [":8: sources[1].url: missing; add `url = ...` (a string)",
                        ":12: sources[2].categories: missing; add `categories = ...` (a list "
                        "of strings)",
                        ":15: smtp.from: missing; add `from = \"Paper Digest "
                        '<digest@example.org>"`']
    inline = GOOD_WORKER.replace("[[sources]]", "smtp = { port = 25 }\n[[sources]]")
    messages = [m.split("worker.toml", 1)[1] for m in _messages(tmp_path / "b", inline)]
    assert messages == [": smtp.host: missing; add `host = ...` (a string)",
                        ": smtp.from: missing; add `from = ...` (a string)"]


@pytest.mark.parametrize(("url", "env", "expected"), [
    ("d1/data.db", {}, "worker.toml:2: database_url: 'd1/data.db' is not a database URL"),
    ("mysql://x@localhost/db", {}, "worker.toml:2: database_url: 'mysql://x@localhost/db' is"),
    ("sqlite:///x.db", {"PAPER_DIGEST_DATABASE_URL": "garbage"},
     "environment: PAPER_DIGEST_DATABASE_URL: 'garbage' is not a database URL this tool uses"),
    ("postgresq://digest:S3cretPW@db/digest", {},  # a typo in the scheme, not the password
     "worker.toml:2: database_url: 'postgresq://digest:***@db/digest' is not a database URL"),
    ("postgresql://digest:S3cretPW@db:notaport/digest", {},  # it crashed every command
     "worker.toml:2: database_url: 'postgresql:...' cannot be read as a URL: is its port a "
     "number"),
    ("sqlite:///x.db", {"PAPER_DIGEST_DATABASE_URL": "postgresql://u:S3cretPW@[::1/db"},
     "environment: PAPER_DIGEST_DATABASE_URL: 'postgresql:...' cannot be read as a URL"),
])
def test_a_database_url_that_cannot_work_is_a_problem(tmp_path: Path, url: str,
                                                       env: dict[str, str], expected: str) -> None:
    worker = GOOD_WORKER.replace("sqlite:///data/x.db", url)
    (message,) = [str(p) for p in load_config(write_config(tmp_path, worker), env).problems]
    assert expected in message and "S3cretPW" not in message
    assert "expected sqlite:///path/to/file.db or postgresql://user@host/database" in message


def test_subscriber_files_are_read_as_utf8_with_or_without_a_bom(tmp_path: Path) -> None:
    write_config(tmp_path)
    (tmp_path / "subscribers" / "ada.toml").write_bytes(b"\xef\xbb\xbf" + GOOD_SUB.encode())
    (tmp_path / "subscribers" / "bob.toml").write_bytes(
        GOOD_SUB.replace("Ada", "Jos\u00e9").encode("latin-1"))
    config = load_config(tmp_path, {})
    assert [p.id for p in config.profiles] == ["ada"]
    (problem,) = config.broken["bob"]
    assert str(problem).endswith("bob.toml:2: not UTF-8 (byte 0xe9): save the file as UTF-8")


def test_a_config_file_is_read_whole_up_to_the_cap_whatever_size_it_says(
        tmp_path: Path) -> None:
    """A file is read by the size it says it has, then the rest: all of one that says 0
    (/proc's), a file of exactly the cap, none of one past it."""
    from worker.config_types import MAX_TOML_BYTES, NotAFile, _read_capped

    says_nothing = Path("/proc/self/status")
    if says_nothing.stat().st_size == 0:
        assert _read_capped(says_nothing).startswith(b"Name:")
    full = tmp_path / "full.toml"
    full.write_bytes(b"#" * (MAX_TOML_BYTES - 1) + b"\n")
    assert _read_capped(full) == full.read_bytes()
    full.write_bytes(full.read_bytes() + b"\n")
    with pytest.raises(NotAFile, match="larger than 1 MiB"):
        _read_capped(full)


def test_hidden_files_in_subscribers_are_left_alone(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, ada=GOOD_SUB, **{".#ada": "[broken"}), {})
    assert config.problems == [] and [p.id for p in config.profiles] == ["ada"]


def test_broken_subscriber_does_not_hide_the_others(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, ada=GOOD_SUB, bob="[interests"), {})
    assert [p.id for p in config.profiles] == ["ada"]
    assert list(config.broken) == ["bob"]


def test_bad_subscriber_file_name(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, **{"-bad name": GOOD_SUB}), {})
    assert not config.profiles
    assert "file name must start with a letter or digit" in str(config.problems[0])


def test_shipped_config_and_its_commented_examples_are_valid(tmp_path: Path) -> None:
    """config/worker.toml is valid, and so is every commented [[sources]] example in it."""
    import re

    from tests.conftest import REPO

    shipped = REPO / "config"
    assert load_config(shipped, {}).problems == []
    text = (shipped / "worker.toml").read_text(encoding="utf-8")
    uncommented, table = [], None  # the commented table a line is in: only sources' count
    for line in text.splitlines():
        if line.startswith("# ["):
            table = line
        if line.startswith("# ") and table == "# [[sources]]" and (
                line == table or re.match(r"# (name|kind|date|url|categories|revisions|"
                                          r"cross_lists|query|max_results) = ", line)):
            line = line[2:]
        uncommented.append(line)
    write_config(tmp_path, "\n".join(uncommented))
    config = load_config(tmp_path, {})
    assert config.problems == []
    kinds = {s.kind for s in config.settings.sources}
    from worker.sources import KINDS

    assert kinds == set(KINDS)  # one example of every kind


@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("1", 1), ("3", 3)])
def test_matching_workers(tmp_path: Path, value: str, expected: int) -> None:
    config = load_config(write_config(tmp_path, GOOD_WORKER + f"[matching]\nworkers = {value}\n",
                                      ada=GOOD_SUB), {})
    assert config.problems == []
    assert config.settings.matching.workers == expected


@pytest.mark.parametrize("value", ["-1", '"auto"', "1.5"])
def test_matching_workers_must_be_a_count(tmp_path: Path, value: str) -> None:
    config = load_config(write_config(tmp_path, GOOD_WORKER + f"[matching]\nworkers = {value}\n",
                                      ada=GOOD_SUB), {})
    [problem] = config.problems
    assert problem.key == "matching.workers" and problem.line == 9
    assert str(tmp_path / "worker.toml") in str(problem.file)


@pytest.mark.parametrize("zone", ["Europe", "Asia", "x" * 300])
def test_a_time_zone_that_is_no_file_of_the_database_is_a_problem(tmp_path: Path,
                                                                  zone: str) -> None:
    # "Europe" is a directory of the time zone database, a very long name is refused as a
    # file name: each is one problem at its line, in worker.toml and in a subscriber file alike.
    worker = GOOD_WORKER.replace('output_dir = "out"', f'timezone = "{zone}"')
    sub = GOOD_SUB.replace('backfill = "3d"', f'timezone = "{zone}"')
    messages = _messages(tmp_path, worker, ada=sub)
    assert [m.split(str(tmp_path), 1)[1] for m in messages] == [
        f"/worker.toml:3: timezone: unknown time zone {zone!r}; use an IANA name such as "
        "'Europe/Berlin' or 'UTC'",
        f"/subscribers/ada.toml:7: timezone: unknown time zone {zone!r}; use an IANA name such "
        "as 'Europe/Berlin' or 'UTC'"]


def test_a_duration_too_long_for_a_date_is_a_problem_at_its_line(tmp_path: Path) -> None:
    # A backfill reaching before year 1 or a cadence after year 9999 was taken by `check` and
    # then failed every run with an OverflowError; a number too large for a timedelta failed
    # `check` itself.
    sub = GOOD_SUB.replace('"3d"', '"999999d"').replace("max_items = 5",
                                                        'schedule = "every 3000000d"')
    worker = GOOD_WORKER + '[delivery]\nretry_max = "99999999999999d"\n'
    messages = [m.split(str(tmp_path), 1)[1] for m in _messages(tmp_path, worker, ada=sub)]
    assert messages == [
        "/worker.toml:9: delivery.retry_max: '99999999999999d' is too long: at most 36500d "
        "(100 years)",
        "/subscribers/ada.toml:7: backfill: '999999d' is too long: at most 36500d (100 years)",
        "/subscribers/ada.toml:5: schedule: 'every 3000000d': '3000000d' is too long: at most "
        "36500d (100 years)"]


def test_a_source_cadence_too_long_says_so(tmp_path: Path) -> None:
    worker = GOOD_WORKER + 'every = "3000000d"\n[serve]\ncheck_every = "99999999999999d"\n'
    messages = [m.split(str(tmp_path), 1)[1] for m in _messages(tmp_path, worker)]
    assert messages == [
        "/worker.toml:10: serve.check_every: '99999999999999d' is too long: at most 36500d "
        "(100 years)",
        "/worker.toml:10: serve.check_every: 'every 99999999999999d': '99999999999999d' is too "
        "long: at most 36500d (100 years)",
        "/worker.toml:8: sources[0].every: '3000000d' is too long: at most 36500d (100 years)"]


@pytest.mark.parametrize(("options", "said"), [
    ("max_pages = 0", "sources[0].max_pages: expected 1 or more"),
    ("max_results = 0", "sources[0].max_results: expected 1 to "),
    ('lookback = "soon"', "sources[0].lookback: 'soon' is not a duration like 30m"),
])
def test_an_arxiv_api_option_out_of_range_is_a_problem(tmp_path: Path, options: str,
                                                       said: str) -> None:
    worker = GOOD_WORKER.split("[[sources]]")[0] + (
        f'[[sources]]\nname = "a"\nkind = "arxiv_api"\nquery = "cat:cs.CV"\n{options}\n')
    messages = _messages(tmp_path, worker)
    assert len(messages) == 1 and said in messages[0], messages


@pytest.mark.parametrize("kind", ['["dump_dir"]', '{ name = "dump_dir" }', "3"])
def test_a_source_kind_that_is_no_string_is_a_problem(tmp_path: Path, kind: str) -> None:
    worker = GOOD_WORKER.replace('kind = "dump_dir"', f"kind = {kind}")
    messages = [m.split(str(tmp_path), 1)[1] for m in _messages(tmp_path, worker)]
    assert len(messages) == 1 and messages[0].startswith(
        "/worker.toml:6: sources[0].kind: unknown kind "), messages


@pytest.mark.parametrize("weight", ["nan", "inf", "1e308", "-1.0"])
def test_a_field_weight_that_is_no_usable_number_is_a_problem(tmp_path: Path,
                                                              weight: str) -> None:
    # nan, inf and 1e308 passed check and made every paper matching in the title drop out.
    sub = GOOD_SUB + f"field_weights = {{ title = {weight} }}\n"
    messages = [m.split(str(tmp_path), 1)[1] for m in _messages(tmp_path, ada=sub)]
    assert messages == ["/subscribers/ada.toml:11: interests.field_weights.title: expected a "
                        "number from 0 to 1000"]


def test_a_field_weight_at_the_limit_still_ranks_title_matches() -> None:
    from worker.matching import Interests, Matcher, PaperText

    papers = [PaperText("a", "Vision transformers", "We study images."),
              PaperText("b", "Language models", "Text, and some vision.")]
    interests = Interests(keywords=("vision",), field_weights={"title": 1000.0})
    assert [m.paper.key for m in Matcher(interests).rank(papers)] == ["a", "b"]


def test_a_query_error_line_counts_toml_lines_only(tmp_path: Path) -> None:
    # U+2028 and U+0085 may stand in a TOML comment; str.splitlines() counts them as line
    # breaks, which put the error of a multi-line query one line too early.
    sub = ('email = "a@example.org"  # a\u2028b\u0085c\n[interests]\n'
           'query = """\n(a OR\n)"""\n')
    (message,) = _messages(tmp_path, ada=sub)
    assert message.split("ada.toml", 1)[1].startswith(":4: interests.query: dangling "
                                                      "operator: OR needs a term after it"), message


def test_the_retry_back_off_doubles_up_to_its_cap_for_any_number_of_attempts() -> None:
    from worker.settings import DeliverySettings

    delivery = DeliverySettings(max_attempts=1000, retry_base="2m", retry_max="6h")
    assert [delivery.wait(n) for n in (1, 2, 3)] == [timedelta(minutes=m) for m in (2, 4, 8)]
    # 2m * 2**44 overflowed a timedelta: with max_attempts = 50 the 45th failed send crashed
    assert delivery.wait(45) == delivery.wait(10**6) == timedelta(hours=6)


@pytest.mark.parametrize("nested", ["[" * 2000 + "]" * 2000, "{a = " * 2000 + "1" + "}" * 2000])
def test_a_file_nested_too_deeply_for_tomllib_is_a_problem(tmp_path: Path, nested: str) -> None:
    # tomllib recurses: this was a RecursionError traceback from check and every run, for
    # every subscriber, when only this one's file was at fault.
    sub = GOOD_SUB + f"exclude = {nested}\n"
    messages = [m.split(str(tmp_path), 1)[1] for m in _messages(tmp_path, ada=sub)]
    assert messages == ["/subscribers/ada.toml: invalid TOML: arrays or tables nested too "
                        "deeply to read"]
    worker = GOOD_WORKER + f"[delivery]\nx = {nested}\n"
    config = load_config(write_config(tmp_path / "w", worker), {})
    assert [str(p).split(str(tmp_path), 1)[1] for p in config.problems] == [
        "/w/worker.toml: invalid TOML: arrays or tables nested too deeply to read"]


def test_a_line_break_at_the_end_of_an_id_an_address_or_a_source_name_is_refused(
        tmp_path: Path) -> None:
    """`$` matches before a last "\\n": a file `bob\\n.toml`, `email = "ada@example.org\\n"` and
    a source `name = "local\\n"` passed, and their line breaks reached check's notes, the run
    summary, paths under output_dir, and email headers (every send failing)."""
    worker = GOOD_WORKER.replace('name = "local"', 'name = "local\\n"')
    sub = GOOD_SUB.replace('"ada@example.org"', '"ada@example.org\\n"')
    config = load_config(write_config(tmp_path, worker, ada=sub, **{"bob\n": GOOD_SUB}), {})
    assert not config.profiles
    said = [(p.key, p.message) for p in config.problems]
    assert ("sources[0].name", "expected a name of letters, digits, '.', '_' or '-'") in said
    assert ("email", "expected an address like ada@example.org") in said
    assert any("file name must start with a letter or digit" in m for _, m in said)


def test_allowed_domains_keep_addresses_to_the_institutes_own(tmp_path: Path) -> None:
    """Where subscribers write their own files, [email] allowed_domains keeps the relay to the
    institute's addresses: another address is an error of that file only."""
    worker = GOOD_WORKER + '[email]\nallowed_domains = ["Lab.Example.org"]\n'
    subs = {name: GOOD_SUB.replace("ada@example.org", address) for name, address in (
        ("ada", "ada@lab.example.org"), ("bob", "bob@CS.lab.example.org"),
        ("eve", "victim@elsewhere.example"), ("mal", "m@notlab.example.org"))}
    config = load_config(write_config(tmp_path, worker, **subs), {})
    assert sorted(p.id for p in config.profiles) == ["ada", "bob"]
    assert sorted(config.broken) == ["eve", "mal"]
    (problem,) = config.broken["eve"]
    assert problem.key == "email" and problem.file.endswith("eve.toml")
    assert problem.line == 3  # where `check` sends the reader to fix it
    assert "victim@elsewhere.example is not at a domain this install mails (Lab.Example.org" \
        in problem.message


def test_an_allowed_domain_must_be_a_domain(tmp_path: Path) -> None:
    worker = GOOD_WORKER + '[email]\nallowed_domains = ["lab.example.org", "@lab", "x y.org"]\n'
    config = load_config(write_config(tmp_path, worker, ada=GOOD_SUB), {})
    assert [p.message for p in config.problems if p.key == "email.allowed_domains"] == [
        "'@lab' is not a domain such as \"lab.example.org\"",
        "'x y.org' is not a domain such as \"lab.example.org\""]


def test_each_commented_table_of_the_shipped_config_is_valid_uncommented(tmp_path: Path) -> None:
    """`# [retention]` and the rest: what a user uncomments works as it is."""
    import re

    from tests.conftest import REPO

    text = (REPO / "config" / "worker.toml").read_text(encoding="utf-8")
    tables = re.findall(r"^# \[(\w+)\]\n((?:# \w+ = .*\n)+)", text, re.MULTILINE)
    assert {name for name, _ in tables} >= {"smtp", "email", "delivery", "retention", "serve"}
    for name, keys in tables:
        write_config(tmp_path, f"{text}\n[{name}]\n" + re.sub(r"^# ", "", keys, flags=re.M))
        config = load_config(tmp_path, {"PAPER_DIGEST_FEEDBACK_SECRET": "s" * 16})
        assert config.problems == [], name  # (a table it did not know would be a problem)


def test_retention_is_off_unless_set_and_takes_durations(tmp_path: Path) -> None:
    assert not load_config(write_config(tmp_path), {}).settings.retention.configured
    worker = GOOD_WORKER + '[retention]\ndigests = "400d"\nruns = "13w"\n'
    retention = load_config(write_config(tmp_path, worker), {}).settings.retention
    assert (retention.digests, retention.runs, retention.configured) == ("400d", "13w", True)


def test_retention_problems_name_the_key_and_line(tmp_path: Path) -> None:
    worker = GOOD_WORKER + '\n[retention]\ndigests = "3d"\nruns = "forever"\npapers = "1y"\n'
    lines = GOOD_WORKER.count("\n") + 2
    messages = [m.split("worker.toml", 1)[1] for m in _messages(tmp_path, worker)]
    assert messages == [
        f":{lines + 3}: retention.papers: unknown key; supported: digests, runs",
        f":{lines + 1}: retention.digests: expected 7d or longer (leave it out to keep them "
        "for good)",
        f":{lines + 2}: retention.runs: 'forever' is not a duration like 30m, 12h, 7d or 2w",
    ]


@pytest.mark.parametrize(("pattern", "said"), [
    ("", "expected a pattern of file names"), (".", "expected a pattern of file names"),
    ("/srv/dumps/*.txt", "inside `path`"), ("~/dumps/*.txt", "inside `path`"),
    ("dumps**.txt", "not a pattern of file names"),
])
def test_a_dump_dir_pattern_glob_refuses_is_a_problem(tmp_path: Path, pattern: str,
                                                      said: str) -> None:
    """Each passed `check`, then ended the source with a traceback at every run."""
    worker = GOOD_WORKER.replace('path = "dumps"', f'path = "dumps"\npattern = "{pattern}"')
    messages = [m.split(str(tmp_path), 1)[1] for m in _messages(tmp_path, worker)]
    assert len(messages) == 1 and messages[0].startswith(
        "/worker.toml:8: sources[0].pattern: ") and said in messages[0], messages


@pytest.mark.parametrize("sender", [
    "not an address", "Paper Digest <digest@example.org>\\r\\nBcc: eve@example.net",
    "digest@example.org, eve@example.net", "Paper Digest", "Paper Digest <@example.org>"])
def test_an_smtp_sender_that_is_not_one_address_is_a_problem(tmp_path: Path,
                                                             sender: str) -> None:
    """Each passed `check`: the first went out as MAIL FROM:<not>, the second failed every
    digest of every subscriber at every run, the third put two senders in the From header."""
    worker = GOOD_WORKER + f'[smtp]\nhost = "127.0.0.1"\nfrom = "{sender}"\n'
    messages = [m.split(str(tmp_path), 1)[1] for m in _messages(tmp_path, worker)]
    assert len(messages) == 1 and messages[0].startswith(
        "/worker.toml:10: smtp.from: expected one address"), messages


@pytest.mark.parametrize("sender", [
    "Paper Digest <digest@example.org>", "digest@example.org", '"Lab, Papers" <d@example.org>',
    "Bücher <d@example.org>", "digest@localhost"])
def test_an_smtp_sender_of_one_address_is_taken(tmp_path: Path, sender: str) -> None:
    worker = GOOD_WORKER + f'[smtp]\nhost = "127.0.0.1"\nfrom = \'{sender}\'\n'
    assert _messages(tmp_path, worker) == []


@pytest.mark.parametrize("section", ["email", "matching", "feedback", "retention", "delivery",
                                     "smtp", "serve"])
@pytest.mark.parametrize("value", ["[]", "3", '"x"'])
def test_a_section_that_is_no_table_is_a_problem(tmp_path: Path, section: str,
                                                 value: str) -> None:
    """`email = []` or `matching = 3` ended `check` and `run` with a traceback."""
    worker = GOOD_WORKER.replace("[[sources]]", f"{section} = {value}\n[[sources]]")
    messages = [m.split(str(tmp_path), 1)[1] for m in _messages(tmp_path, worker)]
    assert len(messages) == 1, messages
    assert messages[0].endswith(f"{section}: expected a table: [{section}]"), messages


def test_a_key_two_tables_share_is_named_at_the_line_of_its_own_table(tmp_path: Path) -> None:
    # `url` (a dump_url source, [feedback]), `unsubscribe` ([email], [feedback]) and `every`
    # (each source) were looked for from the top of the file: a problem of the later one was
    # put at the line of the first
    worker = ('database_url = "sqlite:///data/x.db"\n'
              '[[sources]]\nname = "a"\nkind = "dump_url"\nurl = "https://example.org/a.txt"\n'
              'every = "1h"\n'
              '[[sources]]\nname = "b"\nkind = "dump_dir"\npath = "d"\nevery = "hourly-ish"\n'
              '[email]\nunsubscribe = ["mailto:x@example.org"]\n'
              '[feedback]\nurl = "https://lab.example.org/digest"\nunsubscribe = "yes"\n'
              '[matching]\nworkers = -1\n'
              '[serve]\nreload = "soon"\n')
    messages = [m.split("worker.toml", 1)[1] for m in _messages(tmp_path, worker)]
    assert [m.split(":")[1:3] for m in messages] == [
        ["20", " serve.reload"], ["11", " sources[1].every"], ["18", " matching.workers"],
        ["16", " feedback.unsubscribe"], ["15", " feedback.url"]], messages
