"""What `[retention] digests` costs a pass: nothing to remove, then a day's digests to remove.

    .venv/bin/python bench/retention.py                  # SQLite: 10,000 subscribers x 30 days
    .venv/bin/python bench/retention.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Writes --days of daily digests for --subscribers (each with --items items and one sent
delivery) straight into the store, as an install that ran that long holds them, then times
worker.retention.apply_retention as `run` calls it after each pass and serve hourly:
- with nothing old enough (the cost every pass pays once the history is pruned: it must not
  grow with the history);
- the day after, when one day's digests are past the cutoff (what a daily install removes).
Prints both, the rows removed, and checks the rows left.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def write_history(engine, subscribers: int, days: int, items: int) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, insert, select

    from worker.store.db import insert_rows
    from worker.store.schema import deliveries, digest_items, digests, papers
    from worker.store.schema import subscribers as subscriber_table

    papers_needed = days * items
    with engine.begin() as conn:
        conn.execute(insert(papers), [
            {"id": n + 1, "title": f"Paper {n}", "title_key": f"paper {n}", "title_hash": n + 1,
             "abstract": "", "first_seen_at": START, "first_seen_seq": 1, "updated_at": START}
            for n in range(papers_needed)])
        conn.execute(insert(subscriber_table), [
            {"id": f"s{s}", "email": None, "name": f"s{s}", "cursor_seq": 1,
             "first_seen_at": START, "fingerprint": "", "updated_at": START}
            for s in range(subscribers)])
        assert conn.execute(select(func.count()).select_from(papers)).scalar() == papers_needed
    digest_id = item_id = 0
    for day in range(days):
        made = START + timedelta(days=day)
        with engine.begin() as conn:
            rows, item_rows, delivery_rows = [], [], []
            for s in range(subscribers):
                digest_id += 1
                rows.append({"id": digest_id, "subscriber_id": f"s{s}", "created_at": made,
                             "message_id": f"<{digest_id}@bench>", "cursor_from": 1,
                             "cursor_to": 1, "item_count": items})
                for i in range(items):
                    item_id += 1
                    item_rows.append((item_id, digest_id, f"s{s}", day * items + i + 1, i, 0.5,
                                      "[]"))
                delivery_rows.append({"digest_id": digest_id, "channel": "markdown",
                                      "status": "sent", "attempts": 1, "sent_at": made})
            conn.execute(insert(digests), rows)
            insert_rows(conn, digest_items, ("id", "digest_id", "subscriber_id", "paper_id",
                                             "rank", "score", "reasons"), item_rows)
            conn.execute(insert(deliveries), delivery_rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--items", type=int, default=15)
    parser.add_argument("--keep-days", type=int, default=7, help="the [retention] digests")
    args = parser.parse_args()

    from scale import database
    from sqlalchemy import func, select

    from worker.retention import RetentionSettings, apply_retention
    from worker.store.opening import open_engine
    from worker.store.schema import digest_items, digests

    retention = RetentionSettings(digests=f"{args.keep_days}d")
    with tempfile.TemporaryDirectory() as tmp, database(args.database_url, Path(tmp),
                                                        False) as url:
        engine = open_engine(url)
        began = time.perf_counter()
        write_history(engine, args.subscribers, args.days, args.items)
        written = time.perf_counter() - began
        total = args.subscribers * args.days
        print(f"retention: {total:,} digests ({total * args.items:,} items) over {args.days} "
              f"days for {args.subscribers:,} subscribers, written in {written:.1f} s; "
              f"{engine.dialect.name}; keep {args.keep_days}d")
        # The first prune removes all but the last keep_days + 1 days (a one-off).
        last = START + timedelta(days=args.days - 1)
        began = time.perf_counter()
        first = apply_retention(engine, retention, last + timedelta(hours=1))
        print(f"  first prune (once, after turning it on): {first.digests:,} digests, "
              f"{first.items:,} items in {time.perf_counter() - began:.1f} s")
        for label, moment in (("nothing old enough", last + timedelta(hours=2)),
                              ("one day's digests old enough", last + timedelta(days=1, hours=1))):
            began = time.perf_counter()
            removed = apply_retention(engine, retention, moment)
            took = time.perf_counter() - began
            print(f"  {label}: {took * 1000:,.1f} ms, {removed.digests:,} digests and "
                  f"{removed.items:,} items removed")
        with engine.connect() as conn:
            left = conn.execute(select(func.count()).select_from(digests)).scalar()
            items = conn.execute(select(func.count()).select_from(digest_items)).scalar()
        # A day past the last digest, with `keep_days`: the digests of the keep_days - 1 days
        # made less than keep_days before it.
        expected = (args.keep_days - 1) * args.subscribers
        assert left == expected and items == expected * args.items, (left, items)
        print(f"  left: {left:,} digests, {items:,} items ({args.keep_days - 1} days)")
        engine.dispose()


if __name__ == "__main__":
    main()
