"""Human-readable summaries of a pass and of the database state (the CLI prints them).

Every line is passed through `logs.one_line`: file names, URLs and error texts in them come
from outside, and a control or bidi character must not forge a line or move the cursor. And
through `logs.redact`, as log lines are: a source's URL may carry a password
(`https://user:pw@mirror/...`), shown `user:***@` (a cron job mails what `run` prints).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

from worker.app import PassReport
from worker.building import SubscriberReport
from worker.config_types import command_line
from worker.examples import unused_lines
from worker.ingest import SourceReport
from worker.logs import one_line as _one_line
from worker.logs import redact
from worker.plaintext import in_words, plural
from worker.readers import ReaderNote
from worker.sending import DeliveryReport, Hold
from worker.settings import Settings
from worker.store.models import DeliveryState
from worker.store.readers import Wiped

LISTED = 50  # a pass for more subscribers lists only those with something to look at


def one_line(text: str) -> str:
    return _one_line(redact(text))


def when_text(moment: datetime | None) -> str:
    """A moment as summaries say it, to the minute in UTC; `never` for none."""
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "never"


def pass_lines(report: PassReport, settings: Settings) -> list[str]:
    head = "paper-digest run (dry run: nothing sent or recorded)" if report.dry_run else \
        "paper-digest run"
    lines = [f"{head} at {when_text(report.now)}", "", "Sources:", *source_lines(report.sources)]
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
        lines.append(f"  ({plural(report.unbuilt, 'subscriber')} left to the next run: "
                     "stopped before their digests were built)")
    if report.waiting:  # `run --due`: pending, kept for their retry time
        lines.append(_waiting_line(report.waiting))
    if report.not_due:  # `run --due`: they were left out, not missing
        lines.append(f"  ({plural(report.not_due, 'subscriber')} not due yet: "
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
        counted = f"{plural(len(hold.digests), 'digest')} held, pending with no attempt counted"
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


def _waiting_line(waiting: list[DeliveryState]) -> str:
    """The deliveries a pass that keeps back-off left pending, in one line: how many, and the
    first of them with its retry time and why it is pending."""
    first = waiting[0]
    why = f": {first.last_error}" if first.last_error else ""
    its = "its" if len(waiting) == 1 else "their"
    return (f"  ({plural(len(waiting), 'earlier digest')} pending, not tried before {its} retry "
            f"time: the first, {first.subscriber_id}'s {first.channel}, after "
            f"{when_text(first.next_attempt_at)}{why})")


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
    who = f"...and {count} more" if shown else plural(count, "subscriber")
    said = [f"{plural(routine[kind], 'digest')} of "
            f"{plural(routine[f'{kind} papers'], 'paper')} {verb}" for kind, verb in kinds
            if routine[kind] or (kind == "digests" and not (routine["unsent"] or routine["held"]))]
    said.append(f"{routine['empty']} with no paper")
    earlier = [f"{plural(routine[kind], 'earlier digest')} {verb}"
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
        return [f"  ({plural(len(gone), 'subscriber')} unsubscribed with the link in a "
                f"digest: `{command_line(settings.config_dir, 'subscribers')}` lists them)"]
    return [f"  {sid}: unsubscribed {when_text(when)} with the link in a digest, gets none "
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
            lines.append(f"  ({plural(len(some), 'subscriber')} {said})")
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
                f"{when_text(note.since)}): carries on where it left off")
    if note.kind == "address":
        return (f"  {note.id}: address changed to {note.address} with its file in place: the "
                f"same reader, its cursor, marks and unsubscribe kept (someone else? "
                f"`{forget(' --force')}`)")
    why = (f"as `forget` asked on {when_text(note.since)}" if note.forgotten else
           f"its file came back with another address after it was removed on "
           f"{when_text(note.since)}")
    dropped = ""
    if note.wiped is not None and not note.forgotten:  # (forget said what it wiped)
        said = in_words(wiped_words(note.wiped))
        dropped = ((f"; gone with the earlier reader: {said}" if said else "")
                   + "; the links in its digests no longer work")
    return f"  {note.id}: a new reader ({why}): starts afresh{dropped}"


def wiped_words(wiped: Wiped) -> list[str]:
    """What an id's earlier reader left and a fresh start or `forget` removed, in words: each
    kind there was (`2 digests (1 never sent)`, `1 mark`, `its unsubscribe of <when>`)."""
    return [*([plural(wiped.digests, "digest")
               + (f" ({wiped.unsent} never sent)" if wiped.unsent else "")]
              if wiped.digests else []),
            *([plural(wiped.marks, "mark")] if wiped.marks else []),
            *([f"its unsubscribe of {when_text(wiped.unsubscribed_at)}"]
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
        lines.append(f"  {sid}: {plural(sub.items, 'paper')}{extra}")
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
        lines.append(f"  {s.name}: {plural(s.dumps, 'dump')} read"
                     f"{f', {s.unchanged} unchanged' if s.unchanged else ''}; "
                     f"{plural(s.entries, 'paper')} listed, {s.new_papers} new, "
                     f"{s.known_papers} already known")
        again = " (same error as the last run)" if s.repeated else ""
        lines += [f"    FAILED {f}{again}" for f in s.failures]
        lines += [f"    WARNING {w}" for w in s.warnings]
        lines += [f"    kept the unreadable response in {path}" for path in s.saved]
    return [one_line(line) for line in lines] or ["  (no sources enabled)"]
