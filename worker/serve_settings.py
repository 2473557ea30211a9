"""The `[serve]` table of worker.toml: how the long-running scheduler behaves.

Kept apart from worker.settings so that module only gains a field and one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from worker.config_types import (
    line_of,
    load_table,
    parse_duration,
    section_start,
    table_start,
)
from worker.errors import Problem


@dataclass(frozen=True)
class ServeSettings:
    http_port: int | None = None  # /healthz and /metrics; off unless set
    http_host: str = "0.0.0.0"  # all interfaces: the port is published from a container
    heartbeat: str = "30s"  # how often serve records that it is alive (`health` reads it)
    reload: str = "15s"  # how often config/subscribers/ and worker.toml are checked for edits
    check_every: str = "1m"  # how often due digests and retries are looked for
    fetch_every: str = "1h"  # cadence of sources that set no `every`
    default_schedule: str = "daily 08:00"  # for subscribers without `schedule` (also run --due)
    grace: str = "0s"  # a slot this long before a subscriber first appeared still counts

    def duration(self, key: str) -> timedelta:
        return parse_duration(getattr(self, key))


DURATIONS = ("heartbeat", "reload", "check_every", "grace")


def load_serve(data: dict[str, Any], file: str, text: str,
               ) -> tuple[ServeSettings, list[Problem]]:
    """[serve] from worker.toml's data, and the `every` of each source, checked."""
    from worker.schedules import parse_every, parse_schedule

    table = data.get("serve", {})
    if not isinstance(table, dict):
        return ServeSettings(), [Problem(file, "expected a table: [serve]", "serve")]
    at = section_start(text, "serve")
    serve, problems = load_table(ServeSettings, table, file=file, text=text, prefix="serve.",
                                 after=at)
    serve = serve or ServeSettings()
    for key in DURATIONS:
        try:
            parse_duration(getattr(serve, key))
        except ValueError as exc:
            problems.append(Problem(file, str(exc), f"serve.{key}", line_of(text, key, at)))
    checks = (("fetch_every", parse_every), ("default_schedule", parse_schedule),
              ("check_every", lambda text: parse_schedule(f"every {text}")))
    for key, parse in checks:
        try:
            parse(getattr(serve, key))
        except ValueError as exc:
            problems.append(Problem(file, str(exc), f"serve.{key}", line_of(text, key, at)))
    if serve.http_port is not None and not 0 < serve.http_port < 65536:
        problems.append(Problem(file, "expected a port number from 1 to 65535",
                                "serve.http_port", line_of(text, "http_port", at)))
    raw_sources = data.get("sources", [])
    for index, table in enumerate(raw_sources if isinstance(raw_sources, list) else []):
        every = table.get("every") if isinstance(table, dict) else None
        if isinstance(every, str):  # other types are reported with the source itself
            try:
                parse_every(every)
            except ValueError as exc:
                problems.append(Problem(file, str(exc), f"sources[{index}].every",
                                        line_of(text, "every",
                                                table_start(text, "sources", index) or 0)))
    return serve, problems
