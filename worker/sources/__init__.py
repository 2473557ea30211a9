"""Source kinds, keyed by the `kind` string users write in worker.toml.

Adding a kind is one module and one line here. Modules are imported only when a configured
source uses them, so a run that reads a folder never imports the HTTP stack.
"""

from __future__ import annotations

import importlib

from worker.sources.base import (
    Dump,
    DumpFailure,
    Source,
    SourceContext,
    SourceWarning,
    Unchanged,
)

__all__ = ["KINDS", "Dump", "DumpFailure", "Source", "SourceContext", "SourceWarning",
           "Unchanged", "source_class"]

KINDS: dict[str, str] = {
    "dump_dir": "worker.sources.dump_dir:DumpDirSource",
    "dump_url": "worker.sources.dump_url:DumpUrlSource",
    "hf_papers": "worker.sources.hf_papers:HfPapersSource",
    "hf_api": "worker.sources.hf_api:HfApiSource",
    "arxiv_api": "worker.sources.arxiv_api:ArxivApiSource",
    "arxiv_rss": "worker.sources.arxiv_rss:ArxivRssSource",
    "arxiv_listing": "worker.sources.arxiv_listing:ArxivListingSource",
}


def source_class(kind: str) -> type[Source]:
    """The class for `kind`; KeyError when the kind is unknown."""
    module_name, _, attr = KINDS[kind].partition(":")
    cls: type[Source] = getattr(importlib.import_module(module_name), attr)
    return cls
