"""What `preview` shows is what is sent: the Markdown file and the email's text and HTML parts
of a digest, rendered from the stored digest, equal the preview rendered before the pass."""

from __future__ import annotations

import shutil
from email import message_from_bytes, policy
from pathlib import Path

from tests.integration.helpers import make_config, run_cli

SAMPLES = Path(__file__).resolve().parents[2] / "examples" / "dumps"
ADA = """
name = "Ada"
email = "ada@example.org"
deliver = ["email", "markdown"]
[interests]
keywords = ["hallucination", "grounding"]
"""
NOW = "2026-11-20T20:00:00+00:00"


def test_sent_digest_is_the_preview(tmp_path: Path, database_url: str) -> None:
    config = make_config(tmp_path, database_url, {"ada": ADA})
    for dump in SAMPLES.glob("*.txt"):
        shutil.copy(dump, tmp_path / "dumps" / dump.name)
    assert run_cli(config, "fetch", "--now", NOW).exit_code == 0
    previews = {fmt: run_cli(config, "preview", "ada", "--now", NOW, "--format", fmt).stdout
                for fmt in ("md", "txt", "html")}
    assert run_cli(config, "run", "--now", NOW).exit_code == 0
    (markdown,) = (tmp_path / "out" / "ada").glob("*.md")
    (eml,) = (tmp_path / "out" / "outbox" / "ada").glob("*.eml")
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    sent = {"md": markdown.read_text(encoding="utf-8"),
            **{fmt: message.get_body((part,)).get_content()  # type: ignore[union-attr]
               for fmt, part in (("txt", "plain"), ("html", "html"))}}
    assert "Listed 2026-11-17" in previews["md"]  # the samples' papers carry listing dates
    assert "Listed 2026-11-17" in previews["html"]  # (no links before it: a capital, as in md)
    for fmt, text in sent.items():
        assert text.replace("\r\n", "\n") == previews[fmt], fmt
