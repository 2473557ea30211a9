"""Human-readable summaries of a pass and of the database state (the CLI prints them)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from worker.app import PassReport, SourceReport
from worker.settings import Config, Settings
from worker.store import outbox, runs


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "never"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def pass_lines(report: PassReport, settings: Settings) -> list[str]:
    head = "paper-digest run (dry run: nothing sent or recorded)" if report.dry_run else \
        "paper-digest run"
    lines = [f"{head} at {_when(report.now)}", "", "Sources:", *source_lines(report.sources)]
    lines += ["", f"Papers: {report.papers_read} read, {report.new_papers} new.", "",
              "Digests:"]
    sent: dict[str, list[str]] = defaultdict(list)
    for d in report.deliveries:
        mark = {"sent": "->", "retry": "NOT SENT (will retry)", "failed": "FAILED"}[d.status]
        sent[d.subscriber_id].append(f"{d.channel} {mark} {d.detail}")
    for sid, sub in report.subscribers.items():
        if sub.digest_id:
            extra = f", {sub.below_threshold} more below threshold" if sub.below_threshold else ""
            lines.append(f"  {sid}: {_plural(sub.items, 'paper')}{extra}")
        elif sid not in sent:
            lines.append(f"  {sid}: nothing new" if sub.candidates == 0 else
                         f"  {sid}: none of {sub.candidates} new papers matched")
        lines += [f"    {entry}" for entry in sent.pop(sid, [])]
    for sid, entries in sent.items():  # older pending digests sent in this pass
        lines.append(f"  {sid}: earlier digest")
        lines += [f"    {entry}" for entry in entries]
    for sid, problems in report.skipped_subscribers.items():
        lines.append(f"  {sid}: SKIPPED, its file has problems:")
        lines += [f"    {p}" for p in problems]
    lines += [f"error: {e}" for e in report.errors]
    return lines


def source_lines(reports: list[SourceReport]) -> list[str]:
    lines = []
    for s in reports:
        lines.append(f"  {s.name}: {_plural(s.dumps, 'dump')} read"
                     f"{f', {s.unchanged} unchanged' if s.unchanged else ''}; "
                     f"{_plural(s.entries, 'paper')} listed, {s.new_papers} new, "
                     f"{s.known_papers} already known")
        again = " (same error as the last run)" if s.repeated else ""
        lines += [f"    FAILED {f}{again}" for f in s.failures]
        lines += [f"    kept the unreadable response in {path}" for path in s.saved]
    return lines or ["  (no sources enabled)"]


def status_lines(config: Config, engine: Engine) -> list[str]:
    lines = ["Runs:"]
    for run in runs.recent_runs(engine):
        stats = ", ".join(f"{k} {v}" for k, v in run.stats.items() if v)
        lines.append(f"  #{run.id} {run.kind} {_when(run.started_at)}: {run.status}"
                     f"{f' ({stats})' if stats else ''}{f' - {run.error}' if run.error else ''}")
    lines += ["", "Sources:"]
    states = {s.name: s for s in runs.source_states(engine)}
    for source in config.settings.sources:
        state = states.get(source.name)
        line = f"  {source.name} ({source.kind}): last success " \
               f"{_when(state.last_success_at if state else None)}"
        if state and state.last_error:
            line += f"; ERROR since {_when(state.error_since)}: {state.last_error}"
        lines.append(line)
    lines += ["", "Subscribers:"]
    lines += _subscriber_lines(config, engine)
    return lines


def _subscriber_lines(config: Config, engine: Engine) -> list[str]:
    last = outbox.last_sent(engine)
    open_states = outbox.delivery_states(engine, statuses=("pending", "failed"))
    by_sub: dict[str, list[Any]] = defaultdict(list)
    for state in open_states:
        by_sub[state.subscriber_id].append(state)
    lines = []
    ids = [p.id for p in config.profiles] + sorted(config.broken)
    for sid in ids + sorted(set(by_sub) - set(ids)):
        pending = [s for s in by_sub[sid] if s.status == "pending"]
        failed = [s for s in by_sub[sid] if s.status == "failed"]
        note = " (file has problems)" if sid in config.broken else ""
        lines.append(f"  {sid}{note}: last digest sent {_when(last.get(sid))}; "
                     f"{len(pending)} pending, {len(failed)} failed")
        for s in pending:
            retry = f", next try {_when(s.next_attempt_at)}" if s.attempts else ""
            error = f": {s.last_error}" if s.last_error else ""
            lines.append(f"    pending digest {s.digest_id} ({s.channel}, "
                         f"{_plural(s.attempts, 'attempt')}{retry}){error}")
        lines += [f"    failed digest {s.digest_id} ({s.channel}): {s.last_error}"
                  for s in failed]
    return lines
