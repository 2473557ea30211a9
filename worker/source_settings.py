"""worker.toml's [[sources]]: each source's name, kind and options, checked as strictly as the
rest of the file (worker.settings), every problem at the source's own lines."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from worker.config_types import line_of, load_table, table_start
from worker.errors import Problem

SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")  # not "$": it takes a last "\n"
_SOURCE_COMMON = frozenset({"name", "kind", "enabled", "every"})


@dataclass(frozen=True)
class SourceSettings:
    name: str
    kind: str
    options: Any
    enabled: bool = True
    every: str | None = None  # fetch cadence for `serve`


def load_sources(raw: Any, file: str, text: str) -> tuple[list[SourceSettings], list[Problem]]:
    """The [[sources]], each name once."""
    sources, names, problems = [], set(), []
    for index, table in enumerate(raw if isinstance(raw, list) else [None]):
        source, source_problems = _load_source(index, table, file, text)
        problems += source_problems
        if source and source.name in names:
            start = table_start(text, "sources", index) or 0
            problems.append(Problem(file, f"duplicate source name {source.name!r}",
                                    f"sources[{index}].name", line_of(text, "name", start)))
        elif source:
            names.add(source.name)
            sources.append(source)
    return sources, problems


def _load_source(index: int, table: Any, file: str, text: str
                 ) -> tuple[SourceSettings | None, list[Problem]]:
    from worker.sources import KINDS, source_class

    where = f"sources[{index}]"
    if not isinstance(table, dict):
        return None, [Problem(file, "expected a [[sources]] table", where)]
    found = table_start(text, "sources", index)
    start = found or 0  # this source's keys are found from here on
    header = None if found is None else text.count("\n", 0, found) + 1
    name, kind = table.get("name"), table.get("kind")
    problems = []
    if name is None:
        problems.append(Problem(file, 'missing; add `name = "..."` (letters, digits, '
                                "'.', '_' or '-')", f"{where}.name", header))
    elif not isinstance(name, str) or not SOURCE_NAME.match(name):
        problems.append(Problem(file, "expected a name of letters, digits, '.', '_' or '-'",
                                f"{where}.name", line_of(text, "name", start)))
    if kind is None:
        problems.append(Problem(file, f"missing; add `kind = ...`, one of {', '.join(KINDS)}",
                                f"{where}.kind", header))
    elif not isinstance(kind, str) or kind not in KINDS:  # (a table or array is unhashable)
        problems.append(Problem(file, f"unknown kind {kind!r}; supported: "
                                f"{', '.join(KINDS)}", f"{where}.kind",
                                line_of(text, "kind", start)))
    if problems or not isinstance(name, str) or not isinstance(kind, str):
        return None, problems
    cls = source_class(kind)
    options, problems = load_table(cls.Options, table, file=file, text=text,
                                   prefix=f"{where}.", skip=_SOURCE_COMMON, after=start)
    if options is not None:
        problems += [Problem(file, msg, f"{where}.{key}", line_of(text, key, start))
                     for key, msg in cls.check_options(options)]
    enabled, every = table.get("enabled", True), table.get("every")
    if not isinstance(enabled, bool):
        problems.append(Problem(file, "expected true or false", f"{where}.enabled",
                                line_of(text, "enabled", start)))
    if every is not None and not isinstance(every, str):
        problems.append(Problem(file, 'expected a string such as "1h" or "*/30 * * * *"',
                                f"{where}.every", line_of(text, "every", start)))
    if problems:
        return None, problems
    return SourceSettings(name, kind, options, enabled, every), []
