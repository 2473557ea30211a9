"""The benchmarks of issue 7 run on small sizes and check what they can check: the scale pass
sends every digest over one SMTP connection, matching alone agrees with every profile matched
again with nothing cached, and the nothing-new run is timed. No figure is asserted here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench(*args: str, timeout: int = 300) -> str:
    done = subprocess.run([sys.executable, str(BENCH / args[0]), *args[1:]],
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_matching_bench_verifies_shared_work_against_profiles_alone() -> None:
    out = _bench("matching.py", "--subscribers", "60", "--new", "200", "--history", "100",
                 "--verify", "2")
    assert "verify: 30 of 30 profiles matched alone agree" in out
    assert re.search(r"matching: 60 subscribers x 200 papers: .* fingerprint [0-9a-f]{16}", out)


def test_scale_bench_delivers_every_digest_over_one_connection(tmp_path: Path) -> None:
    out = _bench("scale.py", "--workdir", str(tmp_path), "--history", "300",
                 "--subscribers", "25", "--new", "120")
    digests = int(re.search(r"digests: ([\d,]+) with", out).group(1))  # type: ignore[union-attr]
    assert digests > 0 and "not sent: 0" in out
    assert f"messages={digests} recipients={digests} connections=1" in out
    for stage in ("ingest", "matching", "rendering (templates)", "delivery to SMTP"):
        assert re.search(rf"^{re.escape(stage)}\s+\d+\.\d\d ", out, re.M), stage


def test_nothing_new_bench_times_a_run() -> None:
    out = _bench("nothing_new.py", "--runs", "1")
    assert re.search(r"nothing_new: .* median of 1: \d\.\d{3} s", out)
