"""Telling the log that the database stopped answering, once, and that it answers again.

serve reads the database for every /metrics scrape and every feedback link it answers. While
the database is down each of those fails, and a line with SQLAlchemy's traceback for each (a
scrape every 15 s, 6 KB each) buries the one fact in the log, which the README promises
never shows a traceback for a database outage. A watch logs the outage's one line (the
driver's first line: worker.errors) when it starts or its reason changes, and one line when
the database answers again; metrics (paper_digest_up) count each failed read meanwhile.
"""

from __future__ import annotations

import logging
import threading

from worker.errors import as_database_error


class DatabaseWatch:
    """The database as one reader (`what`: "metrics", "feedback") last found it. Called from
    the HTTP server's threads, so its state changes under a lock."""

    def __init__(self, log: logging.Logger, what: str):
        self.log, self.what = log, what
        self._lock = threading.Lock()
        self._down: str | None = None  # the reason it failed last, while it fails

    def failed(self, exc: BaseException) -> None:
        """A read failed with `exc`: logged when the database was answering until now, or
        failed for another reason. An error that is not the database's is a bug: its
        traceback is logged, but no more often."""
        clean = as_database_error(exc)
        reason = str(clean) if clean is not None else f"{type(exc).__name__}: {exc}"
        with self._lock:
            if reason == self._down:
                return
            self._down = reason
        self.log.warning("%s: database unreachable: %s", self.what, reason,
                         exc_info=exc if clean is None else None,
                         extra={"event": "database.down", "by": self.what})

    def answered(self) -> None:
        """A read succeeded: logged when it failed before."""
        with self._lock:
            was, self._down = self._down, None
        if was is not None:
            self.log.info("%s: database answers again", self.what,
                          extra={"event": "database.up", "by": self.what})


class FailingJobs:
    """serve's jobs that fail on the database now, with the reason each failed for last. A
    job runs again on its cadence while the database is away, and each turn failed with the
    same error line: at the default cadences an hour's outage was 120 heartbeat lines, 60 of
    the digest check and more, burying what else the log said. A job's failure is said when
    it starts failing, or fails for another reason; its repeats are debug; when it works
    again one line says so."""

    def __init__(self, log: logging.Logger):
        self.log = log
        self._lock = threading.Lock()
        self._failing: dict[str, tuple[str, int]] = {}  # job -> (reason, failures in a row)

    def failed(self, job: str, reason: str) -> bool:
        """The job failed on the database for `reason`: True when that is news to say."""
        with self._lock:
            said, count = self._failing.get(job, (None, 0))
            self._failing[job] = (reason, count + 1)
            return reason != said

    def worked(self, job: str) -> None:
        with self._lock:
            failing = self._failing.pop(job, None)
        if failing is not None:
            self.log.info("job %s works again (it failed %d time(s) in a row: %s)", job,
                          failing[1], failing[0], extra={"event": "job.recovered", "job": job})
