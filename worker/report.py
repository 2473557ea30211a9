"""Human-readable summaries of a pass and of the database state (the CLI prints them).

Every line is passed through `logs.one_line`: file names, URLs and error texts in them come
from outside, and a control or bidi character must not forge a line or move the cursor. And
through `logs.redact`, as log lines are: a source's URL may carry a password
(`https://user:pw@mirror/...`), shown `user:***@` (a cron job mails what `run` prints).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from worker.app import PassReport
from worker.building import SubscriberReport
from worker.config_types import command_line
from worker.examples import unused_lines
from worker.ingest import SourceReport
from worker.logs import one_line as _one_line
from worker.logs import redact
from worker.plaintext import in_words
from worker.readers import ReaderNote
from worker.sending import DeliveryReport, Hold
from worker.settings import Config, Settings
from worker.store import outbox, runs
from worker.store.readers import Wiped

LISTED = 50  # a pass for more subscribers lists only those with something to look at


def one_line(text: str) -> str:
    return _one_line(redact(text))


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "never"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def pass_lines(report: PassReport, settings: Settings) -> list[str]:
    head = "paper-digest run (dry run: nothing sent or recorded)" if report.dry_run else \
        "paper-digest run"
    lines = [f"{head} at {_when(report.now)}", "", "Sources:", *source_lines(report.sources)]
    lines += ["", f"Papers: {report.papers_read} read, {report.new_papers} new.", "",
              "Digests:", *reader_lines(report.readers, settings)]
    sent: dict[str, list[DeliveryReport]] = defaultdict(list)
    for d in report.deliveries:
        sent[d.subscriber_id].append(d)
    # An institute's pass (10,000 subscribers) lists only the subscribers with something to
    # look at, and counts the rest: cron mails a run's output to whoever runs it.
    every = len(report.subscribers) <= LISTED
    # digests held for a cause that is no digest's fault (each cause said once, after the
    # subscribers: a relay down holds every email digest of the pass): counted too
    held = {digest for hold in report.holds.values() for digest in hold.digests}
    routine: Counter[str] = Counter()
    shown = 0
    for sid, sub in report.subscribers.items():
        deliveries = sent.pop(sid, [])
        if not every and not sub.taken and not sub.unknown_examples and all(
                d.status == "sent" or d.digest_id in held for d in deliveries):
            # a digest this pass did not try to send (told to stop first) is not "sent"
            ours = [d for d in deliveries if d.digest_id == sub.digest_id]
            kind = ("empty" if not (sub.digest_id and sub.items) else
                    "held" if sub.digest_id in held else
                    "digests" if ours or report.dry_run else "unsent")
            routine[kind] += 1
            routine[f"{kind} papers"] += sub.items
            # an earlier pass's digests, sent now (it was stopped, or a relay was down)
            earlier = {d.digest_id for d in deliveries} - {sub.digest_id}
            routine["earlier held"] += len(earlier & held)
            routine["earlier"] += len(earlier - held)
            continue
        lines += _subscriber_lines(sid, sub, deliveries)
        shown += 1
    if routine:
        lines.append(_routine_line(routine, shown, report.dry_run, settings,
                                   _held_by(report.holds)))
    for sid, reports in sent.items():  # subscribers this pass did not build digests for
        lines.append(f"  {sid}:")
        lines += [f"    earlier digest: {_sent_line(d)}" for d in reports]
    if report.unbuilt:  # told to stop while digests were built
        lines.append(f"  ({_plural(report.unbuilt, 'subscriber')} left to the next run: "
                     "stopped before their digests were built)")
    if report.not_due:  # `run --due`: they were left out, not missing
        lines.append(f"  ({_plural(report.not_due, 'subscriber')} not due yet: "
                     "their schedules decide when `run --due` builds their digests)")
    elif not report.subscribers and not report.skipped_subscribers and not sent \
            and not report.unsubscribed and not report.readers and not report.unbuilt:
        lines.append(f"  (no enabled subscribers: {len(report.disabled)} disabled)"
                     if report.disabled else f"  (no subscribers: add NAME.toml files to "
                     f"{settings.config_dir / 'subscribers'})")
    lines += _unsubscribed_lines(report.unsubscribed, settings)
    for sid, problems in report.skipped_subscribers.items():
        # what to do next, as every error says: the command that checks the fixed file
        check = command_line(settings.config_dir, "check")
        lines.append(f"  {sid}: SKIPPED, its file has problems (fix them, then `{check}`):")
        lines += [f"    {p}" for p in problems]
    lines += _held_lines(report.holds, settings)
    lines += [f"error: {e}" for e in report.errors]
    return [one_line(line) for line in lines]


def _held_lines(holds: dict[str, Hold], settings: Settings) -> list[str]:
    """A line for each cause that held digests in the pass (each digest says it too, under
    its subscriber, but past LISTED subscribers those lines are thousands)."""
    lines = []
    for cause, hold in holds.items():
        counted = f"{_plural(len(hold.digests), 'digest')} held, pending with no attempt counted"
        if hold.template:
            preview = command_line(settings.config_dir,
                                   f"preview {next(iter(hold.digests.values()))}")
            lines.append(f"error: {cause}: {counted}, until the template is fixed "
                         f"(`{preview}` renders it; the next run sends them)")
        else:  # a folder's first error names its file, which the cause does not
            first = "" if hold.first == cause else f" (the first: {hold.first})"
            lines.append(f"error: {cause}{first}: {counted}, until it is put right (the next "
                         "run sends them)")
    return lines


def _held_by(holds: dict[str, Hold]) -> str:
    """What held the digests a routine line counts as held, as it points to _held_lines."""
    what = "template error" if all(h.template for h in holds.values()) else "error"
    return f"held by the {what}{'s' if len(holds) > 1 else ''} below"


def _routine_line(routine: Counter[str], shown: int, dry_run: bool, settings: Settings,
                  held_by: str) -> str:
    """The subscribers pass_lines counts rather than lists: their digests by what became of
    them (`held_by`: what held some), those with no paper, and an earlier pass's digests
    sent now."""
    kinds = (("digests", "would be sent" if dry_run else "sent"),
             ("unsent", "written, not sent yet"),
             ("held", held_by))
    count = sum(routine[kind] for kind, _ in kinds) + routine["empty"]
    who = f"...and {count} more" if shown else _plural(count, "subscriber")
    said = [f"{_plural(routine[kind], 'digest')} of "
            f"{_plural(routine[f'{kind} papers'], 'paper')} {verb}" for kind, verb in kinds
            if routine[kind] or (kind == "digests" and not (routine["unsent"] or routine["held"]))]
    said.append(f"{routine['empty']} with no paper")
    earlier = [f"{_plural(routine[kind], 'earlier digest')} {verb}"
               for kind, verb in (("earlier", "sent"), ("earlier held", "held")) if routine[kind]]
    if earlier:
        said.append(f"and {' and '.join(earlier)}")
    return (f"  {who}: {', '.join(said)} "
            f"(`{command_line(settings.config_dir, 'subscribers')}` lists each)")


def _unsubscribed_lines(gone: dict[str, datetime], settings: Settings) -> list[str]:
    """The subscribers left out because they unsubscribed: each, or a count past LISTED."""
    if not gone:
        return []
    if len(gone) > LISTED:
        return [f"  ({_plural(len(gone), 'subscriber')} unsubscribed with the link in a "
                f"digest: `{command_line(settings.config_dir, 'subscribers')}` lists them)"]
    return [f"  {sid}: unsubscribed {_when(when)} with the link in a digest, gets none "
            f"(`{command_line(settings.config_dir, f'resubscribe {sid}')}` to send them again)"
            for sid, when in sorted(gone.items())]


def reader_lines(notes: list[ReaderNote], settings: Settings) -> list[str]:
    """What the pass settled about who reads under an id (worker.readers): a line each, or a
    count of each kind past LISTED (a subscribers folder that was not there, say)."""
    by_kind: dict[str, list[ReaderNote]] = defaultdict(list)
    for note in notes:
        by_kind[note.kind].append(note)
    lines = []
    for kind, said in (("afresh", "started afresh as new readers"),
                       ("back", "came back with the address they had: carry on"),
                       ("address", "changed address with their files in place"),
                       ("removed", "had their files removed: their state is kept")):
        some = by_kind.get(kind, [])
        if len(some) > LISTED:
            lines.append(f"  ({_plural(len(some), 'subscriber')} {said})")
        else:
            lines += [_reader_line(note, settings) for note in some]
    return lines


def _reader_line(note: ReaderNote, settings: Settings) -> str:
    def forget(force: str = "") -> str:
        return command_line(settings.config_dir, f"forget {note.id}{force}")

    if note.kind == "removed":
        return (f"  {note.id}: its file is gone: no digests; its state is kept for its return "
                f"(`{forget()}` wipes it)")
    if note.kind == "back":
        return (f"  {note.id}: its file is back with the address it had (gone since "
                f"{_when(note.since)}): carries on where it left off")
    if note.kind == "address":
        return (f"  {note.id}: address changed to {note.address} with its file in place: the "
                f"same reader, its cursor, marks and unsubscribe kept (someone else? "
                f"`{forget(' --force')}`)")
    why = (f"as `forget` asked on {_when(note.since)}" if note.forgotten else
           f"its file came back with another address after it was removed on "
           f"{_when(note.since)}")
    dropped = ""
    if note.wiped is not None and not note.forgotten:  # (forget said what it wiped)
        said = in_words(wiped_words(note.wiped))
        dropped = ((f"; gone with the earlier reader: {said}" if said else "")
                   + "; the links in its digests no longer work")
    return f"  {note.id}: a new reader ({why}): starts afresh{dropped}"


def wiped_words(wiped: Wiped) -> list[str]:
    """What an id's earlier reader left and a fresh start or `forget` removed, in words: each
    kind there was (`2 digests (1 never sent)`, `1 mark`, `its unsubscribe of <when>`)."""
    return [*([_plural(wiped.digests, "digest")
               + (f" ({wiped.unsent} never sent)" if wiped.unsent else "")]
              if wiped.digests else []),
            *([_plural(wiped.marks, "mark")] if wiped.marks else []),
            *([f"its unsubscribe of {_when(wiped.unsubscribed_at)}"]
              if wiped.unsubscribed_at else [])]


def _subscriber_lines(sid: str, sub: SubscriberReport,
                      deliveries: list[DeliveryReport]) -> list[str]:
    """A subscriber's part of the pass: its digest (or why none) and where each went."""
    lines = []
    if sub.taken:
        lines.append(f"  {sid}: built by another run at the same time (its digest has "
                     "what was new)")
    elif sub.digest_id and sub.items:
        # under min_score or past max_items: the count does not tell which
        extra = f", {sub.below_threshold} more ranked lower" if sub.below_threshold else ""
        lines.append(f"  {sid}: {_plural(sub.items, 'paper')}{extra}")
    else:
        said = " (a digest says so: send_empty)" if sub.digest_id else ""
        lines.append(f"  {sid}: nothing new{said}" if sub.candidates == 0 else
                     f"  {sid}: none of {sub.candidates} new papers matched{said}")
    if sub.unknown_examples:
        lines += [f"    {line}" for line in unused_lines(sub.unknown_examples)]
    for d in deliveries:  # this pass's digest, or an older one still pending
        earlier = "" if d.digest_id == sub.digest_id else "earlier digest: "
        lines.append(f"    {earlier}{_sent_line(d)}")
    return lines


def _sent_line(d: DeliveryReport) -> str:
    mark = {"sent": "->", "retry": "NOT SENT (will retry)", "failed": "FAILED"}[d.status]
    return f"{d.channel} {mark} {d.detail}"


def source_lines(reports: list[SourceReport]) -> list[str]:
    lines = []
    for s in reports:
        lines.append(f"  {s.name}: {_plural(s.dumps, 'dump')} read"
                     f"{f', {s.unchanged} unchanged' if s.unchanged else ''}; "
                     f"{_plural(s.entries, 'paper')} listed, {s.new_papers} new, "
                     f"{s.known_papers} already known")
        again = " (same error as the last run)" if s.repeated else ""
        lines += [f"    FAILED {f}{again}" for f in s.failures]
        lines += [f"    WARNING {w}" for w in s.warnings]
        lines += [f"    kept the unreadable response in {path}" for path in s.saved]
    return [one_line(line) for line in lines] or ["  (no sources enabled)"]


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
    return _when(datetime.fromisoformat(text)) if text else "never"


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
                  f"  on: {semantic['model']}, {_plural(semantic['embedded'], 'paper')} "
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
                         f"{_plural(d['attempts'], 'attempt')}{retry}){error}")
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
