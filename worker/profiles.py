"""Subscriber files -> Profiles: one TOML file per subscriber, whose name is its id.

As strict as worker.toml (worker.settings): every problem of a file is reported at once, with
the key, the line and what is expected, and a broken file only takes its subscriber out of a
run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

from worker.config_types import (
    check_timezone,
    command_line,
    line_of,
    load_table,
    parse_duration,
    read_toml,
    section_start,
)
from worker.errors import Problem
from worker.matching.interests import Interests

GROUP_BY = ("none", "interest")  # a subscriber's `group_by`
SUBSCRIBER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")  # \Z: "$" takes a last "\n"
EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+\Z")
# What an ASCII address must be besides: a dot-atom before the @ (RFC 5322: no quotes,
# commas, colons, brackets or parentheses) and host name labels after it. smtplib reads the
# address again for RCPT TO, as a list or group it may be: `all-staff,eve@example.org` went
# to the relay's local `all-staff`, `a:b;c@x.y` to `b`, `root(x)@x.y` to `root@x.y`.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDRESS = rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+"  # a dot-atom at a host name's first label
ADDR_SPEC = re.compile(rf"{_ADDRESS}(?:\.[A-Za-z0-9-]+)+\Z")
# `[smtp] from`: one label will do (digest@localhost, to a relay of its own)
SENDER_SPEC = re.compile(rf"{_ADDRESS}(?:\.[A-Za-z0-9-]+)*\Z")
CHANNELS = ("email", "markdown")
DIGEST_KEY = re.compile(r"paper:\d+\Z", re.I)  # what a digest shows after a paper's score


@dataclass(frozen=True)
class Profile:
    id: str
    name: str
    email: str | None
    deliver: tuple[str, ...]
    interests: Interests
    max_items: int = 20
    min_score: float = 0.2
    backfill: timedelta = timedelta(days=7)
    send_empty: bool = False
    schedule: str | None = None
    timezone: str | None = None
    group_by: str = "none"  # "interest": the digest in sections, one per matched interest
    file: Path | None = None
    fingerprint: str = ""  # hash of the file, to notice edits


@dataclass(frozen=True)
class _SubscriberFile:
    name: str | None = None
    email: str | None = None
    deliver: tuple[str, ...] | None = None
    max_items: int = 20
    min_score: float = 0.2
    backfill: str = "7d"
    send_empty: bool = False
    schedule: str | None = None
    timezone: str | None = None
    group_by: str = "none"
    enabled: bool = True
    interests: dict[str, Any] = field(default_factory=dict)


def subscriber_files(config_dir: Path) -> list[Path]:
    """DIR/subscribers/*.toml in name order, leaving out hidden files (an editor's lock or
    backup file such as `.#ada.toml`)."""
    folder = config_dir / "subscribers"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.toml") if not p.name.startswith("."))


def load_profile(path: Path) -> tuple[Profile | None, list[Problem], bool]:
    """One subscriber file -> (profile or None, problems, enabled)."""
    file = str(path)
    if not SUBSCRIBER_ID.match(path.stem):
        return None, [Problem(file, "file name must start with a letter or digit and hold "
                              "only letters, digits, '.', '_' or '-', at most 64 (it is the "
                              "subscriber's id)")], True
    data, text, problems = read_toml(path)
    if data is None:
        return None, problems, True
    at = section_start(text, "interests")  # where [interests] starts: the lines of its keys
    data, misplaced = _misplaced_keys(data, file, text, at)
    raw, problems = load_table(_SubscriberFile, data, file=file, text=text)
    problems = misplaced + problems
    if raw is None:
        return None, problems, True
    interests, interest_problems = load_table(Interests, raw.interests, file=file, text=text,
                                              prefix="interests.", after=at)
    problems += interest_problems + _check_subscriber(raw, file, text,
                                                      {p.key for p in problems})
    if interests is not None:  # (with a key left out as wrong, it is not said to be empty)
        whole = not interest_problems and not misplaced and not any(
            p.key == "interests" for p in problems)
        problems += _check_interests(interests, file, text, whole=whole, at=at)
    if problems or interests is None:
        return None, problems, raw.enabled
    # A channel named twice is one delivery: two made the digest's deliveries break their
    # unique key, so it was never written (said to be "built by another run"), every run.
    deliver = tuple(dict.fromkeys(raw.deliver)) if raw.deliver is not None else ("email",)
    profile = Profile(
        id=path.stem, name=raw.name or path.stem, email=raw.email, deliver=tuple(deliver),
        interests=interests, max_items=raw.max_items, min_score=raw.min_score,
        group_by=raw.group_by,
        backfill=parse_duration(raw.backfill), send_empty=raw.send_empty,
        schedule=raw.schedule, timezone=raw.timezone, file=path,
        fingerprint=hashlib.sha256(text.encode()).hexdigest()[:16],
    )
    return profile, [], raw.enabled


_SETTINGS = frozenset(f.name for f in fields(_SubscriberFile)) - {"interests"}
_INTERESTS = frozenset(f.name for f in fields(Interests))


def _misplaced_keys(data: dict[str, Any], file: str, text: str, at: int,
                    ) -> tuple[dict[str, Any], list[Problem]]:
    """`data` without the keys written on the wrong side of the `[interests]` header, and a
    problem for each that says where it goes: in TOML every key after a table's header is in
    that table, so a `max_items = 5` added at the end of the file is `interests.max_items`, and
    a `keywords = [...]` above the header is a subscriber setting. An unknown key, listing the
    keys of the other table, did not say that the key was right and its place wrong."""
    problems = []
    if _INTERESTS & data.keys():  # (a copy only when something moves: once a file)
        data = dict(data)
    for key in sorted(_INTERESTS & data.keys()):
        del data[key]
        problems.append(Problem(file, "an interest: move it under [interests]", key,
                                line_of(text, key)))
    interests = data.get("interests")
    if isinstance(interests, dict) and _SETTINGS & interests.keys():
        interests = dict(interests)
        for key in sorted(_SETTINGS & interests.keys()):
            del interests[key]
            problems.append(Problem(file, "not an interest but a setting of the subscriber: move "
                                    "it above [interests] (every key after a [table] header is "
                                    "in that table)", f"interests.{key}", line_of(text, key, at)))
        data["interests"] = interests
    return data, problems


def _check_subscriber(raw: _SubscriberFile, file: str, text: str, wrong: set[str | None],
                      ) -> list[Problem]:
    """The settings' own problems; `wrong`: the keys already said to be of the wrong type (left
    out, so not also said to be missing)."""
    problems = []
    deliver = raw.deliver if raw.deliver is not None else ("email",) if raw.email else ()
    for channel in deliver:
        if channel not in CHANNELS:
            problems.append(Problem(file, f"unknown channel {channel!r}; supported: "
                                    f"{', '.join(CHANNELS)}", "deliver", line_of(text, "deliver")))
    if not deliver and not {"deliver", "email"} & wrong:
        problems.append(Problem(file, 'nowhere to deliver: add `email = "..."` or '
                                '`deliver = ["markdown"]`', "deliver"))
    if raw.email is not None and not EMAIL.match(raw.email):
        problems.append(Problem(file, "expected an address like ada@example.org", "email",
                                line_of(text, "email")))
    elif raw.email is not None and not raw.email.isascii():
        problems.append(Problem(file, "only ASCII addresses can be sent to (write an "
                                "international domain in its xn-- form)", "email",
                                line_of(text, "email")))
    elif raw.email is not None and not ADDR_SPEC.match(raw.email):
        problems.append(Problem(file, "expected an address like ada@example.org: letters, "
                                "digits, dots and !#$%&'*+/=?^_`{|}~- before the @ (no quotes, "
                                "commas, colons, brackets or parentheses), a host name after it",
                                "email", line_of(text, "email")))
    if "email" in deliver and raw.email is None and "email" not in wrong:
        problems.append(Problem(file, "deliver includes email but no `email = ...` is set",
                                "email", line_of(text, "deliver")))
    if raw.group_by not in GROUP_BY:
        problems.append(Problem(file, f"expected one of {', '.join(map(repr, GROUP_BY))}",
                                "group_by", line_of(text, "group_by")))
    if raw.max_items < 1:
        problems.append(Problem(file, "expected at least 1", "max_items",
                                line_of(text, "max_items")))
    if not 0.0 <= raw.min_score <= 1.0:
        problems.append(Problem(file, "expected a number from 0 to 1 (0.3: loosely related, "
                                "0.7: clearly on topic)", "min_score", line_of(text, "min_score")))
    try:
        parse_duration(raw.backfill)
    except ValueError as exc:
        problems.append(Problem(file, str(exc), "backfill", line_of(text, "backfill")))
    if raw.timezone:
        problems += check_timezone(raw.timezone, file, "timezone", text)
    if raw.schedule:
        problems += _check_schedule(raw.schedule, file, text)
    return problems


def _check_interests(interests: Interests, file: str, text: str, whole: bool = True,
                     at: int = 0) -> list[Problem]:
    problems = []
    if interests.is_empty and whole:
        problems.append(Problem(file, "no interests: add keywords, phrases, a query or like "
                                "examples under [interests]", "interests"))
    from worker.matching.checks import interest_problems

    for key, message in interest_problems(interests):
        line = line_of(text, key.split(".")[0], at)
        if key == "query":
            line = _query_error_line(interests.query or "", text, line)
        problems.append(Problem(file, message, f"interests.{key}", line))
    if interests.exclude_mode not in ("drop", "demote"):
        problems.append(Problem(file, 'expected "drop" or "demote"', "interests.exclude_mode",
                                line_of(text, "exclude_mode", at)))
    for key in ("keywords", "phrases", "exclude", "like", "unlike"):
        if any(not term.strip() for term in getattr(interests, key)):
            problems.append(Problem(file, "empty string in the list", f"interests.{key}",
                                    line_of(text, key, at)))
    problems += _digest_keys(interests, file, text, at)
    return problems


def _digest_keys(interests: Interests, file: str, text: str, at: int = 0) -> list[Problem]:
    """`like = ["paper:45"]`: the key a digest shows names a row of one database, which
    `explain` and `mark` take, but a profile would send it to arXiv as a title."""
    problems = []
    for key in ("like", "unlike"):
        for ref in getattr(interests, key):
            if DIGEST_KEY.match(ref.strip()):
                flag = " --unlike" if key == "unlike" else ""
                # the file is CONFIG/subscribers/NAME.toml: the command must name CONFIG
                mark = command_line(Path(file).parent.parent,
                                    f"mark {Path(file).stem} {ref.strip()}{flag}")
                problems.append(Problem(
                    file, f"{ref.strip()!r} is the key a digest shows, which only `explain` and "
                    f"`mark` take: run `{mark}` instead, or write the paper's arXiv id or exact "
                    "title here",
                    f"interests.{key}", line_of(text, key, at)))
    return problems


def _query_error_line(query: str, text: str, line: int | None) -> int | None:
    """The file's line of a query's syntax error: the query's own line of it counted from
    where the query starts (the line after `query = '''` when it opens on a new line)."""
    from worker.errors import QuerySyntaxError
    from worker.matching.query import parse_query

    if line is None or "\n" not in query:
        return line
    try:
        parse_query(query)
    except QuerySyntaxError as exc:
        opening = text.split("\n")[line - 1].split("=", 1)[-1].strip()  # (TOML's lines)
        return line + exc.located(query)[1] + (opening in ("'''", '"""'))
    return line


def _check_schedule(schedule: str, file: str, text: str) -> list[Problem]:
    try:
        from worker.schedules import parse_schedule
    except ImportError:  # schedules arrive with `serve`; until then any string is kept
        return []
    try:
        parse_schedule(schedule)
    except ValueError as exc:
        return [Problem(file, str(exc), "schedule", line_of(text, "schedule"))]
    return []
