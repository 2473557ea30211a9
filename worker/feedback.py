"""Feedback links: "more like this" / "fewer like this" under every item of a digest.

A link names the subscriber, the paper and the verdict, signed with a secret only the worker
knows (PAPER_DIGEST_FEEDBACK_SECRET; the signature is a keyed BLAKE2b of the three, 128 bits),
so nobody can mark papers for someone else by editing a link. `serve`'s HTTP port answers it:
opening the link shows what it will do and a button; pressing the button (a POST) records the
mark, as `paper-digest mark` would. Opening alone changes nothing: mail scanners and link
previews open every link in a message. A link still verifies after its subscriber's file is
deleted, so the desk also asks whether the subscriber is subscribed now: if not, 410, no mark.
A link also signs the day of its digest and marks nothing after MAX_AGE: a digest forwarded,
or kept in an archive others read, does not let anyone mark papers for its reader for good.
(Links made before links carried a day have none, and do not expire.)

A subscriber id is a file name, and names are reused: a link also signs the generation of the
id's reader (worker.readers; carried as `g`, and left out for generation 0, the only one there
was before, so links already sent stay as they were). When the id has a new reader, the links
in the earlier reader's digests are answered 410 and act on no one.

Every email digest also carries the subscriber's unsubscribe link, signed the same way, in its
List-Unsubscribe header (with List-Unsubscribe-Post: one click in the mail client, RFC 8058)
and its footer; `.../unsubscribe` answers it (worker.store.subscriptions keeps the choice).
"""

from __future__ import annotations

import hashlib
import hmac
import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING
from urllib.parse import quote_plus, urlencode

if TYPE_CHECKING:
    from sqlalchemy import Engine

VERDICTS = {"like": "more like this", "unlike": "fewer like this"}
UNDO = "remove"  # the verdict of the undo button a thank-you page shows
# An unsubscribe link's verdict, and that of the button that takes it back: signed as a mark
# link is (paper 0), but answered only at .../unsubscribe, as a mark link only at .../mark.
UNSUBSCRIBE, RESUBSCRIBE = "unsubscribe", "resubscribe"
# The longest parts a link we make can have: a subscriber id is a file name of at most 64
# characters (worker.profiles.SUBSCRIBER_ID), a paper id a 64-bit integer, a token 128 bits
# in hex. Anything longer is not our link, and is refused before any work on it.
MAX_SUBSCRIBER, MAX_PAPER, TOKEN_CHARS, MAX_GENERATION = 64, 19, 32, 9
MAX_AGE = timedelta(days=180)  # how long after its digest's day a link marks anything
_DAY = "%Y%m%d"  # a link's day: 8 digits


def token(secret: str, subscriber_id: str, paper_id: int, verdict: str, day: str = "",
          generation: int = 0) -> str:
    return _token(_key(secret), subscriber_id, paper_id, verdict, day, _gen(generation))


def _gen(generation: int) -> str:
    """A generation as links carry and sign it: none for 0 (what links were before it)."""
    return str(generation) if generation else ""


def _key(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()  # any length of secret, 32 bytes of key


def _token(key: bytes, subscriber_id: str, paper_id: int | str, verdict: str,
           day: str = "", generation: str = "") -> str:
    """BLAKE2b in its keyed mode, a MAC in one call (~1 µs: a pass makes ~300,000 links).
    `paper_id` may be the text of a link: it signs the same as the number it spells. `day`
    (YYYYMMDD) is the digest's; a link without one signs what links signed before days.
    `generation` (_gen) likewise: "" signs what links signed before generations."""
    message = (f"{subscriber_id}\0{paper_id}\0{verdict}" + (f"\0{day}" if day else "")
               + (f"\0g{generation}" if generation else ""))
    return hashlib.blake2b(message.encode(), key=key, digest_size=16).hexdigest()


@dataclass(frozen=True)
class Links:
    """Makes the links of one install: `url` is where serve's HTTP port is reached."""

    url: str
    secret: str
    unsubscribe: bool = True  # whether digests carry unsubscribe_link: [feedback] unsubscribe

    def link(self, subscriber_id: str, paper_id: int, verdict: str, day: date,
             generation: int = 0) -> str:
        return self.of(subscriber_id, day, generation)(paper_id, verdict)

    def of(self, subscriber_id: str, day: date, generation: int = 0,
           ) -> Callable[[int, str], str]:
        """The link maker of one subscriber's digest of `day`, for the id's reader of
        `generation`: a digest has many items (at institute scale a pass makes ~300,000
        links, so each costs a few microseconds)."""
        key, stamp, gen = self._key, day.strftime(_DAY), _gen(generation)
        start = f"{self.url.rstrip('/')}/mark?s={quote_plus(subscriber_id)}&p="
        tail = f"&g={gen}" if gen else ""

        def link(paper_id: int, verdict: str) -> str:
            signed = _token(key, subscriber_id, paper_id, verdict, stamp, gen)
            return f"{start}{paper_id}&v={verdict}&t={signed}&d={stamp}{tail}"
        return link

    def unsubscribe_link(self, subscriber_id: str, generation: int = 0) -> str:
        """The subscriber's one-click unsubscribe link (RFC 8058: List-Unsubscribe and its
        POST, and the footer's link). It carries no day and does not expire: a reader who
        wants no more mail must be able to say so from any digest they kept."""
        gen = _gen(generation)
        signed = _token(self._key, subscriber_id, 0, UNSUBSCRIBE, "", gen)
        return (f"{self.url.rstrip('/')}/unsubscribe?s={quote_plus(subscriber_id)}&t={signed}"
                + (f"&g={gen}" if gen else ""))

    @cached_property
    def _key(self) -> bytes:
        return _key(self.secret)


@lru_cache(maxsize=4)
def links_for(url: str, secret: str, unsubscribe: bool = True) -> Links:
    """The Links of an install, made once (its key hashed once), however often asked."""
    return Links(url, secret, unsubscribe)


@dataclass(frozen=True)
class Page:
    status: int
    body: str  # an HTML page


class Desk:
    """Answers feedback links: `answer(method, params)` for GET (a page with a button) and POST
    (the mark recorded), `unsubscribe(method, params)` likewise for unsubscribe links. Every
    answer is a whole HTML page. `subscribed(id)` says whether a
    subscriber is subscribed now (serve asks its running config, as hot reload left it)."""

    def __init__(self, engine: Engine, secret: str, now: Callable[[], datetime], *,
                 subscribed: Callable[[str], bool]):
        self.engine, self.now, self.subscribed = engine, now, subscribed
        self.key = _key(secret)  # hashed once, as Links does

    def genuine(self, sid: str, paper_ref: str, verdict: str, signed: str,
                day: str = "", generation: str = "") -> bool:
        """Whether a link is one we signed, decided on its text as it came: a forged link can
        hold anything, so nothing in it is read (as a number, say) before its signature
        matches. int() refuses 4,300 digits and more, and reads '٣' or '007' as a number;
        compare_digest refuses text that is not ASCII. Parts longer than ours are refused
        unread, so a forger cannot make us hash megabytes."""
        if (verdict not in (*VERDICTS, UNDO) or not 0 < len(sid) <= MAX_SUBSCRIBER
                or not 0 < len(paper_ref) <= MAX_PAPER or len(signed) != TOKEN_CHARS
                or len(day) not in (0, 8) or len(generation) > MAX_GENERATION):
            return False
        expected = _token(self.key, sid, paper_ref, verdict, day, generation)
        return (hmac.compare_digest(signed.encode(), expected.encode())
                and paper_ref.isascii() and paper_ref.isdigit())

    def current_reader(self, sid: str, generation: str) -> bool:
        """Whether a genuine link (its `g` as it came, signed) is of the id's reader now, not
        of an earlier one the name was given to before (worker.readers)."""
        from worker.store.readers import generation_of

        return _gen(generation_of(self.engine, sid)) == generation

    def answer(self, method: str, params: Mapping[str, str]) -> Page:
        from worker.marking import mark_stored
        from worker.store.identity import find_paper
        from worker.store.marks import ReaderChanged

        sid, paper_ref, verdict = params.get("s", ""), params.get("p", ""), params.get("v", "")
        day, gen = params.get("d", ""), params.get("g", "")
        if not self.genuine(sid, paper_ref, verdict, params.get("t", ""), day, gen):
            return _page(403, "This link is not valid",
                         "It may have been cut short or changed, or it is from before the "
                         "feedback secret was changed. Nothing was marked.")
        sent = _day(day)
        if sent is not None and self.now().date() - sent > MAX_AGE:
            return _page(410, "This link has expired",
                         f"It is from a digest of {sent:%Y-%m-%d}, and a digest's links mark "
                         f"papers for {MAX_AGE.days} days. A newer digest's links still do. "
                         "Nothing was marked.")
        if not self.current_reader(sid, gen):
            return _earlier_reader(sid, _MARKS_NOTHING)
        if not self.subscribed(sid):  # the link is genuine, but its subscriber has left
            return _page(410, "You are no longer subscribed",
                         f"This link is from a digest for {html.escape(sid)}, who no longer "
                         "gets digests here, so it marks nothing. Nothing was marked.")
        paper = find_paper(self.engine, f"paper:{paper_ref}")
        if paper is None:
            return _page(404, "Paper not found",
                         "This paper is no longer in the database. Nothing was marked.")
        title, who = html.escape(paper.title), html.escape(sid)
        if method != "POST":
            if verdict == UNDO:
                return _page(200, "Take the mark off?", f"Take {who}'s mark off “{title}”.",
                             button="Yes, take it off")
            return _page(200, f"{VERDICTS[verdict].capitalize()}?",
                         f"Mark “{title}” for {who}: later digests rank "
                         f"{'more' if verdict == 'like' else 'fewer'} papers like it.",
                         button=f"Yes, {VERDICTS[verdict]}")
        try:  # at the generation just checked: a new reader may have started since
            said = mark_stored(self.engine, sid, paper, remove=verdict == UNDO, now=self.now(),
                               verdict="like" if verdict == UNDO else verdict,
                               generation=int(gen or 0))
        except ReaderChanged:
            return _earlier_reader(sid, _MARKS_NOTHING)
        if verdict == UNDO:
            return _page(200, "Done", html.escape(said))
        # A thank-you page offers to undo: the same link with verdict `remove`, signed, as a
        # query relative to this page (its path is whatever the proxy in front made it).
        undo = "?" + urlencode({"s": sid, "p": paper_ref, "v": UNDO,
                                "t": _token(self.key, sid, int(paper_ref), UNDO, day, gen),
                                **({"d": day} if day else {}), **({"g": gen} if gen else {})})
        return _page(200, "Thank you", html.escape(said), button="Undo", action=undo)

    def unsubscribe(self, method: str, params: Mapping[str, str]) -> Page:
        """An unsubscribe link (Links.unsubscribe_link): GET shows a button, POST
        (the button, or a mail client's one-click POST) records it at once and offers to take
        it back. Recorded whether or not the subscriber's file is still there.

        The offer is made only by the post that unsubscribed, and its link signs that moment
        (`d`): it takes back that unsubscription alone. Anyone with a copy of a digest can
        post its link; they must not be able to subscribe again a reader who left."""
        from worker.store.subscriptions import set_unsubscribed, unsubscribed_since

        sid, verdict = params.get("s", ""), params.get("v", UNSUBSCRIBE)
        signed, moment, gen = params.get("t", ""), params.get("d", ""), params.get("g", "")
        if (verdict not in (UNSUBSCRIBE, RESUBSCRIBE) or not 0 < len(sid) <= MAX_SUBSCRIBER
                or len(signed) != TOKEN_CHARS or len(moment) > len(_MOMENT_EXAMPLE)
                or len(gen) > MAX_GENERATION or not hmac.compare_digest(
                    signed.encode(), _token(self.key, sid, 0, verdict, moment, gen).encode())):
            return _page(403, "This link is not valid",
                         "It may have been cut short or changed, or it is from before the "
                         "feedback secret was changed. Nothing was changed.")
        if not self.current_reader(sid, gen):
            return _earlier_reader(sid, "changes nothing. Nothing was changed.")
        who = html.escape(sid)
        if verdict == RESUBSCRIBE:
            since = unsubscribed_since(self.engine, sid)
            if since is not None and (not moment or _moment(since) != moment):
                return _page(410, "This link no longer applies",
                             f"It took back an earlier unsubscribe of {who}, who has "
                             "unsubscribed again since. Nothing was changed.")
            if method != "POST":
                return _page(200, "Subscribe again?", f"Send {who}'s digests again.",
                             button="Yes, subscribe again")
            set_unsubscribed(self.engine, sid, None, generation=int(gen or 0))
            return _page(200, "Subscribed again",
                         f"{who} gets digests again, from the next one on.")
        if method != "POST":
            return _page(200, "Unsubscribe?", f"Stop sending digests to {who}.",
                         button="Unsubscribe")
        now = self.now()
        if not set_unsubscribed(self.engine, sid, now, generation=int(gen or 0)):
            return _page(200, "You are unsubscribed",
                         f"{who} was already unsubscribed, and gets no digests.")
        stamp = _moment(now)
        again = "?" + urlencode({"s": sid, "v": RESUBSCRIBE, "d": stamp,
                                 "t": _token(self.key, sid, 0, RESUBSCRIBE, stamp, gen),
                                 **({"g": gen} if gen else {})})
        return _page(200, "You are unsubscribed",
                     f"{who} gets no more digests. Changed your mind?",
                     button="Subscribe again", action=again)


_MARKS_NOTHING = "marks nothing. Nothing was marked."
_MOMENT_EXAMPLE = "20261207093000123456"  # an unsubscribe's moment, to the microsecond


def _earlier_reader(sid: str, outcome: str) -> Page:
    """The answer to a genuine link of an id's earlier reader: the name is someone else's
    now (or was forgotten), and the link must not act on them."""
    return _page(410, "This link is from an earlier subscription",
                 f"It is from a digest for an earlier reader named {html.escape(sid)}. The "
                 f"name has since been given to someone else, or started afresh, so the link "
                 f"{outcome}")


def _moment(when: datetime) -> str:
    """The moment of an unsubscribe as its "Subscribe again" link signs it (UTC)."""
    return when.astimezone(UTC).strftime("%Y%m%d%H%M%S%f")


def _day(text: str) -> date | None:
    """A genuine link's day, or None for a link made before links carried one (or a day
    that is no date, which only the secret's holder could have signed)."""
    try:
        return datetime.strptime(text, _DAY).date() if text.isascii() and text.isdigit() \
            else None
    except ValueError:
        return None


def _page(status: int, heading: str, text: str, button: str | None = None,
          action: str | None = None) -> Page:
    """A whole page; with `button`, a form that posts to `action` (default: this page)."""
    target = f' action="{html.escape(action)}"' if action else ""
    form = (f'<form method="post"{target}><button type="submit">{html.escape(button)}</button>'
            "</form>" if button else "")
    return Page(status, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width\">"
                f"<title>{heading} - paper-digest</title></head>"
                f"<body style=\"font-family:sans-serif;max-width:40em;margin:2em auto\">"
                f"<h1>{heading}</h1><p>{text}</p>{form}</body></html>\n")
