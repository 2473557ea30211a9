"""Scale benchmark: one pass over a large install, stage by stage (issue 7).

    .venv/bin/python bench/scale.py                       # 100,000 papers of history,
                                                          # 10,000 subscribers, 2,000 new papers
    .venv/bin/python bench/scale.py --history 20000 --subscribers 1000 --new 500
    .venv/bin/python bench/scale.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/scale.py --profile matching    # pyinstrument report of one stage
    .venv/bin/python bench/scale.py --feedback            # digests with feedback links

Set-up (not timed as part of the pass, figures printed apart):
- history: --history papers written straight into the store (bench/history.py), in daily dumps
  that end eight days ago, so new subscribers (backfill 7d) start after all of them;
- subscribers: --subscribers generated profile files (bench/scaledata.py: keywords, boolean
  queries, example papers from history, exclusions, synonyms, mixtures), recorded by a first
  pass with nothing new (first sight of every subscriber, timed and printed);
- new papers: --new papers in four dumps in the seed format, with repeats across dumps and a
  few papers already in history, read by a `dump_dir` source.

The pass runs in a child process (a clean peak RSS), stage by stage, on the real code:
load config; ingest (Pipeline.ingest); Pipeline.build_digests, split by its own stage timers
into subscriber sync, candidate selection, matching and writing digests; rendering every digest
in the forms its subscriber gets (as worker.rendering.Renderer.render does: the email's text and
HTML parts, the .md for Markdown delivery), with putting the emails together timed apart;
delivery of every digest to .eml/.md files (Pipeline.deliver); then the same deliveries again,
to a loopback SMTP server in another process (bench/smtp_sink.py) over one connection. Each
stage prints wall time, a rate and the peak RSS of the process during the stage (VmHWM, reset
between stages).

PostgreSQL: each run uses a private schema of the given database, dropped afterwards.
Work files go to bench/out/scale (kept: the digests can be looked at; --keep keeps the schema).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]

NOW = datetime(2026, 3, 16, 8, 0, tzinfo=UTC)
FEEDBACK_SECRET = "PAPER_DIGEST_FEEDBACK_SECRET"
TARGETS = {"matching": 5.0, "rendering": 10.0}
PEAK_TARGET_MIB = 400


# -- memory ---------------------------------------------------------------------------------
def reset_peak() -> None:
    """Start a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM)."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _pss_kib(pid: int) -> int:
    """Proportional set size of one process: its private memory plus its share of pages it
    shares (forked matching workers share most of the parent's heap, copy-on-write)."""
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    found = []
    with suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


class PssSampler:
    """The largest total PSS of this process and its child processes (matching workers), read
    every 20 ms while a stage runs: what the whole pass holds, each shared page once."""

    def __init__(self) -> None:
        import threading

        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.02):
            total = _pss_kib(me) + sum(_pss_kib(c) for c in _children(me))
            self.peak_kib = max(self.peak_kib, total)

    def __enter__(self) -> PssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- set-up ---------------------------------------------------------------------------------
@contextmanager
def database(url: str | None, workdir: Path, keep: bool) -> Iterator[str]:
    if url is None or url.startswith("sqlite"):
        path = workdir / "pd.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        yield url or f"sqlite:///{path}"
        return
    from sqlalchemy import create_engine, text

    from worker.store.db import normalize_url

    schema = f"pd_scale_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalize_url(url))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{normalize_url(url)}{separator}options=-csearch_path%3D{schema}"
    finally:
        if not keep:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def write_config(workdir: Path, url: str, profiles: list[dict[str, Any]], workers: int,
                 feedback: bool = False) -> Path:
    from scaledata import toml

    config = workdir / "config"
    shutil.rmtree(config, ignore_errors=True)
    (config / "subscribers").mkdir(parents=True)
    (workdir / "dumps").mkdir(exist_ok=True)
    (config / "worker.toml").write_text(
        f'database_url = "{url}"\noutput_dir = "{workdir / "out"}"\n'
        f'[[sources]]\nname = "daily"\nkind = "dump_dir"\npath = "{workdir / "dumps"}"\n'
        f'[matching]\nworkers = {workers}\nexample_lookup = ""\n'  # offline: examples are history
        + ('[feedback]\nurl = "https://lab.example.org/digest"\n' if feedback else ""),
        encoding="utf-8")
    for index, profile in enumerate(profiles):
        (config / "subscribers" / f"s{index:05d}.toml").write_text(toml(profile),
                                                                   encoding="utf-8")
    return config


def write_dumps(folder: Path, new: int, history_titles: list[str], seed: int) -> int:
    """`new` new papers in four dumps; each dump also repeats about 8% of another dump's
    papers (the same paper listed twice) and 1% papers from history. Returns entries."""
    import random

    from scaledata import Generator, dump_text

    gen = Generator(seed + 1000)
    gen.serial = 10_000_000  # names unlike history's
    fresh = list(gen.papers(new))
    rng = random.Random(seed)
    parts = [fresh[i::4] for i in range(4)]
    entries = 0
    for index, part in enumerate(parts):
        other = parts[(index + 1) % 4]
        repeats = rng.sample(other, len(other) // 12)
        known = [_known(t) for t in rng.sample(history_titles, max(1, len(part) // 100))]
        listing = part + repeats + known
        rng.shuffle(listing)
        text = dump_text(listing, f"Mar {13 + index}")
        path = folder / f"{index:03d}_daily.txt"
        path.write_text(text, encoding="utf-8")
        stamp = (NOW - timedelta(hours=4 - index)).timestamp()
        os.utime(path, (stamp, stamp))
        entries += len(listing)
    return entries


def _known(title: str) -> Any:
    from scaledata import Paper

    return Paper(title, f"A paper listed again: {title}.", ())


def setup(args: argparse.Namespace, workdir: Path, url: str) -> tuple[Path, dict[str, Any]]:
    import history as hist
    from scaledata import Generator

    from worker.store.opening import open_engine

    figures: dict[str, Any] = {}
    engine = open_engine(url)
    start = time.perf_counter()
    titles = hist.write(engine, hist.History(args.history, NOW - timedelta(days=8),
                                             seed=args.seed))
    figures["history"] = (args.history, time.perf_counter() - start)
    engine.dispose()
    gen = Generator(args.seed)
    profiles = [gen.profile(i, titles) for i in range(args.subscribers)]
    config = write_config(workdir, url, profiles, args.workers, args.feedback)
    # First sight of every subscriber (their cursors start after history): a pass with no
    # new papers, in a child process like the measured one.
    first = child(config, NOW - timedelta(hours=6), stages="sync")
    figures["first_sight"] = first["stages"]["first sight"]
    figures["entries"] = write_dumps(workdir / "dumps", args.new, titles, args.seed)
    return config, figures


# -- the measured pass (child process) ------------------------------------------------------
def child(config: Path, now: datetime, stages: str = "all", smtp_port: int | None = None,
          profile_stage: str | None = None) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(config),
               "--now", now.isoformat(), "--stages", stages]
    if smtp_port:
        command += ["--smtp-port", str(smtp_port)]
    if profile_stage:
        command += ["--profile", profile_stage]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"measured pass failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    if done.stderr.strip():
        print(done.stderr.strip() if profile_stage else done.stderr.strip()[-3000:],
              file=sys.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


class Stages:
    def __init__(self, profile_stage: str | None):
        self.results: dict[str, dict[str, Any]] = {}
        self.profile_stage = profile_stage

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, Any]]:
        import gc

        gc.collect()
        reset_peak()
        info: dict[str, Any] = {}
        profiler = None
        if self.profile_stage and self.profile_stage == name:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001)
            profiler.start()
        start, cpu = time.perf_counter(), time.thread_time()
        with PssSampler() as pss:
            yield info
        info["wall"] = time.perf_counter() - start
        info["cpu"] = time.thread_time() - cpu  # main thread only (not the PSS sampler)
        info["peak"] = peak_mib()
        info["pss"] = pss.peak_kib / 1024
        if profiler is not None:
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False, show_all=False),
                  file=sys.stderr)
        self.results[name] = info


def render_every_digest(config: Any, engine: Any, made: list[Any], config_dir: Path,
                        ) -> dict[str, Any]:
    """The rendering stage's work (see run_child): every digest of `made` ((id, subscriber)
    rows) in its subscriber's forms and, with email, put together; the time of the latter
    and of hashing every form into the fingerprint, to take from the stage's. For the scale
    pass and bench/rendering.py, which replays it on a folder the pass kept. An HTML part over
    worker.clipping's budget is rendered again while the email is put together (its time is
    the assembly's; `compacted` counts them); the fingerprint has the HTML as first rendered."""
    from worker.collector import paced_for_batches
    from worker.digest_mail import assemble_email
    from worker.render import profile_context, render
    from worker.store import outbox

    by_id = {p.id: p for p in config.profiles}
    papers_read: dict[int, Any] = {}
    assembly, hashing, forms = 0.0, 0.0, 0
    assembly_cpu = hashing_cpu = 0.0
    fingerprint, folder = hashlib.sha256(), str(config_dir.resolve().parent)
    compacted, logger = _Counted("render.compacted"), logging.getLogger("paper_digest")
    level = logger.level
    logger.addHandler(compacted)
    logger.setLevel(logging.INFO)  # the event is an info line
    with paced_for_batches():  # as Pipeline.deliver renders
        for start in range(0, len(made), 500):
            chunk = made[start:start + 500]
            loaded = outbox.load_digests(engine, [digest_id for digest_id, _ in chunk],
                                         papers_read)
            for digest_id, sub_id in chunk:
                profile = by_id[sub_id]
                ctx = profile_context(loaded[digest_id], profile, config.settings)
                texts = [render(ctx, "md")] if "markdown" in profile.deliver else []
                if "email" in profile.deliver:
                    text, html = render(ctx, "txt"), render(ctx, "html")
                    texts += [text, html]
                    began, cpu = time.perf_counter(), time.thread_time()
                    assemble_email(ctx, sender=None, text=text, html=html,
                                   templates_dir=config.settings.templates_dir)
                    assembly += time.perf_counter() - began
                    assembly_cpu += time.thread_time() - cpu
                began, cpu = time.perf_counter(), time.thread_time()
                for form in texts:
                    fingerprint.update(form.replace(folder, "").encode("utf-8") + b"\0")
                forms += len(texts)
                hashing += time.perf_counter() - began
                hashing_cpu += time.thread_time() - cpu
    logger.removeHandler(compacted)
    logger.setLevel(level)
    return {"count": len(made), "assembly": assembly, "assembly_cpu": assembly_cpu,
            "hashing": hashing, "hashing_cpu": hashing_cpu, "forms": forms,
            "fingerprint": fingerprint.hexdigest()[:16], "compacted": compacted.count}


class _Counted(logging.Handler):
    """Counts the log records of one event (the `event` of their extra)."""

    def __init__(self, event: str) -> None:
        super().__init__()
        self.event, self.count = event, 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += getattr(record, "event", None) == self.event


def run_child(config_dir: Path, now: datetime, stages: str, smtp_port: int | None,
              profile_stage: str | None) -> dict[str, Any]:
    from sqlalchemy import func, select, update

    from worker.app import Pipeline
    from worker.delivery import channel_for
    from worker.render import forget_pieces
    from worker.settings import load_config
    from worker.smtp_settings import SmtpSettings
    from worker.store.opening import open_engine
    from worker.store.schema import deliveries, digests

    s = Stages(profile_stage)
    with s.stage("load config") as info:
        config = load_config(config_dir, {k: v for k, v in os.environ.items()
                                          if k == FEEDBACK_SECRET})
        engine = open_engine(config.settings.database_url)
        info["count"] = len(config.profiles)
    profiles = config.profiles
    if stages == "sync":
        pipeline = Pipeline(config, engine, now)
        with s.stage("first sight") as info:
            pipeline.sync(profiles)
            info["count"] = len(profiles)
        return {"stages": s.results}
    pipeline = Pipeline(config, engine, now)
    with s.stage("ingest") as info:
        reports = pipeline.ingest()
        info["count"] = sum(r.entries for r in reports)
        info["new"] = sum(r.new_papers for r in reports)
    with s.stage("build digests") as info:
        built = pipeline.build_digests(profiles)
        info["count"] = sum(1 for r in built.values() if r.digest_id)
        info["items"] = sum(r.items for r in built.values())
        info["candidates"] = max((r.candidates for r in built.values()), default=0)
        info["split"] = dict(getattr(pipeline, "timings", {}))
    with engine.connect() as conn:
        made = list(conn.execute(select(digests.c.id, digests.c.subscriber_id)
                                 .where(digests.c.created_at == now).order_by(digests.c.id)))
    # Rendering: every digest in the forms its subscriber gets it in, as delivery renders it
    # (an email: its text and HTML parts; a Markdown file: the .md), from the templates, the
    # digests read from the store 500 at a time (each paper once a pass); then, apart,
    # putting each email together (MIME: headers, quoted-printable parts), which delivery
    # also does. Every form's text goes into a fingerprint (hashed apart from the timing): the
    # same data gives the same one whatever the code, so a change that alters any digest shows.
    # The footer names the subscriber's file: the work folder is left out, so runs in other
    # folders (--workdir) compare too.
    with s.stage("rendering") as info:
        info.update(render_every_digest(config, engine, made, config_dir))
    # Delivery renders again, as a pass does after building: with nothing kept from the
    # rendering stage above (a pass's processes start rendering with empty caches).
    forget_pieces()
    with s.stage("delivery to files") as info:
        sent = Pipeline(config, engine, now).deliver(profiles)
        info["count"] = sum(d.status == "sent" for d in sent)
        info["digests"] = len({d.digest_id for d in sent if d.status == "sent"})
    if smtp_port:
        with engine.begin() as conn:
            conn.execute(update(deliveries).values(status="pending", attempts=0, sent_at=None,
                                                   target=None))
        smtp = SmtpSettings(host="127.0.0.1", port=smtp_port,
                            sender="Paper Digest <digest@example.org>")

        def factory(name: str) -> Any:
            if name == "email":
                from worker.delivery.smtp import SmtpChannel

                return SmtpChannel(smtp)
            return channel_for(name, config.settings)

        with s.stage("delivery to SMTP") as info:
            sent = Pipeline(config, engine, now, channel_factory=factory).deliver(profiles)
            info["count"] = sum(d.status == "sent" and d.channel == "email" for d in sent)
            info["digests"] = len({d.digest_id for d in sent if d.status == "sent"})
    with engine.connect() as conn:
        pending = conn.execute(select(func.count()).select_from(deliveries)
                               .where(deliveries.c.status != "sent")).scalar_one()
    return {"stages": s.results, "not_sent": pending, "peak_total": _total_peak(),
            "workers_peak": _total_peak(children=True)}


def _total_peak(children: bool = False) -> float:
    import resource

    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


# -- SMTP sink ------------------------------------------------------------------------------
@contextmanager
def smtp_sink(workdir: Path) -> Iterator[tuple[int, Callable[[], str]]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    counts = workdir / "smtp-counts.txt"
    counts.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, str(BENCH / "smtp_sink.py"), "--port", str(port),
                             "--count-file", str(counts)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()  # "ready"
    try:
        yield port, lambda: counts.read_text().strip() if counts.exists() else "?"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def machine_speed() -> float:
    """Seconds a bare Python loop of 10**7 additions takes now: how fast this shared machine
    runs at the moment (it varies by hour), printed with the figures so that runs can be
    compared."""
    start, total = time.perf_counter(), 0
    for i in range(10**7):
        total += i
    return time.perf_counter() - start


# -- report ---------------------------------------------------------------------------------
def report(args: argparse.Namespace, url: str, figures: dict[str, Any],
           result: dict[str, Any], smtp_summary: str) -> None:
    from worker.store.db import redact

    st = result["stages"]
    build = st["build digests"]
    split = build.get("split", {})
    print(f"scale: {args.history:,} papers of history, {args.subscribers:,} subscribers, "
          f"{args.new:,} new papers; matching workers {args.workers or 'one per CPU'}; "
          f"{redact(url).split('?')[0]}")
    before, after = figures["speed"]
    print(f"this machine: a bare Python loop of 10^7 additions {before:.2f} s before the pass, "
          f"{after:.2f} s after (compare runs taken at similar speeds)")
    n, secs = figures["history"]
    print(f"set-up: history {n:,} papers in {secs:.1f} s ({n / secs:,.0f} papers/s); first "
          f"sight of {figures['first_sight']['count']:,} subscribers "
          f"{figures['first_sight']['wall']:.2f} s")
    rows = [("load config", st["load config"], "subscribers", None)]
    ingest = st["ingest"]
    rows.append(("ingest", ingest, "papers", None))
    for key, label in (("sync", "subscriber sync"), ("candidates", "candidate selection"),
                       ("examples", "example papers"), ("matching", "matching"),
                       ("digests", "writing digests")):
        if key in split:
            rows.append((label, {"wall": split[key], "peak": build["peak"],
                                 "count": build["count"] if key == "digests"
                                 else args.subscribers}, "subscribers", TARGETS.get(key)))
    rows.append(("build digests (all)", build, "digests", None))
    both = st["rendering"]
    templates = both["wall"] - both["assembly"] - both.get("hashing", 0.0)
    templates_cpu = both["cpu"] - both["assembly_cpu"] - both["hashing_cpu"]
    rows.append(("rendering (templates)", {**both, "wall": templates, "cpu": templates_cpu},
                 "digests", TARGETS["rendering"]))
    rows.append(("email assembly (MIME)", {**both, "wall": both["assembly"],
                                           "cpu": both["assembly_cpu"]}, "digests", None))
    rows.append(("delivery to files", st["delivery to files"], "deliveries", None))
    if "delivery to SMTP" in st:
        rows.append(("delivery to SMTP", st["delivery to SMTP"], "emails", None))
    print(f"{'stage':<22} {'wall s':>8} {'cpu s':>7} {'rate':>22} {'peak RSS MiB':>13}  target")
    for label, info, unit, target in rows:
        rate = info["count"] / info["wall"] if info["wall"] else 0.0
        verdict = "" if target is None else (
            f"<= {target:g} s {'met' if info['wall'] <= target else 'NOT MET'}")
        cpu = f"{info['cpu']:>7.2f}" if "cpu" in info else f"{'':>7}"
        print(f"{label:<22} {info['wall']:>8.2f} {cpu} {rate:>13,.0f} {unit + '/s':<8} "
              f"{info['peak']:>13.0f}  {verdict}")
    print(f"ingest: {ingest['count']:,} entries, {ingest['new']:,} new; digests: "
          f"{build['count']:,} with {build['items']:,} items; candidates per subscriber: "
          f"{build['candidates']:,}; not sent: {result['not_sent']}; forms rendered: "
          f"{both['forms']:,} (fingerprint {both.get('fingerprint', '?')}); HTML parts "
          f"compacted to fit Gmail: {both.get('compacted', 0):,}")
    if smtp_summary:
        print(f"SMTP server received: {smtp_summary}")
    peak = result["peak_total"]
    print(f"peak RSS of the pass: {peak:.0f} MiB (target <= {PEAK_TARGET_MIB} MiB: "
          f"{'met' if peak <= PEAK_TARGET_MIB else 'NOT MET'})")
    pss = max(info.get("pss", 0.0) for info in st.values())
    workers = result.get("workers_peak", 0.0)
    print(f"with the matching worker processes: peak PSS of all processes together "
          f"{pss:.0f} MiB (target <= {PEAK_TARGET_MIB} MiB: "
          f"{'met' if pss <= PEAK_TARGET_MIB else 'NOT MET'}); largest worker's peak RSS "
          f"{workers:.0f} MiB, most of it pages shared with the pass")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--new", type=int, default=2_000)
    parser.add_argument("--database-url", help="default: an SQLite file in the work folder")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=0,
                        help="[matching] workers: 0 (the default) one per CPU, 1 no others")
    parser.add_argument("--workdir", type=Path, default=BENCH / "out" / "scale")
    parser.add_argument("--no-smtp", action="store_true", help="skip the SMTP delivery stage")
    parser.add_argument("--feedback", action="store_true",
                        help="digests with feedback links ([feedback] url and a secret)")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    parser.add_argument("--profile", metavar="STAGE",
                        help="print a pyinstrument profile of one stage (e.g. 'build digests')")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    parser.add_argument("--stages", default="all", help=argparse.SUPPRESS)
    parser.add_argument("--smtp-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = run_child(args.child, datetime.fromisoformat(args.now), args.stages,
                           args.smtp_port, args.profile)
        print(json.dumps(result))
        return
    if args.feedback:  # the children read it from here (a fixed secret: links are data here)
        os.environ[FEEDBACK_SECRET] = "scale-benchmark-feedback-secret"
    workdir = args.workdir.resolve()
    shutil.rmtree(workdir / "out", ignore_errors=True)
    shutil.rmtree(workdir / "dumps", ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    with database(args.database_url, workdir, args.keep) as url:
        config, figures = setup(args, workdir, url)
        speed = machine_speed()
        summary = ""
        if args.no_smtp:
            result = child(config, NOW, profile_stage=args.profile)
        else:
            with smtp_sink(workdir) as (port, counts):
                result = child(config, NOW, smtp_port=port, profile_stage=args.profile)
            summary = counts()
        figures["speed"] = (speed, machine_speed())
        report(args, url, figures, result, summary)
        if args.json:
            args.json.write_text(json.dumps({"figures": figures, "result": result}, indent=1))


if __name__ == "__main__":
    main()
