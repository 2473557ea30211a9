"""Plain dataclasses the store returns; nothing outside worker.store sees a row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from worker.records import Links


@dataclass(frozen=True)
class StoredPaper:
    id: int
    title: str
    abstract: str
    arxiv_id: str | None
    version: int | None
    authors: tuple[str, ...]
    links: Links
    published: datetime | None
    upvotes: int | None
    first_seen_at: datetime
    first_seen_seq: int
    listing_date: date | None = None  # earliest listing date among its sightings, when asked

    @property
    def key(self) -> str:
        return f"arxiv:{self.arxiv_id}" if self.arxiv_id else f"paper:{self.id}"

    @classmethod
    def from_row(cls, row: Any, listing_date: date | None = None) -> StoredPaper:
        return cls(
            id=row.id, title=row.title, abstract=row.abstract, arxiv_id=row.arxiv_id,
            version=row.version, authors=tuple(json.loads(row.authors or "[]")),
            links=Links(row.link_abstract, row.link_pdf, row.link_code, row.link_project),
            published=row.published, upvotes=row.upvotes, first_seen_at=row.first_seen_at,
            first_seen_seq=row.first_seen_seq, listing_date=listing_date,
        )


@dataclass(frozen=True)
class IngestResult:
    dump_id: int
    seq: int
    entries: int
    new_papers: int
    known_papers: int
    gained_ids: int  # papers first known by title that this dump gave an arXiv id


@dataclass(frozen=True)
class SubscriberState:
    id: str
    cursor_seq: int
    first_seen_at: datetime
    created: bool = False


@dataclass(frozen=True)
class ItemSpec:
    """An item to put in a new digest."""

    paper_id: int
    score: float
    reasons: str  # as stored: a JSON list of reason objects (worker.matching.Reason.to_json)


@dataclass(frozen=True)
class SubscriberInfo:
    """What the config says of a subscriber, for recording it (cursors.sync_subscribers)."""

    id: str
    email: str | None
    name: str
    fingerprint: str
    start_seq: int  # the cursor it starts with when it is new


@dataclass(frozen=True)
class DigestSpec:
    """A digest to write for one subscriber (outbox.create_digests)."""

    subscriber_id: str
    expected_cursor: int  # the cursor its candidates were read with
    items: Sequence[ItemSpec]
    channels: Sequence[str]
    below_threshold: int
    message_id: str
    keep_empty: bool = False


@dataclass(frozen=True)
class DigestItem:
    """One paper of a stored digest. Its reasons stay the JSON text they are stored as until
    asked for: delivery reads digests hundreds at a time, and their reasons decoded (~8
    containers an item) and held for the whole batch survived into the collector's oldest
    generation and set off ~20 full garbage collections a pass at scale. Decoded per digest
    as it is rendered, they are freed with it."""

    rank: int
    score: float
    stored_reasons: str  # JSON list of reason dicts, as outbox writes it
    paper: StoredPaper

    @property
    def reasons(self) -> list[dict[str, Any]]:
        """Decoded afresh on each access (a new list): read it once per use."""
        return json.loads(self.stored_reasons)

    @classmethod
    def from_reasons(cls, rank: int, score: float, reasons: Sequence[dict[str, Any]],
                     paper: StoredPaper) -> DigestItem:
        """An item from reasons in memory (a preview, a test), stored as outbox stores them."""
        return cls(rank, score, json.dumps(list(reasons), ensure_ascii=False), paper)


@dataclass(frozen=True)
class Digest:
    id: int
    subscriber_id: str
    created_at: datetime
    message_id: str
    item_count: int
    below_threshold: int
    cursor_from: int
    cursor_to: int
    items: tuple[DigestItem, ...] = ()
    # its reader's generation (worker.readers), which its feedback and unsubscribe links sign
    generation: int = 0


@dataclass(frozen=True)
class DeliveryJob:
    """A claimed delivery: the caller must mark it sent, retry or failed."""

    id: int
    digest_id: int
    subscriber_id: str
    channel: str
    attempts: int  # including this one
    lease_owner: str


@dataclass(frozen=True)
class DeliveryState:
    digest_id: int
    subscriber_id: str
    channel: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    last_error: str | None
    sent_at: datetime | None
    target: str | None
    message_id: str
    item_count: int


@dataclass(frozen=True)
class SourceState:
    name: str
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    error_since: datetime | None


@dataclass(frozen=True)
class RunState:
    id: int
    kind: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
