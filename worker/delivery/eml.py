"""`email` without [smtp]: the message as an .eml file under OUTPUT_DIR/outbox/<subscriber>/."""

from __future__ import annotations

from pathlib import Path

from worker.delivery.base import Channel, Rendered, deliver_file


class EmlChannel(Channel):
    name = "email"

    def __init__(self, output_dir: Path):
        self.output_dir = output_dir

    def path(self, rendered: Rendered) -> Path:
        return self.output_dir / "outbox" / rendered.subscriber_id / f"{rendered.file_stem}.eml"

    def send(self, rendered: Rendered) -> str:
        return deliver_file(self.path(rendered), rendered.email.data)

    def would(self, rendered: Rendered) -> str:
        return f"would write {self.path(rendered)}"
