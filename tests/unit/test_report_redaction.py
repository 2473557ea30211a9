"""What `run` and `status` print never shows a password from a source's URL (logs do not)."""

from __future__ import annotations

from worker.ingest import SourceReport
from worker.report import source_lines
from worker.status_report import status_lines

URL = "https://digest:s3cret-mirror-pw@mirror.example.org/dump.txt"


def test_the_run_summary_masks_a_password_in_a_source_url():
    lines = source_lines([SourceReport("mirror", failures=[f"{URL}: connection failed"],
                                       warnings=[f"{URL}: an entry left out"])])
    assert not any("s3cret" in line for line in lines)
    assert any("https://digest:***@mirror.example.org/dump.txt" in line for line in lines)


def test_status_masks_a_password_in_a_source_error():
    data = {"runs": [], "subscribers": [],
            "sources": [{"name": "mirror", "kind": "dump_url", "last_success": None,
                         "error_since": "2026-03-14T20:00:00+00:00",
                         "error": f"{URL}: connection failed"}]}
    lines = status_lines(data)
    assert not any("s3cret" in line for line in lines)
    assert any("digest:***@mirror.example.org" in line for line in lines)
