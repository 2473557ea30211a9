"""paper-digest: turns pages that list new research papers into personal, explained digests."""

__version__ = "0.1.0"
