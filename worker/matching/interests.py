"""A subscriber's `[interests]` table, as typed data. Validated by worker.settings."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Interests:
    """What a subscriber wants to read about.

    keywords  words or multi-word terms; any hit counts (multi-word terms match as phrases)
    phrases   exact phrases (kept apart from keywords so users can say "this exact wording")
    query     boolean query: AND / OR / NOT, parentheses, "quoted phrases"; a gate when given
    exclude   terms that rule a paper out (or only demote it when exclude_mode = "demote")
    like      example papers the subscriber likes, by arXiv id or title
    unlike    example papers the subscriber does not want more of
    synonyms  acronym or term -> expansions that count as the same term
    """

    keywords: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    query: str | None = None
    exclude: tuple[str, ...] = ()
    exclude_mode: str = "drop"  # "drop" | "demote"
    like: tuple[str, ...] = ()
    unlike: tuple[str, ...] = ()
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not (self.keywords or self.phrases or self.query or self.like)
