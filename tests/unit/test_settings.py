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


@pytest.mark.parametrize(("text", "expected"), [
    ("email = 'a@example.org'\n[interests\nkeywords = ['x']", ["ada.toml:2: invalid TOML"]),
    (GOOD_SUB + "colour = 'blue'\n", ["ada.toml:11: interests.colour: unknown key; supported: "]),
    (GOOD_SUB.replace("max_items = 5", "max_items = 'five'"),
     ["ada.toml:5: max_items: expected an integer, got str 'five'"]),
    (GOOD_SUB.replace("AND NOT survey", "AND (NOT survey"),
     ["ada.toml:10: interests.query: query:"]),
    (GOOD_SUB.replace("min_score = 0.3", "min_score = 3").replace('"3d"', '"three days"'),
     ["ada.toml:6: min_score: expected a number from 0 to 1",
      "ada.toml:7: backfill: 'three days' is not a duration"]),
    ("email = 'not-an-address'\n[interests]\nkeywords = ['x']\n",
     ["ada.toml:1: email: expected an address like ada@example.org"]),
    ("deliver = ['pigeon']\n[interests]\nkeywords = ['x']\n",
     ["ada.toml:1: deliver: unknown channel 'pigeon'; supported: email, markdown"]),
    ("email = 'a@example.org'\n", ["ada.toml: interests: no interests"]),
    ("email = 'a@example.org'\n[interests]\nkeywords = 'x'\n",
     ["ada.toml:3: interests.keywords: expected a list of strings"]),
])
def test_subscriber_problems(tmp_path: Path, text: str, expected: list[str]) -> None:
    messages = _messages(tmp_path, ada=text)
    assert len(messages) == len(expected), messages
    for message, wanted in zip(messages, expected, strict=True):
        assert wanted.split(":", 1)[1] in message and message.startswith(str(tmp_path)), message
        assert message.split(str(tmp_path / "subscribers") + "/", 1)[1].startswith(wanted)


def test_worker_problems_all_at_once(tmp_path: Path) -> None:
    worker = GOOD_WORKER + 'colour = "red"\n[[sources]]\nname = "web"\nkind = "ftp"\n' \
        '[[sources]]\nname = "local2"\nkind = "dump_dir"\n'
    messages = _messages(tmp_path, worker)
    assert any("sources[1].kind: unknown kind 'ftp'; supported: dump_dir" in m for m in messages)
    assert any("sources[2].path: missing" in m for m in messages)
    # `colour` sits after [[sources]] in the file, so TOML puts it in that source's table.
    assert any("sources[0].colour: unknown key" in m for m in messages)
    assert len(messages) == 3


def test_broken_subscriber_does_not_hide_the_others(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, ada=GOOD_SUB, bob="[interests"), {})
    assert [p.id for p in config.profiles] == ["ada"]
    assert list(config.broken) == ["bob"]


def test_bad_subscriber_file_name(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, **{"-bad name": GOOD_SUB}), {})
    assert not config.profiles
    assert "file name must be" in str(config.problems[0])


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
