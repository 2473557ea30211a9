"""Tables. Changing one means a new Alembic revision in worker/store/migrations/versions/."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC out, on SQLite (no zone support) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if getattr(dialect, "name", "") == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

papers = Table(
    "papers", metadata,
    Column("id", Integer, primary_key=True),
    Column("arxiv_id", String(64), unique=True),
    Column("version", Integer),
    Column("title", Text, nullable=False),
    Column("title_key", Text, nullable=False),
    Column("abstract", Text, nullable=False),
    Column("authors", Text, nullable=False, server_default="[]"),  # JSON list of names
    Column("link_abstract", Text),
    Column("link_pdf", Text),
    Column("link_code", Text),
    Column("link_project", Text),
    Column("published", UTCDateTime),
    Column("upvotes", Integer),
    Column("first_seen_at", UTCDateTime, nullable=False),
    # The ingest sequence number of the dump that first listed the paper; subscriber cursors
    # count in these, so "new" never depends on clocks agreeing.
    Column("first_seen_seq", Integer, nullable=False, index=True),
    Column("updated_at", UTCDateTime, nullable=False),
    # worker.records.title_hash(title_key), which ingest looks titles up by (migration 0005;
    # NOT NULL on PostgreSQL: SQLite cannot add the constraint to an existing table).
    Column("title_hash", BigInteger, nullable=False),
)
# Two papers without an id cannot share a title (a paper with an id may), and ingest looks
# papers up by title: one index does both (its first column serves the lookups), so each new
# paper is written into one random-keyed index, not two (migration 0004). It holds title
# hashes, not the keys (migration 0005): about three times more entries a page, so a day's
# papers rewrite about a third fewer of its pages. Two different titles of papers without an
# id that share a 64-bit hash (about 1 in 3.7e7 at a million papers) would be refused as one
# title. No dialect options either: those would make SQLAlchemy import the PostgreSQL dialect
# on SQLite too.
Index("uq_papers_title_hash", papers.c.title_hash, func.coalesce(papers.c.arxiv_id, ""),
      unique=True)

# The other titles a paper with an arXiv id was listed under with that id (arXiv retitled it in
# a new version; one source lists the old title, another the new one), by their title keys
# (migration 0013). Ingest looks titles up here too, so a text dump (titles only) listing
# either title lists a known paper. A row is written only when a paper found by its id comes
# with a title key it does not have yet, so a new paper costs nothing here. One index: the
# primary key, whose first column serves the lookups by hash; removing a paper (nothing does)
# scans this small table for its rows. A key a migration changes (0012) must change here too.
paper_titles = Table(
    "paper_titles", metadata,
    Column("title_hash", BigInteger, primary_key=True, autoincrement=False),
    Column("paper_id", Integer, ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False),
    Column("title_key", Text, nullable=False),
)

dumps = Table(
    "dumps", metadata,
    Column("id", Integer, primary_key=True),
    Column("source", String(64), nullable=False),
    Column("locator", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # ingested | failed
    Column("seq", Integer),
    Column("listing_date", Date),
    Column("fetched_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("entries", Integer, nullable=False, server_default="0"),
    Column("new_papers", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    UniqueConstraint("content_hash", "status"),
)

sightings = Table(
    "sightings", metadata,
    Column("id", Integer, primary_key=True),
    Column("paper_id", Integer, ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("dump_id", Integer, ForeignKey("dumps.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("listing_date", Date),
    Column("position", Integer, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
    UniqueConstraint("paper_id", "dump_id"),
)

subscribers = Table(
    "subscribers", metadata,
    Column("id", String(64), primary_key=True),
    Column("email", Text),
    Column("name", Text, nullable=False),
    Column("cursor_seq", Integer, nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("fingerprint", String(32), nullable=False, server_default=""),
    Column("updated_at", UTCDateTime, nullable=False),
    # When the reader unsubscribed with the link in a digest (worker.feedback); NULL while
    # subscribed. Kept in the database, not the file: it outlives edits and a file restored.
    Column("unsubscribed_at", UTCDateTime),
    # Who reads under this id (worker.readers, migration 0011). A file name is reused: the
    # lab's next "alex" must not inherit the last one's cursor, marks or unsubscribe, nor be
    # reachable through the links in the last one's digests. `generation` counts the readers
    # the id has had (0 for every subscriber made before 0011: their links stay as they were)
    # and is signed into every feedback and unsubscribe link; `removed_at` is when a pass (or
    # serve's reload) found the file gone, NULL while it is there; `forgotten_at` is when
    # `paper-digest forget` wiped the id's state: its next file starts afresh.
    Column("generation", Integer, nullable=False, server_default="0"),
    Column("removed_at", UTCDateTime),
    Column("forgotten_at", UTCDateTime),
)

digests = Table(
    "digests", metadata,
    Column("id", Integer, primary_key=True),
    Column("subscriber_id", String(64), ForeignKey("subscribers.id"), nullable=False,
           index=True),
    # indexed for [retention] digests, which removes the old ones (worker.store.retention)
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("message_id", String(255), nullable=False, unique=True),
    Column("cursor_from", Integer, nullable=False),
    Column("cursor_to", Integer, nullable=False),
    Column("item_count", Integer, nullable=False),
    Column("below_threshold", Integer, nullable=False, server_default="0"),
    Column("slot", String(64)),  # schedule slot claimed by this digest (serve / run --due)
    UniqueConstraint("subscriber_id", "slot"),
)

digest_items = Table(
    "digest_items", metadata,
    Column("id", Integer, primary_key=True),
    Column("digest_id", Integer, ForeignKey("digests.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("subscriber_id", String(64), nullable=False),
    Column("paper_id", Integer, ForeignKey("papers.id"), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("score", Float, nullable=False),
    Column("reasons", Text, nullable=False),  # JSON list of reasons, kept as rendered
    # A subscriber gets a paper at most once, ever: the database says so, not only the code.
    UniqueConstraint("subscriber_id", "paper_id"),
)

deliveries = Table(
    "deliveries", metadata,
    Column("id", Integer, primary_key=True),
    Column("digest_id", Integer, ForeignKey("digests.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # pending | sent | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime),
    Column("lease_owner", String(64)),
    Column("lease_until", UTCDateTime),
    Column("last_error", Text),
    Column("sent_at", UTCDateTime),
    Column("target", Text),
    UniqueConstraint("digest_id", "channel"),
    Index("ix_deliveries_status_next", "status", "next_attempt_at"),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("status", String(16), nullable=False),  # running | ok | partial | failed
    Column("stats", Text),
    Column("error", Text),
)

counters = Table(
    "counters", metadata,
    Column("name", String(32), primary_key=True),
    Column("value", Integer, nullable=False),
)

http_cache = Table(
    "http_cache", metadata,
    Column("url", Text, primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("updated_at", UTCDateTime, nullable=False),
)

# A server (host[:port]) that asked to be left alone until a time (`Retry-After` longer than a
# run waits): no request goes to it before then, whichever run or process asks.
http_holds = Table(
    "http_holds", metadata,
    Column("host", String(255), primary_key=True),
    Column("until", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("set_at", UTCDateTime, nullable=False),
)

# One row per subscriber and schedule slot that was handled (or is being handled): the claim
# that makes "one digest per slot" a database fact, also when the digest came out empty and
# no digests row was written. Inserting the row is the claim; a double fire loses on the key.
slot_claims = Table(
    "slot_claims", metadata,
    Column("subscriber_id", String(64), ForeignKey("subscribers.id"), primary_key=True),
    Column("slot", String(32), primary_key=True),  # UTC ISO instant, sorts like time
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("owner", String(80), nullable=False),  # the worker that claimed it
    Column("finished_at", UTCDateTime),  # NULL while the digest is being built
    Column("digest_id", Integer),  # NULL when nothing was new (or an empty digest not kept)
)

# serve's liveness, written every [serve] heartbeat; `paper-digest health` reads it.
heartbeats = Table(
    "heartbeats", metadata,
    Column("worker", String(80), primary_key=True),
    Column("host", String(64), nullable=False, index=True),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("beat_at", UTCDateTime, nullable=False),
)

source_status = Table(
    "source_status", metadata,
    Column("name", String(64), primary_key=True),
    Column("last_success_at", UTCDateTime),
    Column("last_error", Text),
    Column("last_error_at", UTCDateTime),
    Column("error_since", UTCDateTime),
)

# One sentence embedding per paper and model (the `semantic` extra), so each paper is embedded
# once however many subscribers and runs compare it. `text_hash` is of the text embedded: an
# abstract filled in later makes the stored vector stale, and it is then embedded again.
paper_embeddings = Table(
    "paper_embeddings", metadata,
    Column("paper_id", Integer, ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("model", String(128), primary_key=True),
    Column("dim", Integer, nullable=False),
    Column("text_hash", String(32), nullable=False),
    Column("vector", LargeBinary, nullable=False),  # `dim` little-endian float32s
    Column("created_at", UTCDateTime, nullable=False),
)

# Papers a subscriber marked after reading (`paper-digest mark`): further like/unlike examples
# beside those in the profile file. No foreign key to subscribers: a subscriber is a file, and
# may mark papers before its first digest makes its row.
paper_marks = Table(
    "paper_marks", metadata,
    Column("subscriber_id", String(64), primary_key=True),
    Column("paper_id", Integer, ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("verdict", String(8), nullable=False),  # like | unlike
    Column("marked_at", UTCDateTime, nullable=False),
)

# `like`/`unlike` papers given by arXiv id that no source has listed, looked up on arXiv's
# export API once (worker.examples). Kept apart from `papers`: a paper here has not been
# listed by any source, so it is not "seen" and stays new to everyone when a source lists it;
# from then on the stored paper is the example. `found` false: arXiv answered without it (a
# typo, a paper not yet announced), asked again after worker.examples.ASK_AGAIN.
example_papers = Table(
    "example_papers", metadata,
    Column("id", Integer, primary_key=True),  # an example's paper id is minus this
    Column("arxiv_id", String(64), nullable=False, unique=True),
    Column("found", Boolean, nullable=False),
    Column("version", Integer),
    Column("title", Text, nullable=False, server_default=""),
    Column("abstract", Text, nullable=False, server_default=""),
    Column("authors", Text, nullable=False, server_default="[]"),  # JSON list of names
    Column("looked_up_at", UTCDateTime, nullable=False),
)

# `like`/`unlike` titles that no source has listed, searched for on arXiv by title
# (worker.examples): the arXiv id of the paper with exactly that title (its paper is then in
# example_papers, refreshed as any id is), or NULL when arXiv had none, asked again after
# worker.examples.ASK_TITLE_AGAIN; then `near_id`/`near_title`, a paper whose title holds the
# one asked for, if the search gave one (what the subscriber may have meant). Keyed by
# worker.records.title_hash of the title key.
example_titles = Table(
    "example_titles", metadata,
    Column("title_hash", BigInteger, primary_key=True, autoincrement=False),
    Column("title_key", Text, nullable=False),
    Column("arxiv_id", String(64)),
    Column("near_id", String(64)),
    Column("near_title", Text),
    Column("looked_up_at", UTCDateTime, nullable=False),
)
