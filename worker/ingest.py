"""The first stage of a pass: read each source and record what it lists.

Each unit a source yields (a file, a response) is recorded in one transaction by
worker.store.papers, or reported as failed with where and why (its raw body kept under
OUTPUT_DIR/failed/ for inspection, but not in a dry run); one source failing, even crashing,
never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from worker.errors import PaperDigestError, as_database_error
from worker.progress import Progress, no_progress
from worker.settings import Settings
from worker.sources import Dump, DumpFailure, SourceContext, SourceWarning, Unchanged, source_class
from worker.store import papers, runs

log = logging.getLogger("paper_digest")
# The error each source last had, as this process logged it, by database and source. An
# operator hears of each distinct error once: when the database first records it, and when
# this process first meets it (after a restart, the log of the new process says why a source
# keeps failing; the database alone would keep it quiet for good), not on every fetch.
_TOLD: dict[tuple[str, str], str] = {}


KEPT_FAILED = 10  # unreadable bodies kept per source, the newest (Ingest._keep_raw)


@dataclass
class SourceReport:
    name: str
    dumps: int = 0
    unchanged: int = 0
    entries: int = 0
    new_papers: int = 0
    known_papers: int = 0
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # read, but something was left out
    repeated: bool = False  # the same error as on the previous run
    saved: list[str] = field(default_factory=list)  # raw bodies kept for inspection


class Ingest:
    """Sources into the store, for one pass: `fetcher` gives the pass's HTTP fetcher (made
    when a source first needs it), `dry_run` keeps everything but the database untouched."""

    def __init__(self, settings: Settings, engine: Engine, now: datetime, *,
                 fetcher: Callable[[], Any], progress: Progress | None = None,
                 dry_run: bool = False):
        self.settings = settings
        self.engine = engine
        self.now = now
        self.fetcher = fetcher
        self.progress = progress or no_progress
        self.dry_run = dry_run

    def sources(self, only: Sequence[str] | None = None) -> list[SourceReport]:
        """Read every enabled source, or those named in `only`: a report for each."""
        chosen = [source for source in self.settings.sources
                  if source.enabled and (only is None or source.name in only)]
        reports = []
        for done, source in enumerate(chosen):
            self.progress("reading sources", done, len(chosen), source.name)
            reports.append(self.source(source))
        self.progress("reading sources", len(chosen), len(chosen), "")
        return reports

    def source(self, source: Any) -> SourceReport:
        """Read one source: each unit it yields recorded (or failed) on its own."""
        report = SourceReport(source.name)
        cls = source_class(source.kind)
        instance = cls(source.name, source.options)
        ctx = SourceContext(now=self.now,
                            is_known=lambda h: papers.is_ingested(self.engine, h),
                            http=self.fetcher() if source.kind != "dump_dir" else None,
                            last_read=runs.source_last_success(self.engine, source.name),
                            listed_before=lambda ids: papers.listed_by(self.engine, source.name,
                                                                       ids))
        try:
            for item in instance.collect(ctx):
                self._take(item, report)
        except PaperDigestError as exc:
            report.failures.append(str(exc))
        except Exception as exc:  # a bug in one source must not stop the others
            clean = as_database_error(exc)
            if clean is not None:  # its transaction rolled back; the next run redoes it
                report.failures.append(str(clean))
            else:
                log.exception("source %s crashed", source.name)
                report.failures.append(f"unexpected error: {type(exc).__name__}: {exc}")
        # (A dry run's engine has no URL; it records nothing, so its errors are all new.)
        told = (str(getattr(self.engine, "url", "")), source.name)
        if report.failures:
            error = "; ".join(report.failures)
            report.repeated = not runs.source_failed(self.engine, source.name, self.now, error)
            if not report.repeated or _TOLD.get(told) != error:
                log.error("source %s failed: %s", source.name, error,
                          extra={"event": "source.failed", "source": source.name})
            _TOLD[told] = error
        else:
            runs.source_ok(self.engine, source.name, self.now)
            _TOLD.pop(told, None)
        return report

    def _take(self, item: Dump | DumpFailure | Unchanged | SourceWarning,
              report: SourceReport) -> None:
        if isinstance(item, Unchanged):
            report.unchanged += 1
        elif isinstance(item, SourceWarning):
            report.warnings.append(str(item))
            log.warning("source %s: %s", item.source, item)
        elif isinstance(item, DumpFailure):
            first = papers.record_failure(self.engine, item, self.now)
            if first and item.raw is not None and not self.dry_run:
                report.saved.append(self._keep_raw(item))
            report.failures.append(str(item))
        else:
            result = papers.ingest_dump(self.engine, item, self.now)
            if result is None:
                report.unchanged += 1
                return
            report.dumps += 1
            report.entries += result.entries
            report.new_papers += result.new_papers
            report.known_papers += result.known_papers
            log.info("ingested %s: %d entries, %d new", item.locator, result.entries,
                     result.new_papers)

    def _keep_raw(self, failure: DumpFailure) -> str:
        """Save what could not be parsed, for inspection, under OUTPUT_DIR/failed/SOURCE/:
        the newest KEPT_FAILED bodies of each source. A source answering with another broken
        body every pass (a hostile or broken mirror, up to the 25 MiB response cap each)
        filled the disk a pass at a time."""
        from worker.delivery.base import write_atomically

        stem = (failure.content_hash or "unhashed")[:16]
        folder = self.settings.output_dir / "failed" / failure.source
        path = folder / f"{stem}.raw"
        try:
            write_atomically(path, failure.raw or b"")
            kept = sorted(folder.glob("*.raw"), key=lambda p: p.stat().st_mtime, reverse=True)
            for old in kept[KEPT_FAILED:]:
                old.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot keep the raw body of %s: %s", failure.locator, exc)
        return str(path)
