"""Parse throughput (papers per second) of each source parser on the shared fixtures.

    .venv/bin/python bench/parsers.py [--seconds 1.0]

Reads ../shared (fixtures and seeds) beside the repo; rows whose input is absent are skipped.
Rows marked "built" wrap real fixture content in a realistic page size (a 30-paper HF page
from the API capture, a 200-item RSS feed from the spec's example item, a 600-entry listing
from the excerpt's entries), because the
excerpts hold 1-3 papers and would mostly measure per-call overhead. Exits 1 when a parser
falls below its floor: a day of any source (~2,000 papers at most) must parse in seconds,
and a hostile HTML page (constructs left open, over and over) as fast as any other page:
Python's own html.parser took minutes for 80 KB of `<a` before CPython's fix for gh-135462,
which the Python 3.11 here predates; the HTML kinds parse with lxml.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker.errors import ParseError
from worker.sources import arxiv_api, arxiv_listing, arxiv_rss, dump_url, hf_api, hf_papers

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIX = SHARED / "fixtures"
NOW = datetime(2026, 9, 28, tzinfo=UTC)
FLOOR = 200.0  # papers per second, every parser
HOSTILE_FLOOR = 1.0  # MB per second: a page at the size limit (25 MiB) within half a minute


def _hf_page_from_api() -> bytes:
    items = json.loads((FIX / "hf_api" / "daily_papers_2026-06-12.json").read_bytes())
    props = html.escape(json.dumps({"dateString": "2026-06-12", "dailyPapers": items}))
    filler = "<div class='card'>" + "x" * 2000 + "</div>"  # the markup the strainer skips
    return (f"<html><body>{filler * 100}<div data-target=\"DailyPapers\" "
            f"data-props=\"{props}\"></div>{filler * 50}</body></html>").encode()


def _rss_from_spec(copies: int = 200) -> bytes:
    text = (FIX / "arxiv" / "arxiv_docs_rss_specifications.md").read_text(encoding="utf-8")
    item = "".join(re.findall(r"```\n(.*?)```", text.split("## RSS Item Elements")[1], re.S))
    items = "".join(f"<item>{item.replace('2203.01250', f'2203.{10000 + n}')}</item>"
                    for n in range(copies))
    return ('<?xml version="1.0"?><rss version="2.0" xmlns:arxiv="http://arxiv.org/schemas/atom"'
            ' xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>t</title>'
            f"{items}</channel></rss>").encode()


def _listing_built(copies: int = 200) -> bytes:
    page = (FIX / "arxiv" / "arxiv_list_cs.IT_new_2026-09-28_excerpt.html").read_text("utf-8")
    start, end = page.index("<dt>"), page.rindex("</dd>") + len("</dd>")
    return (page[:start] + page[start:end] * copies + page[end:]).encode()


def _cases() -> list[tuple[str, str, list[bytes], Callable[[bytes], int]]]:
    atom = sorted(p for p in (FIX / "arxiv").glob("*.xml") if "error" not in p.name)
    seeds = sorted((SHARED / "seeds").glob("*.txt"))
    return [
        ("hf_api", "daily_papers_2026-06-12.json",
         [(FIX / "hf_api" / "daily_papers_2026-06-12.json")], lambda b: len(hf_api.parse(b, "b"))),
        ("hf_papers", "papers_2026-09-28_excerpt.html",
         [(FIX / "hf" / "papers_2026-09-28_excerpt.html")], lambda b: len(hf_papers.parse(b, "b"))),
        ("hf_papers", "built: 30 API items in a 0.5 MB page", [_hf_page_from_api],
         lambda b: len(hf_papers.parse(b, "b"))),
        ("arxiv_api", f"{len(atom)} Atom fixtures", atom, lambda b: len(arxiv_api.parse(b, "b"))),
        ("arxiv_rss", "built: spec item x 200", [_rss_from_spec],
         lambda b: len(arxiv_rss.parse(b, "b", revisions="include"))),
        ("arxiv_listing", "arxiv_list_cs.IT_new excerpt",
         [(FIX / "arxiv" / "arxiv_list_cs.IT_new_2026-09-28_excerpt.html")],
         lambda b: len(arxiv_listing.parse(b, "b", strict=False))),
        ("arxiv_listing", "built: excerpt entries x 200", [_listing_built],
         lambda b: len(arxiv_listing.parse(b, "b", strict=False))),
        ("dump_url", f"{len(seeds)} seed dumps", seeds,
         lambda b: len(dump_url.parse(b, "b", NOW)[0])),
    ]


def _hostile() -> list[tuple[str, bytes, Callable[[bytes], object]]]:
    """Pages of one construct left open many times: not papers, so each parse fails (its
    ParseError is the answer); what counts is how long it takes to say so."""
    def failing(parse: Callable[[bytes], object]) -> Callable[[bytes], object]:
        def run(body: bytes) -> object:
            try:
                return parse(body)
            except ParseError as exc:
                return exc
        return run

    pages = [("'<a' x 400,000", b"<a" * 400_000), ("'<!--' x 200,000", b"<!--" * 200_000)]
    return [(f"{kind}: {label}", body, failing(parse)) for label, body in pages
            for kind, parse in (("hf_papers", lambda b: hf_papers.parse(b, "h")),
                                ("arxiv_listing", lambda b: arxiv_listing.parse(b, "h")))]


def _load(inputs: list) -> list[bytes] | None:
    try:
        return [i() if callable(i) else i.read_bytes() for i in inputs] or None
    except OSError:
        return None


def measure(bodies: list[bytes], parse: Callable[[bytes], int], seconds: float
            ) -> tuple[int, float, float]:
    """(papers per pass, papers/s, MB/s) over repeated passes for at least `seconds`."""
    papers = sum(parse(b) for b in bodies)  # warm-up, and the count
    size = sum(len(b) for b in bodies)
    passes, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or passes < 3:
        for body in bodies:
            parse(body)
        passes += 1
    return papers, papers * passes / elapsed, size * passes / elapsed / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    print(f"{'parser':<14} {'input':<40} {'papers':>6} {'papers/s':>10} {'MB/s':>7}")
    slow = []
    for kind, label, inputs, parse in _cases():
        bodies = _load(inputs)
        if bodies is None:
            print(f"{kind:<14} {label:<40} {'skipped (input absent)':>25}")
            continue
        papers, rate, mbps = measure(bodies, parse, args.seconds)
        flag = "" if rate >= FLOOR else f"  below {FLOOR:.0f}/s"
        print(f"{kind:<14} {label:<40} {papers:>6} {rate:>10,.0f} {mbps:>7.1f}{flag}")
        if flag:
            slow.append(kind)
    print(f"\n{'hostile page':<55} {'MB':>6} {'seconds':>8} {'MB/s':>7}")
    for label, body, parse in _hostile():
        start = time.perf_counter()
        parse(body)
        elapsed = time.perf_counter() - start
        mbps = len(body) / 1e6 / elapsed
        flag = "" if mbps >= HOSTILE_FLOOR else f"  below {HOSTILE_FLOOR:g} MB/s"
        print(f"{label:<55} {len(body) / 1e6:>6.1f} {elapsed:>8.3f} {mbps:>7.1f}{flag}")
        if flag:
            slow.append(label)
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
