"""`markdown`: one Markdown file per digest under OUTPUT_DIR/<subscriber>/."""

from __future__ import annotations

from pathlib import Path

from worker.delivery.base import Channel, Rendered, deliver_file


class MarkdownChannel(Channel):
    name = "markdown"

    def __init__(self, output_dir: Path):
        self.output_dir = output_dir

    def path(self, rendered: Rendered) -> Path:
        return self.output_dir / rendered.subscriber_id / f"{rendered.file_stem}.md"

    def send(self, rendered: Rendered) -> str:
        return deliver_file(self.path(rendered), rendered.markdown.encode("utf-8"))

    def would(self, rendered: Rendered) -> str:
        return f"would write {self.path(rendered)}"
