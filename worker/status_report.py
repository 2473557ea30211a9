"""`paper-digest status` and `subscribers`: the database's state (runs, sources, each
subscriber's last digest, pending and failed deliveries), as plain data (`--json`) and as the
lines the CLI prints. Every line goes through worker.report.one_line, as a pass's summary does:
an error text recorded from outside must not forge a line.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from worker.plaintext import plural
from worker.report import one_line, when_text
from worker.settings import Config
from worker.store import outbox, runs


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def status_data(config: Config, engine: Engine) -> dict[str, Any]:
    """Runs, sources and subscribers, as plain data (`status --json` prints this)."""
    states = {s.name: s for s in runs.source_states(engine)}
    sources = []
    for source in config.settings.sources:
        state = states.get(source.name)
        sources.append({
            "name": source.name, "kind": source.kind, "enabled": source.enabled,
            "last_success": _iso(state.last_success_at) if state else None,
            "error": state.last_error if state else None,
            "error_since": _iso(state.error_since) if state else None})
    data = {
        "runs": [{"id": r.id, "kind": r.kind, "started": _iso(r.started_at),
                  "finished": _iso(r.finished_at), "status": r.status, "stats": r.stats,
                  "error": r.error} for r in runs.recent_runs(engine)],
        "sources": sources,
        "subscribers": subscribers_data(config, engine),
    }
    if config.settings.matching.semantic:  # only when asked for: status stays as it was
        data["semantic"] = semantic_data(engine)
    return data


def semantic_data(engine: Engine) -> dict[str, Any]:
    """`[matching] semantic = true`: whether its extra is installed (else why not and the fix),
    and how many papers have stored vectors."""
    from worker.matching.minilm import MODEL, missing
    from worker.store.embeddings import embedding_counts

    return {"model": MODEL, "problem": missing(),
            "embedded": embedding_counts(engine).get(MODEL, (0, 0))[0]}


def subscribers_data(config: Config, engine: Engine) -> list[dict[str, Any]]:
    """Per subscriber: channels, schedule, last digest sent, pending and failed deliveries."""
    from worker.store.readers import removed_since
    from worker.store.subscriptions import unsubscribed

    last = outbox.last_sent(engine)
    gone = unsubscribed(engine)
    removed = removed_since(engine)
    open_states: dict[str, list[Any]] = defaultdict(list)
    for state in outbox.delivery_states(engine, statuses=("pending", "failed")):
        open_states[state.subscriber_id].append(state)
    rows = []
    profiles = {p.id: p for p in config.profiles}
    ids = [*profiles, *sorted(config.broken), *sorted(config.disabled)]
    for sid in ids + sorted(set(open_states) - set(ids)):
        profile = profiles.get(sid)
        rows.append({
            "id": sid,
            "state": ("unsubscribed" if sid in gone else "ok") if profile else
            "broken" if sid in config.broken else
            "disabled" if sid in config.disabled else "removed",
            # when its reader unsubscribed with a digest's link (`resubscribe` undoes it)
            "unsubscribed": _iso(gone.get(sid)),
            # when a pass (or serve) found its file gone (worker.readers); None while there
            "removed": _iso(removed.get(sid)) if profile is None else None,
            "email": profile.email if profile else None,
            "deliver": list(profile.deliver) if profile else [],
            # its own, else [serve] default_schedule (serve, run --due); a plain run: always
            "schedule": (profile.schedule or config.settings.serve.default_schedule
                         if profile else None),
            "schedule_is_default": bool(profile and not profile.schedule),
            # the zone its schedule's times are in: its own, else worker.toml's
            "timezone": (profile.timezone or config.settings.timezone) if profile else None,
            "last_sent": _iso(last.get(sid)),
            "pending": [_delivery(s) for s in open_states[sid] if s.status == "pending"],
            "failed": [_delivery(s) for s in open_states[sid] if s.status == "failed"],
        })
    return rows


def _delivery(state: Any) -> dict[str, Any]:
    return {"digest": state.digest_id, "channel": state.channel, "attempts": state.attempts,
            "created": _iso(state.created_at), "next_attempt": _iso(state.next_attempt_at),
            "error": state.last_error, "items": state.item_count}


def _when_iso(text: str | None) -> str:
    return when_text(datetime.fromisoformat(text)) if text else "never"


def status_lines(data: dict[str, Any]) -> list[str]:
    lines = ["Runs:"]
    for run in data["runs"]:
        stats = ", ".join(f"{k} {v}" for k, v in run["stats"].items() if v)
        finished = f" to {_when_iso(run['finished'])}" if run["finished"] else ""
        lines.append(f"  #{run['id']} {run['kind']} {_when_iso(run['started'])}{finished}: "
                     f"{run['status']}{f' ({stats})' if stats else ''}"
                     f"{' - ' + run['error'] if run['error'] else ''}")
    lines += ["", "Sources:"]
    for source in data["sources"]:
        line = f"  {source['name']} ({source['kind']}): last success " \
               f"{_when_iso(source['last_success'])}"
        if source["error"]:
            line += f"; ERROR since {_when_iso(source['error_since'])}: {source['error']}"
        lines.append(line)
    if "semantic" in data:
        semantic = data["semantic"]
        lines += ["", "Semantic matching ([matching] semantic = true):",
                  f"  NOT IN USE: {semantic['problem']}" if semantic["problem"] else
                  f"  on: {semantic['model']}, {plural(semantic['embedded'], 'paper')} "
                  "embedded"]
    lines += ["", "Subscribers:"]
    for row in data["subscribers"]:
        lines.append(f"  {row['id']}{_state_note(row)}: last digest sent "
                     f"{_when_iso(row['last_sent'])}; "
                     f"{len(row['pending'])} pending, {len(row['failed'])} failed")
        held = {"removed": "its file is gone", "disabled": "it is disabled",
                "broken": "its file has problems",
                "unsubscribed": "its reader is unsubscribed"}.get(row["state"])
        for d in row["pending"]:
            retry = (f", held while {held}" if held else  # (a digest held for the relay
                     f", next try {_when_iso(d['next_attempt'])}"  # has an error, no attempt)
                     if d["attempts"] or d["error"] else "")
            error = f": {d['error']}" if d["error"] else ""
            lines.append(f"    pending digest {d['digest']} ({d['channel']}, "
                         f"{plural(d['attempts'], 'attempt')}{retry}){error}")
        lines += [f"    failed digest {d['digest']} ({d['channel']}): {d['error']}"
                  for d in row["failed"]]
    return [one_line(line) for line in lines]


def _state_note(row: dict[str, Any]) -> str:
    """` (disabled)`, ` (unsubscribed 2026-12-07 09:30 UTC)`, ` (removed ...)`; nothing for a
    subscriber ok."""
    if row["state"] == "unsubscribed":
        return f" (unsubscribed {_when_iso(row['unsubscribed'])})"
    if row["state"] == "removed" and row.get("removed"):
        return f" (removed {_when_iso(row['removed'])})"
    return "" if row["state"] == "ok" else f" ({row['state']})"


def subscribers_lines(rows: list[dict[str, Any]]) -> list[str]:
    header = ("SUBSCRIBER", "CHANNELS", "SCHEDULE", "LAST DIGEST", "PENDING", "FAILED")
    table = [header] + [(
        r["id"] + _state_note(r),
        ",".join(r["deliver"]) or "-",
        "-" if not r["schedule"] else f"{r['schedule']} {r['timezone']}"
        + (" (default)" * r["schedule_is_default"]),
        _when_iso(r["last_sent"]), str(len(r["pending"])), str(len(r["failed"])))
        for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return [one_line("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
            for row in table]
