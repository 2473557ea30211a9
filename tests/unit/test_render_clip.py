"""The HTML email's size: a digest of 20 papers is rendered as it always was (a golden file,
taken before the email had a size budget)."""

from __future__ import annotations

from tests.unit.big_digests import big_context
from tests.unit.test_render_golden import _check
from worker.render import build_message

SENDER = "Paper Digest <digest@example.org>"


def _parts(ctx) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    """(text part, HTML part) of the email build_email makes, decoded, LF line ends."""
    message = build_message(ctx, sender=SENDER)
    text, html = (message.get_body((kind,)) for kind in ("plain", "html"))
    assert text is not None and html is not None
    return tuple(part.get_content().replace("\r\n", "\n") for part in (text, html))


def test_a_20_item_digest_with_feedback_links_is_the_email_it_always_was() -> None:
    _, html = _parts(big_context(20))
    _check("digest-20-feedback.html", html)
