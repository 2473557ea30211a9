"""Idle CPU and memory of `paper-digest serve` with many subscribers.

    .venv/bin/python bench/serve_idle.py                       # 1,000 subscribers, 600 s
    .venv/bin/python bench/serve_idle.py --duration 60 --subscribers 200
    .venv/bin/python bench/serve_idle.py --database-url postgresql://...   # an empty database

Builds a throw-away config: N subscribers with `daily HH:MM` schedules spread over the day in
five time zones (so a few slots do fire in the window, with nothing new to send: what idle
looks like), one empty dump folder, [serve] defaults (due check every minute, heartbeat 30 s,
reload poll 15 s) and the HTTP port on. A `run --due` first records the subscribers (a new
install's first pass, timed apart), then serve runs for --duration seconds while /proc is
sampled; then SIGTERM. Prints CPU (% of one core, averaged after --warmup), RSS, and how
long the stop took. Exits 1 if average idle CPU exceeds --max-cpu (default 2 %) or serve did
not exit 0 within 10 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney")
TICK = os.sysconf("SC_CLK_TCK")


def write_config(root: Path, subscribers: int, database_url: str) -> Path:
    config = root / "config"
    (config / "subscribers").mkdir(parents=True)
    (root / "dumps").mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (config / "worker.toml").write_text(
        f'database_url = "{database_url}"\noutput_dir = "{root / "out"}"\n'
        f'[serve]\nhttp_port = {port}\nhttp_host = "127.0.0.1"\n'
        f'[[sources]]\nname = "local"\nkind = "dump_dir"\npath = "{root / "dumps"}"\n',
        encoding="utf-8")
    for i in range(subscribers):
        (config / "subscribers" / f"s{i:05d}.toml").write_text(
            f'email = "s{i}@example.org"\nschedule = "daily {i % 24:02d}:{(i * 7) % 60:02d}"\n'
            f'timezone = "{ZONES[i % len(ZONES)]}"\n'
            f'[interests]\nkeywords = ["topic{i % 50}", "vision"]\n', encoding="utf-8")
    return config


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(config: Path, env: dict[str, str], duration: float, warmup: float,
            ) -> dict[str, float]:
    log = (config.parent / "serve.log").open("wb")
    process = subprocess.Popen([str(BIN / "paper-digest"), "--config", str(config), "serve"],
                               env=env, stdout=subprocess.DEVNULL, stderr=log)
    start = time.monotonic()
    time.sleep(warmup)
    cpu0, t0 = cpu_seconds(process.pid), time.monotonic()
    peak = rss_mib(process.pid)
    while time.monotonic() - start < duration:
        time.sleep(min(5.0, max(0.1, duration - (time.monotonic() - start))))
        if process.poll() is not None:
            raise SystemExit(f"serve exited early ({process.returncode}); see {log.name}")
        peak = max(peak, rss_mib(process.pid))
    cpu1, t1, rss = cpu_seconds(process.pid), time.monotonic(), rss_mib(process.pid)
    stop = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=30)
    return {"startup_cpu_s": cpu0, "idle_cpu_pct": 100 * (cpu1 - cpu0) / (t1 - t0),
            "idle_cpu_s": cpu1 - cpu0, "window_s": t1 - t0, "rss_mib": rss,
            "peak_rss_mib": peak, "stop_s": time.monotonic() - stop, "exit": code}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds serve runs")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--warmup", type=float, default=15.0,
                        help="seconds after start not counted as idle (start-up, first fetch)")
    parser.add_argument("--database-url", help="default: an SQLite file in a temp folder")
    parser.add_argument("--max-cpu", type=float, default=2.0, help="fail above this idle %%")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="serve-idle-") as tmp:
        root = Path(tmp)
        url = args.database_url or f"sqlite:///{root / 'paper-digest.db'}"
        config = write_config(root, args.subscribers, url)
        env = {**os.environ, "PAPER_DIGEST_LOG_FORMAT": "json"}
        env.pop("PAPER_DIGEST_DATABASE_URL", None)
        began = time.monotonic()
        subprocess.run([str(BIN / "paper-digest"), "--config", str(config), "run", "--due"],
                       env=env, check=False, capture_output=True)
        first_pass = time.monotonic() - began
        result = measure(config, env, args.duration, min(args.warmup, args.duration / 2))
    print(f"serve idle, {args.subscribers} subscribers, {result['window_s']:.0f} s measured "
          f"(after {min(args.warmup, args.duration / 2):.0f} s warm-up)")
    print(f"  first `run --due` (records the subscribers): {first_pass:.1f} s")
    print(f"  start-up CPU:  {result['startup_cpu_s']:.2f} s")
    print(f"  idle CPU:      {result['idle_cpu_pct']:.2f} % of one core "
          f"({result['idle_cpu_s']:.2f} s CPU)")
    print(f"  memory (RSS):  {result['rss_mib']:.1f} MiB at the end, "
          f"{result['peak_rss_mib']:.1f} MiB peak")
    print(f"  SIGTERM -> exit {result['exit']} in {result['stop_s']:.2f} s")
    ok = (result["idle_cpu_pct"] <= args.max_cpu and result["exit"] == 0
          and result["stop_s"] < 10)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
