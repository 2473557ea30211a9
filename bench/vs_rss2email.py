"""Helpers for bench/vs_rss2email.sh: inputs built from the seeds at bench time, and the report.

    python bench/vs_rss2email.py inputs OUT BASE_URL SMTP_PORT   # feeds, dumps, configs
    python bench/vs_rss2email.py time OUT TOOL RUN LOG -- CMD... # one timed run
    python bench/vs_rss2email.py report OUT                      # medians, ratio, repeats

`inputs` writes, under OUT:
- www/feed-N.xml: seed N as an RSS 2.0 feed (one item per entry: title, abstract as the
  description, and a link and guid made from the normalized title, so the same paper has the
  same link in every feed it is listed in, as arXiv ids would);
- www/dump-N.txt: seed N itself (the dump page paper-digest reads over HTTP);
- r2e.cfg: rss2email's configuration (digest mode, SMTP to the loopback server) and the
  list of feeds; pd/: paper-digest's config (five dump_url sources, [smtp], 12 subscribers:
  the four of config/subscribers, the four of bench/relevance and four generated ones).
Nothing of the seeds is written into the repository: OUT is under bench/out (gitignored).

`time` runs CMD (stdout dropped, stderr to LOG) and appends its wall time and its CPU time
(user + system, which other load on the machine moves much less) to OUT/times.tsv.

`report` reads OUT/times.tsv (tool, run, wall, cpu) and the mail the sink saved per run, and
prints both medians, the ratio, and how many items each tool sent and how many of those were
the same paper sent again to the same recipient. It also prints where paper-digest's time
went (the medians of the stages its `-vv` log reports, and the rest: start-up, imports,
config, exit) and, timed then and there, what Python alone and `import sqlalchemy` cost:
the state of the machine, and the floor under any `run`.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SEEDS = REPO.parent / "shared" / "seeds"
sys.path[:0] = [str(REPO), str(BENCH)]


def seed_entries(path: Path) -> list[tuple[str, str]]:
    """(title, abstract) of every entry, with the dump parser the worker uses."""
    from datetime import UTC, datetime

    from worker.sources.dumps import parse_dump

    parsed = parse_dump(path.read_bytes(), str(path), datetime.now(UTC))
    return [(e.title, e.abstract) for e in parsed.entries]


def paper_link(base: str, title: str) -> str:
    from worker.records import normalize_title

    return f"{base}/papers/{hashlib.sha1(normalize_title(title).encode()).hexdigest()[:16]}"


def feed_xml(name: str, base: str, entries: list[tuple[str, str]]) -> str:
    from datetime import UTC, datetime

    stamp = format_datetime(datetime.now(UTC))
    items = "".join(
        f"<item><title>{escape(title)}</title><link>{escape(paper_link(base, title))}</link>"
        f"<guid isPermaLink=\"false\">{escape(paper_link(base, title))}</guid>"
        f"<description>{escape(abstract)}</description><pubDate>{stamp}</pubDate></item>\n"
        for title, abstract in entries)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>{escape(name)}</title><link>{base}/</link>"
            f"<description>new papers</description>\n{items}</channel></rss>\n")


R2E_CONFIG = """[DEFAULT]
to = reader@example.org
from = rss2email@example.org
digest = True
email-protocol = smtp
smtp-server = 127.0.0.1
smtp-port = {port}
smtp-ssl = False
smtp-auth = False
"""


def inputs(out: Path, base: str, smtp_port: int) -> None:
    seeds = sorted(SEEDS.glob("*.txt"))
    if len(seeds) != 5:
        sys.exit(f"expected the five seeds in {SEEDS}")
    www = out / "www"
    www.mkdir(parents=True, exist_ok=True)
    for n, path in enumerate(seeds):
        (www / f"feed-{n}.xml").write_text(feed_xml(f"seed {n}", base, seed_entries(path)),
                                          encoding="utf-8")
        shutil.copyfile(path, www / f"dump-{n}.txt")
    (out / "r2e.cfg").write_text(R2E_CONFIG.format(port=smtp_port), encoding="utf-8")
    (out / "feeds.txt").write_text("".join(f"{base}/feed-{n}.xml\n" for n in range(5)),
                                   encoding="utf-8")
    write_paper_digest_config(out / "pd", base, smtp_port)


def write_paper_digest_config(config: Path, base: str, smtp_port: int) -> None:
    from scaledata import Generator, toml

    subscribers = config / "subscribers"
    subscribers.mkdir(parents=True, exist_ok=True)
    sources = "".join(f'[[sources]]\nname = "seed{n}"\nkind = "dump_url"\n'
                      f'url = "{base}/dump-{n}.txt"\n' for n in range(5))
    (config / "worker.toml").write_text(
        f'database_url = "sqlite:///{config / "pd.db"}"\noutput_dir = "{config / "out"}"\n'
        f"{sources}[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\n"
        'from = "Paper Digest <digest@example.org>"\n'
        # Offline, as rss2email: the sample subscribers' examples are not in the seeds.
        '[matching]\nexample_lookup = ""\n', encoding="utf-8")
    for path in sorted((REPO / "config" / "subscribers").glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        # Email to all, like rss2email's one reader (markdown files are not the comparison).
        text = re.sub(r"(?m)^deliver = .*$", 'deliver = ["email"]', text)
        (subscribers / path.name).write_text(text, encoding="utf-8")
    for path in sorted((BENCH / "relevance").glob("*.toml")):
        shutil.copyfile(path, subscribers / path.name)
    gen = Generator(12)
    for index in range(4):
        profile = gen.profile(index, [])
        profile["deliver"] = ["email"]
        (subscribers / f"gen{index}.toml").write_text(toml(profile), encoding="utf-8")


# -- report: what was sent ------------------------------------------------------------------
def items_of(message: EmailMessage) -> list[str]:
    """The papers in one received message: rss2email's digest has one message/rfc822 part
    per entry (its Subject is the title); paper-digest's text part numbers its papers."""
    if message.get_content_type() == "multipart/digest":
        return [" ".join(str(part.get_payload(0)["Subject"]).split())
                for part in message.iter_parts()]
    if message["X-Paper-Digest"]:
        html = message.get_body(("html",))
        text = html.get_content() if html else ""
        titles = re.findall(r'<h2 class="pd-title".*?</span>(.*?)</h2>', text, re.S)
        return [" ".join(re.sub(r"<[^>]+>", "", t).split()) for t in titles]
    return [" ".join(str(message["Subject"]).split())]


def count(mail_dir: Path) -> tuple[int, int, int]:
    """(messages, items, items that repeat a paper already sent to the same recipient)."""
    messages = items = repeats = 0
    seen: Counter[tuple[str, str]] = Counter()
    for path in sorted(mail_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        messages += 1
        to = str(message["To"])
        for title in items_of(message):  # type: ignore[arg-type]
            items += 1
            key = (to, title.casefold())
            repeats += seen[key] > 0
            seen[key] += 1
    return messages, items, repeats


# -- time ------------------------------------------------------------------------------------
def timed(out: Path, tool: str, run: str, log: Path, command: list[str]) -> int:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with log.open("ab") as err:
        code = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=err,
                              check=False).returncode
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    with (out / "times.tsv").open("a") as times:
        times.write(f"{tool}\t{run}\t{wall:.4f}\t{cpu:.4f}\n")
    return code


# -- report ---------------------------------------------------------------------------------
def read_times(out: Path) -> dict[str, dict[str, list[float]]]:
    """tool -> {"wall": [...], "cpu": [...]}, in run order."""
    times: dict[str, dict[str, list[float]]] = {}
    for line in (out / "times.tsv").read_text().splitlines():
        tool, run, wall, cpu = line.split("\t")
        if run == "0":  # the warm-up round
            continue
        entry = times.setdefault(tool, {"wall": [], "cpu": []})
        entry["wall"].append(float(wall))
        entry["cpu"].append(float(cpu))
    return times


def pass_stages(out: Path) -> dict[str, float]:
    """Medians over the timed runs of the stages paper-digest's log reports (`pass.stages`)."""
    seen: dict[str, list[float]] = {}
    for log in sorted(out.glob("paper-digest-[1-9]*.log")):  # not the warm-up round
        for line in log.read_text(encoding="utf-8").splitlines():
            if line.startswith("{") and '"pass.stages"' in line:
                for stage, seconds in json.loads(line)["stages"].items():
                    seen.setdefault(stage, []).append(seconds)
    return {stage: statistics.median(values) for stage, values in seen.items()}


def probe(code: str, runs: int = 5) -> float:
    """Median wall time of this Python running `code` (the bench's own interpreter)."""
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def print_split(out: Path, wall: float) -> None:
    stages = pass_stages(out)
    if not stages:
        return
    inside = sum(stages.values())
    print("  paper-digest's time (medians of its `-vv` log): "
          + ", ".join(f"{stage} {seconds:.3f}" for stage, seconds in stages.items())
          + f"; outside the pass (start-up, imports, config, exit) ~{wall - inside:.3f} s")
    # paper-digest imports with the collector off (cli.settle_heap); so does the probe.
    sqlalchemy = probe("import gc; gc.disable(); import sqlalchemy")
    print(f"  floor, timed now: python -c pass {probe('pass'):.3f} s, "
          f"import sqlalchemy (collector off) {sqlalchemy:.3f} s")


def report(out: Path) -> None:
    times = read_times(out)
    walls = {tool: statistics.median(t["wall"]) for tool, t in times.items()}
    cpus = {tool: statistics.median(t["cpu"]) for tool, t in times.items()}
    r2e, pd = walls["rss2email"], walls["paper-digest"]
    runs = len(times["rss2email"]["wall"])
    print(f"vs_rss2email: the five seeds (444 entries, 338 distinct papers), fresh state, "
          f"{runs} alternating runs each")
    for tool in ("rss2email", "paper-digest"):
        spread = ", ".join(f"{t:.2f}" for t in times[tool]["wall"])
        print(f"  {tool:<13} median {walls[tool]:6.2f} s  ({spread}); "
              f"CPU median {cpus[tool]:.2f} s")
    print(f"  ratio paper-digest / rss2email: {pd / r2e:.2f} (target <= 0.5: "
          f"{'met' if pd / r2e <= 0.5 else 'NOT MET'}); in CPU time "
          f"{cpus['paper-digest'] / cpus['rss2email']:.2f}")
    print_split(out, pd)
    for tool, label in (("rss2email", "rss2email 3.14 (digest mode, one reader)"),
                        ("paper-digest", "paper-digest run (12 subscribers)")):
        messages, items, repeats = count(out / "mail" / f"{tool}-1")
        print(f"  {label}: {messages} messages, {items} items, {repeats} of them a paper "
              f"already sent to the same recipient")


if __name__ == "__main__":
    if sys.argv[1:2] == ["inputs"]:
        inputs(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1:2] == ["time"] and sys.argv[6:7] == ["--"]:
        sys.exit(timed(Path(sys.argv[2]), sys.argv[3], sys.argv[4], Path(sys.argv[5]),
                       sys.argv[7:]))
    elif sys.argv[1:2] == ["report"]:
        report(Path(sys.argv[2]))
    else:
        sys.exit(__doc__)
