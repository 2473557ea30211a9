"""Prometheus text exposition for serve's /metrics, without a client library.

Why no prometheus-client: the figures that matter (papers, digests per channel and status,
last successful run) live in the database, so they survive restarts and add up across
replicas; we read them per scrape. What is per process (source errors, job runs) is a handful
of counters below. The text format is a few lines of code; one dependency fewer in the image.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worker.ingest import SourceReport
    from worker.settings import Config
    from worker.store.metrics import Figures

Labels = tuple[tuple[str, str], ...]
HELP = {
    "paper_digest_papers_seen_total": ("counter", "Paper entries listed in ingested dumps."),
    "paper_digest_papers_new_total": ("counter", "Entries that were papers never seen before."),
    "paper_digest_papers_stored": ("gauge", "Distinct papers in the database."),
    "paper_digest_dumps_failed_total": ("counter", "Dumps and source responses that could not "
                                        "be read or parsed, each once."),
    "paper_digest_digests_total": ("counter", "Digest deliveries sent, by channel."),
    "paper_digest_deliveries": ("gauge", "Digest deliveries by channel in each state that can "
                                "change: pending (to send or retry), failed (given up)."),
    "paper_digest_last_successful_run_timestamp_seconds": (
        "gauge", "When a pass last finished without problems."),
    "paper_digest_source_last_success_timestamp_seconds": (
        "gauge", "When each source was last read without error."),
    "paper_digest_source_failing": ("gauge", "1 while a source's last read failed."),
    "paper_digest_source_errors_total": ("counter", "Source and dump failures seen by this "
                                         "process."),
    "paper_digest_job_runs_total": ("counter", "Scheduler job runs by job and outcome."),
    "paper_digest_heartbeat_timestamp_seconds": ("gauge", "This process's last heartbeat."),
    "paper_digest_subscribers": ("gauge", "Subscribers by state (active, broken, disabled, "
                                 "unsubscribed)."),
    "paper_digest_up": ("gauge", "1 when the database answered this scrape."),
}


class Metrics:
    """Per-process counters, safe to bump from scheduler threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, Labels], float] = {}
        self.last_beat: datetime | None = None

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def observe_sources(self, reports: Iterable[SourceReport]) -> None:
        for source in reports:
            if source.failures:
                self.inc("paper_digest_source_errors_total", len(source.failures),
                         source=source.name)

    def samples(self) -> list[tuple[str, Labels, float]]:
        with self._lock:
            items = list(self._values.items())
        return [(name, labels, value) for (name, labels), value in items]


def db_samples(figures: Figures) -> list[tuple[str, Labels, float]]:
    out: list[tuple[str, Labels, float]] = [
        ("paper_digest_papers_seen_total", (), figures.listed),
        ("paper_digest_papers_new_total", (), figures.new),
        ("paper_digest_papers_stored", (), figures.papers),
        ("paper_digest_dumps_failed_total", (), figures.failed_dumps),
    ]
    out += delivery_samples(figures.deliveries)
    if figures.last_ok_run:
        out.append(("paper_digest_last_successful_run_timestamp_seconds", (),
                    figures.last_ok_run.timestamp()))
    for source in figures.sources:
        labels = (("source", source.name),)
        if source.last_success_at:
            out.append(("paper_digest_source_last_success_timestamp_seconds", labels,
                        source.last_success_at.timestamp()))
        out.append(("paper_digest_source_failing", labels, 1 if source.error_since else 0))
    return out


def delivery_samples(deliveries: dict[tuple[str, str], int]) -> list[tuple[str, Labels, float]]:
    """Sent deliveries as a counter; pending and failed ones as a gauge of their own.

    Why two families: a delivery leaves `pending` when it is sent, and `failed` when `retry`
    puts it back, so those counts go down, which Prometheus reads as a counter's reset (rate()
    and increase() then invent sends). Only `sent` is final. Every channel seen gets all three
    series, 0 included, so an alert on `paper_digest_deliveries{status="failed"} > 0` and a
    rate of sends never read a missing series."""
    out: list[tuple[str, Labels, float]] = []
    for channel in sorted({channel for channel, _ in deliveries}):
        out.append(("paper_digest_digests_total", (("channel", channel), ("status", "sent")),
                    deliveries.get((channel, "sent"), 0)))
        for status in ("pending", "failed"):
            out.append(("paper_digest_deliveries", (("channel", channel), ("status", status)),
                        deliveries.get((channel, status), 0)))
    return out


def config_samples(config: Config, unsubscribed: Collection[str] | None = None,
                   ) -> list[tuple[str, Labels, float]]:
    """Subscribers by state; `unsubscribed` (who left with a digest's link, from the
    database: None when it does not answer) are counted apart from the active ones."""
    gone = sum(p.id in unsubscribed for p in config.profiles) if unsubscribed else 0
    counts = [("active", len(config.profiles) - gone), ("broken", len(config.broken)),
              ("disabled", len(config.disabled))]
    if unsubscribed is not None:
        counts.append(("unsubscribed", gone))
    return [("paper_digest_subscribers", (("state", state),), float(count))
            for state, count in counts]


def render(samples: Iterable[tuple[str, Labels, float]]) -> str:
    """The Prometheus text format (version 0.0.4): HELP and TYPE once per metric family."""
    families: dict[str, list[str]] = {}
    for name, labels, value in samples:
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
        families.setdefault(name, []).append(
            f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}")
    lines = []
    for name, rows in families.items():
        kind, help_text = HELP.get(name, ("untyped", name))
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *rows]
    return "\n".join(lines) + "\n"


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
