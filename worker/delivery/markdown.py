"""`markdown`: one Markdown file per digest under OUTPUT_DIR/<subscriber>/."""

from __future__ import annotations

from pathlib import Path

from worker.delivery.base import Channel, Rendered, deliver_file


class MarkdownChannel(Channel):
    name = "markdown"

    def __init__(self, output_dir: Path):
        self.output_dir = output_dir

    def path(self, rendered: Rendered) -> Path:
        return digest_path(self.output_dir, rendered.subscriber_id, rendered.file_stem)

    def send(self, rendered: Rendered) -> str:
        return deliver_file(self.path(rendered), rendered.markdown.encode("utf-8"))

    def would(self, rendered: Rendered) -> str:
        return f"would write {self.path(rendered)}"


def digest_path(output_dir: Path, subscriber_id: str, file_stem: str) -> Path:
    """Where the Markdown digest `file_stem` (DigestContext.file_stem) of a subscriber goes."""
    return output_dir / subscriber_id / f"{file_stem}.md"
