"""The cyclic garbage collector's pace during a pass's batch work: matching and delivery.

CPython collects its youngest generation every 700 container objects allocated (net of those
freed). Matching allocates them fast (each paper's breakdown, term scores, reasons) while the
batch's tokenized papers stay alive; so does delivery (rows, papers and items held for a
batch, Jinja contexts, item views and the pieces cached for the next digest). At the default
pace a delivery pass at institute scale (10,000 digests) ran ~1,300 collections, and each
walked the batch's live objects again: ~1-2 s of CPU that freed almost nothing (about a
thousand objects in all, the rest is freed by reference counting as usual). During a pass the
first threshold is raised instead, so the collector runs a few times per pass; what waits for
it meanwhile is bounded by the threshold (tens of thousands of small objects at most, a few
MB). The previous pace comes back after.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

PASS_THRESHOLD = 50_000  # net container allocations between young collections during a pass


@contextmanager
def paced_for_batches(threshold: int = PASS_THRESHOLD) -> Iterator[None]:
    """Run the block with the youngest generation's threshold at least `threshold`; the
    thresholds in force before are restored after (a nested use keeps the outer's; a
    threshold of 0, collection switched off, stays off)."""
    before = gc.get_threshold()
    gc.set_threshold(before[0] and max(threshold, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
