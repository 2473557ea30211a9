"""Strict conversion of TOML files and tables into typed dataclasses, collecting every problem.

Each dataclass field is a key users may write; its type hint says what is accepted. Unknown
keys, wrong types and missing required keys become `Problem`s that name the file, the dotted
key, the line where we can find it, and what is expected.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import stat
import types
import typing
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomli  # Python's tomllib as its own package, compiled: ~3x as fast, the same messages

from worker.errors import Problem

T = TypeVar("T")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


# The longest wait, cadence or look-back: beyond it dates leave what Python can hold (a
# `backfill` of 999999d reaches before year 1, `every 3000000d` after year 9999).
MAX_DURATION = timedelta(days=36500)


class DurationTooLong(ValueError):
    """A duration written right, but longer than MAX_DURATION."""


def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `12h`, `7d`, `2w` -> timedelta, at most MAX_DURATION; ValueError
    otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 12h, 7d or 2w")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_DURATION.total_seconds():  # (inf for a number of 309 digits or more)
        raise DurationTooLong(f"{text!r} is too long: at most {MAX_DURATION.days}d (100 years)")
    return timedelta(seconds=seconds)


def duration_problems(values: object, section: str, keys: Sequence[str], least: timedelta,
                      expected: str, *, file: str, text: str, at: int = 0) -> list[Problem]:
    """The problems of a table's duration keys (`[section] key = "7d"`; a key left None is not
    set): one that is no duration, or one shorter than `least` (`expected` says what is)."""
    problems = []
    for key in keys:
        value = getattr(values, key)
        if value is None:
            continue
        try:
            short = parse_duration(value) < least
        except ValueError as exc:
            problems.append(Problem(file, str(exc), f"{section}.{key}", line_of(text, key, at)))
            continue
        if short:
            problems.append(Problem(file, expected, f"{section}.{key}", line_of(text, key, at)))
    return problems


def line_of(text: str, key: str, after: int = 0) -> int | None:
    """Best-effort line of `key = ...`, or else of a `[key]` / `[[key]]` table header, in TOML
    source from offset `after` on (the parser does not report positions)."""
    name = rf"(?:{re.escape(key)}|\"{re.escape(key)}\")"
    for pattern in (rf"^[ \t]*{name}[ \t]*=", rf"^[ \t]*\[\[?[ \t]*{name}[ \t]*[\].]"):
        match = re.compile(pattern, re.MULTILINE).search(text, pos=after)
        if match:
            return text.count("\n", 0, match.start()) + 1
    return None


def header_line(text: str, after: int, prefix: str) -> int | None:
    """The line of the `[table]` or `[[table]]` header at offset `after` that holds the keys
    `prefix` names (`smtp.`, `sources[1].`): where a key it lacks belongs. None when the table
    is not written as a header there (an inline table, the file's top level)."""
    name = prefix.split(".", 1)[0].split("[", 1)[0]
    header = re.compile(rf"[ \t]*\[\[?[ \t]*{re.escape(name)}[ \t]*\]")
    if not name or not header.match(text, after):
        return None
    return text.count("\n", 0, after) + 1


def section_start(text: str, name: str) -> int:
    """The offset of the `[name]` header, where that table's keys are (0: not written so)."""
    match = re.search(rf"^[ \t]*\[[ \t]*{re.escape(name)}[ \t]*\]", text, re.MULTILINE)
    return match.start() if match else 0


def table_start(text: str, name: str, index: int) -> int | None:
    """The offset of the `index`-th `[[name]]` header (0: the first), where the keys of that
    table of an array of tables are; None when it is not written so."""
    headers = list(re.finditer(rf"^[ \t]*\[\[[ \t]*{re.escape(name)}[ \t]*\]\]", text,
                               re.MULTILINE))
    return headers[index].start() if index < len(headers) else None


def describe_type(hint: Any) -> str:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(describe_type(a) for a in args if a is not type(None))
    if origin in (list, tuple):
        return f"a list of {_plural(args[0])}"
    if origin is dict:
        return f"a table of {describe_type(args[1])}"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        hint, getattr(hint, "__name__", str(hint)))


def _plural(hint: Any) -> str:
    return {str: "strings", int: "integers", float: "numbers", bool: "booleans"}.get(
        hint, describe_type(hint))


_SHAPES: dict[Any, tuple[Any, tuple[Any, ...]]] = {}


def _convert(value: Any, hint: Any) -> Any:
    """Value converted to `hint`, or raise TypeError. TOML already gives us native types."""
    shape = _SHAPES.get(hint)
    if shape is None:  # (typing's answers, once a hint: thousands of files use the same few)
        shape = _SHAPES[hint] = typing.get_origin(hint), typing.get_args(hint)
    origin, args = shape
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg)
            except TypeError:
                pass
        raise TypeError
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise TypeError
        items = [_convert(v, args[0]) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise TypeError
        return {str(k): _convert(v, args[1]) for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float) and isinstance(value, bool):
        raise TypeError
    if hint is Any or isinstance(value, hint):
        return value
    raise TypeError


_CLASSES: dict[type, tuple[dict[str, Any], dict[str, dataclasses.Field[Any]]]] = {}


def _keys(cls: type) -> tuple[dict[str, Any], dict[str, dataclasses.Field[Any]]]:
    """A dataclass's type hints and fields, by name. Resolving string annotations compiles
    each one: once per class, not once per file read (a config with thousands of subscriber
    files reads thousands of tables)."""
    if cls not in _CLASSES:
        _CLASSES[cls] = (typing.get_type_hints(cls),
                         {f.name: f for f in dataclasses.fields(cls)})  # type: ignore[arg-type]
    return _CLASSES[cls]


def load_table(cls: type[T], table: Mapping[str, Any], *, file: str, text: str,
               prefix: str = "", skip: frozenset[str] = frozenset(), after: int = 0,
               written: Mapping[str, str | None] | None = None,
               ) -> tuple[T | None, list[Problem]]:
    """Build `cls` from `table`: (the value, []) when all is well; else (what can be built
    with the unknown and wrongly typed keys left at their defaults, problems), so that the
    checks of the rest still run and every problem of a file is reported at once; None when
    a required key is missing or wrong. `skip`: keys read elsewhere (named as supported);
    `after`: where the table starts in `text`, for the lines of its keys; `written`: a field's
    key as the file writes it, where that is another name (`from` for `sender`), or None for
    a field the file may not set (a password, from the environment only): problems name the
    keys a user can write, never the fields behind them."""
    if not isinstance(table, Mapping):  # `email = []`, `matching = 3`: a crash of `check`
        name = prefix.rstrip(".") or cls.__name__
        return None, [Problem(file, f"expected a table: [{name}]", name,
                              line_of(text, name.rsplit(".", 1)[-1], after))]
    hints, fields = _keys(cls)
    as_written = {name: (written or {}).get(name, name) for name in fields}
    by_key = {key: name for name, key in as_written.items() if key is not None}
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if key in skip:
            continue
        if key not in by_key:
            names = sorted({*skip, *(k for k in by_key if not k.startswith("_"))})
            problems.append(Problem(file, f"unknown key;{_did_you_mean(key, names)} supported: "
                                    f"{', '.join(names)}", dotted, line_of(text, key, after)))
            continue
        name = by_key[key]
        try:
            values[name] = _convert(value, hints[name])
        except TypeError:
            problems += _type_problems(value, hints[name], file, dotted, line_of(text, key, after))
    missing = False
    for name, field in fields.items():
        required = (field.default is dataclasses.MISSING
                    and field.default_factory is dataclasses.MISSING)
        if required and name not in values:
            missing = True
            key = as_written[name] or name
            if key not in table:
                problems.append(Problem(file, f"missing; add `{key} = ...` "
                                        f"({describe_type(hints[name])})", f"{prefix}{key}",
                                        header_line(text, after, prefix)))
    return (None if missing else cls(**values)), problems


def _did_you_mean(key: str, names: Sequence[str]) -> str:
    """` did you mean `min_score`?` for a key a letter or two from a supported one."""
    from difflib import get_close_matches

    close = get_close_matches(key.lower(), names, n=1, cutoff=0.75)
    return f" did you mean `{close[0]}`?" if close else ""


def _type_problems(value: Any, hint: Any, file: str, dotted: str, line: int | None,
                   ) -> list[Problem]:
    """What is wrong with a value of the wrong type: for a table of values (`synonyms`),
    each entry that is wrong, by its own key, rather than the whole table."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is dict and isinstance(value, Mapping):
        wrong = []
        for key, item in value.items():
            try:
                _convert(item, args[1])
            except TypeError:
                wrong.append(Problem(file, f"expected {describe_type(args[1])}, got "
                                     f"{type(item).__name__} {item!r}", f"{dotted}.{key}", line))
        if wrong:
            return wrong
    return [Problem(file, f"expected {describe_type(hint)}, got {type(value).__name__} "
                    f"{value!r}", dotted, line)]


# The largest config file read: a profile with thousands of keywords is a few hundred KiB.
MAX_TOML_BYTES = 1024 * 1024


class NotAFile(OSError):
    """A path to read as a config file that is no regular file (a device, a pipe)."""


def _read_capped(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_TOML_BYTES. Subscriber files may come from
    a repository subscribers commit to, and a link there can point anywhere: to /dev/zero
    (read until memory ran out) or to a pipe (a read that never returns), which stopped a
    run, and serve's reload, for everyone. Opened without blocking, checked after opening
    (what is checked is what is read), and read no further than the cap."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotAFile("not a regular file")
        # Asked for the cap, a read makes a buffer of that size first: ~50 us a small file.
        # The size the file says it has, then the rest (one that grew, or says 0 as /proc's do).
        data = handle.read(min(info.st_size, MAX_TOML_BYTES) + 1)
        if len(data) > info.st_size:
            data += handle.read(MAX_TOML_BYTES + 1 - len(data))
    if len(data) > MAX_TOML_BYTES:
        raise NotAFile(f"larger than {MAX_TOML_BYTES // (1024 * 1024)} MiB: not read")
    return data


def read_toml(path: Path) -> tuple[dict[str, Any] | None, str, list[Problem]]:
    """A TOML file's table and text, or None and the problems that stop it being read."""
    try:
        data = _read_capped(path)
    except NotAFile as exc:
        return None, "", [Problem(str(path), str(exc))]
    except FileNotFoundError:  # worker.toml (a subscriber file is read as it is listed)
        init = command_line(path.parent, "init") if path.name == "worker.toml" else None
        return None, "", [Problem(str(path), f"file not found; `{init}` writes one" if init
                                  else "file not found")]
    except OSError as exc:
        return None, "", [Problem(str(path), f"cannot read: {exc.strerror or exc}")]
    try:
        text = data.decode("utf-8-sig")  # a byte order mark (Windows editors) is not content
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, "", [Problem(str(path), f"not UTF-8 (byte 0x{data[exc.start]:02x}): save "
                                  "the file as UTF-8", line=line)]
    try:
        return tomli.loads(text), text, []
    except tomli.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        return None, text, [Problem(str(path), f"invalid TOML: {exc}",
                                    line=int(match.group(1)) if match else None)]
    except RecursionError:  # valid TOML, but arrays or tables deeper than the parser goes
        return None, text, [Problem(str(path), "invalid TOML: arrays or tables nested too "
                                    "deeply to read")]


def check_timezone(name: str, file: str, key: str, text: str) -> list[Problem]:
    """The problem with a time zone's name (worker.toml's or a subscriber's), if any."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a directory of
        # the time zone database, a name too long for a file name is refused by the system
        return [Problem(file, f"unknown time zone {name!r}; use an IANA name such as "
                        "'Europe/Berlin' or 'UTC'", key, line_of(text, key.rsplit(".")[-1]))]
    return []


def command_line(config_dir: Path | str, words: str) -> str:
    """`paper-digest WORDS` as it has to be typed for the config in `config_dir`: with
    `--config DIR` unless DIR is where a bare `paper-digest` looks ($PAPER_DIGEST_CONFIG, else
    ./config). A hint that names a command without it, given to someone working with
    `--config mine` (as README's first steps are), would act on another config or find no such
    subscriber."""
    if Path(config_dir) == Path(os.environ.get("PAPER_DIGEST_CONFIG") or "config"):
        return f"paper-digest {words}"
    return f"paper-digest --config {shlex.quote(str(config_dir))} {words}"
