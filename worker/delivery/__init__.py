"""Delivery channels, keyed by the names subscribers write in `deliver`.

`email` goes out over SMTP when worker.toml has an [smtp] table, else it is written as an
.eml file under the output directory; `markdown` writes one file per digest. Adding a channel
is one module and one line in `channel_for`.
"""

from __future__ import annotations

from worker.delivery.base import Channel, Rendered
from worker.settings import Settings

__all__ = ["Channel", "Rendered", "channel_for"]


def channel_for(name: str, settings: Settings) -> Channel:
    if name == "markdown":
        from worker.delivery.markdown import MarkdownChannel

        return MarkdownChannel(settings.output_dir)
    if name == "email" and settings.smtp is not None:
        from worker.delivery.smtp import SmtpChannel

        return SmtpChannel(settings.smtp)
    if name == "email":
        from worker.delivery.eml import EmlChannel

        return EmlChannel(settings.output_dir)
    raise KeyError(name)
