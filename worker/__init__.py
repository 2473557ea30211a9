"""paper-digest: turns pages that list new research papers into personal, explained digests."""

__version__ = "0.1.0"
# The database schema this version writes: the newest revision in store/migrations/versions
# (`--version` says it; a database another version left at another revision is upgraded by
# `run` or `serve`, or refused when it is newer).
__schema__ = "0014"
