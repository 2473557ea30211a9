"""The digests a delivery pass sends, made ready (worker.sending claims and sends them;
worker.render makes one digest's forms from the templates).

A digest is rendered in the forms its channels take, each form on its own: an HTML template
that fails holds the digest's email, not its Markdown. A pass with few digests renders each
form here, when a channel first asks for it. With many, forked processes render them ahead
(`[matching] workers` - 1 of them, RENDERERS_MAX at most) in shares of RENDER_SHARE while the
sending process sends and marks: each reads its digests on its own connection, only their ids
go to it, and the finished forms (or the error that stopped each) come back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from worker.delivery import Rendered
from worker.errors import RenderError, TemplateError
from worker.fanout import FanOut, shared
from worker.profiles import Profile
from worker.selection import default_workers
from worker.settings import Settings
from worker.store import outbox
from worker.store.models import StoredPaper

RENDER_SHARE = 25  # digests a rendering process takes at a time
RENDER_MIN = 100  # digests in a first batch below which a pass renders them itself
# Renderers at most, whatever `workers`: one process sends, and two renderers (~2 ms a digest
# each) keep it busy; more would only hold more memory (~130 MiB each at 10,000 digests).
RENDERERS_MAX = 2
FORMS = ("email", "markdown")  # channels named after the form of a digest they send


class Renderer:
    """Renders the digests of one pass's delivery, over its database and its `now` (when
    each email says it was sent)."""

    def __init__(self, settings: Settings, engine: Engine, now: datetime):
        self.settings = settings
        self.engine = engine
        self.now = now

    def render(self, digest_id: int, profile: Profile, digest: Any = None) -> Rendered:
        """The digest (read unless given) ready to send; each form rendered when first used."""
        from worker.digest_mail import build_email
        from worker.render import profile_context, render

        digest = digest or outbox.load_digest(self.engine, digest_id)
        ctx = profile_context(digest, profile, self.settings)
        sender = self.settings.smtp.sender if self.settings.smtp else None
        templates = self.settings.templates_dir
        return Rendered(digest.id, digest.subscriber_id,
                        ctx.file_stem,
                        lambda: render(ctx, "md", templates),
                        lambda: build_email(ctx, sender=sender, templates_dir=templates,
                                            sent_at=self.now))

    def processes(self, by_id: dict[str, Profile],
                  papers_read: dict[int, StoredPaper]) -> FanOut:
        """The processes that render this pass's digests: with `[matching] workers` = N,
        N - 1 forked ones (at most RENDERERS_MAX) render while this one sends and marks.
        This one renders nothing itself (its caches would add to the renderers' memory, and
        it has the sending to do). A renderer reads the digests itself, on its own
        connection: only their ids go to it, and the finished forms come back. Not for a
        pass on one connection (--dry-run)."""
        workers = min(self.settings.matching.workers or default_workers(), RENDERERS_MAX + 1)
        return FanOut(workers if isinstance(self.engine, Engine) else 1, "rendering",
                      {"renderer": self, "by_id": by_id, "papers": papers_read},
                      _renderer_started, ahead=0)

    def ready(self, jobs: list[Any], by_id: dict[str, Profile],
              papers_read: dict[int, StoredPaper], fan: FanOut) -> Iterator[Rendered]:
        """The jobs' digests ready to send, in the order the jobs first need them: rendered
        over the fan's processes in shares of RENDER_SHARE (each in the forms its jobs'
        channels take), or here, each form when a channel first asks for it."""
        order = list(dict.fromkeys(job.digest_id for job in jobs))
        if fan.workers < 2 or (len(order) < RENDER_MIN and not fan.started):
            digests = outbox.load_digests(self.engine, order, papers_read)
            for digest_id in order:
                digest = digests[digest_id]
                profile = by_id[digest.subscriber_id]
                try:
                    rendered = self.render(digest_id, profile, digest)
                except Exception as exc:  # its jobs stay pending and say why
                    rendered = self._made(digest_id, profile, "", {}, dict.fromkeys(FORMS, exc))
                yield rendered
            return
        forms: dict[int, set[str]] = defaultdict(set)
        for job in jobs:
            forms[job.digest_id].add(job.channel)
        shares = [tuple((digest_id, tuple(sorted(forms[digest_id])))
                        for digest_id in order[start:start + RENDER_SHARE])
                  for start in range(0, len(order), RENDER_SHARE)]
        for share in fan.map(_render_share, shares):
            for digest_id, subscriber_id, file_stem, made, failed in share:
                yield self._made(digest_id, by_id[subscriber_id], file_stem, made, failed)

    def _made(self, digest_id: int, profile: Profile, file_stem: str, made: dict[str, Any],
              failed: dict[str, Exception]) -> Rendered:
        """A digest rendered ahead: its forms as made (`made` by channel name), or the error
        that stopped each (`failed`, raised when a channel asks for that form: its jobs stay
        pending, and its other forms go); a form not made ahead is rendered here when asked
        for."""

        def form(channel: str) -> Callable[[], Any]:
            def make() -> Any:
                if channel in failed:
                    raise failed[channel]
                if channel in made:
                    return made[channel]
                return getattr(self.render(digest_id, profile), channel)
            return make

        return Rendered(digest_id, profile.id, file_stem, form("markdown"), form("email"))


def _renderer_started() -> None:
    # A forked process opens its own connections: the pool's, inherited, are the parent's.
    shared("rendering")["renderer"].engine.dispose(close=False)


def _render_share(share: Sequence[tuple[int, Sequence[str]]],
                  ) -> list[tuple[int, str, str, dict[str, Any], dict[str, Exception]]]:
    """Digests rendered in the forms their channels take: (id, subscriber, file stem, the
    forms by channel name, the error of each form that could not be made). Each form on its
    own: an HTML template that fails holds the digest's email, not its Markdown, as where it
    is sent. A TemplateError comes back as it is (its jobs are held); another error as its
    text (it may not pickle), a RenderError."""
    state = shared("rendering")
    renderer, by_id = state["renderer"], state["by_id"]
    digests = outbox.load_digests(renderer.engine, [digest_id for digest_id, _ in share],
                                  state["papers"])
    out: list[tuple[int, str, str, dict[str, Any], dict[str, Exception]]] = []
    for digest_id, channels in share:
        digest = digests[digest_id]
        forms = [channel for channel in channels if channel in FORMS]
        made: dict[str, Any] = {}
        failed: dict[str, Exception] = {}
        try:
            rendered = renderer.render(digest_id, by_id[digest.subscriber_id], digest)
        except Exception as exc:  # a bug: that digest stays pending, says why
            failed = dict.fromkeys(forms, _portable(exc))
            out.append((digest_id, digest.subscriber_id, "", made, failed))
            continue
        for channel in forms:
            try:
                made[channel] = getattr(rendered, channel)
            except Exception as exc:
                failed[channel] = _portable(exc)
        out.append((digest_id, digest.subscriber_id, rendered.file_stem, made, failed))
    return out


def _portable(exc: Exception) -> Exception:
    """`exc` as a rendering process hands it back: a TemplateError as it is, another error
    as a RenderError with its type and text."""
    return exc if isinstance(exc, TemplateError) else RenderError(f"{type(exc).__name__}: {exc}")
