"""A subscriber's `[interests]` table, as typed data. Validated by worker.settings."""

from __future__ import annotations

from dataclasses import dataclass, field

# The fields of a paper that are matched (each with its weight in `field_weights`).
FIELDS = ("title", "abstract")


@dataclass(frozen=True)
class Interests:
    """What a subscriber wants to read about.

    keywords  words or multi-word terms; any hit counts. Multi-word terms match as phrases;
              words written with spaces (`referring expression`) also count, for half, when
              they occur within three words of each other in any order
    phrases   exact phrases (kept apart from keywords so users can say "this exact wording")
    query     boolean query: AND / OR / NOT, parentheses, "quoted phrases"; a gate when given
    exclude   terms that rule a paper out (or only demote it when exclude_mode = "demote")
    like      example papers the subscriber likes, by arXiv id or title
    unlike    example papers the subscriber does not want more of
    synonyms  acronym or term -> expansions that count as the same term
    field_weights  how much a hit in each field counts, e.g. { title = 3.0, abstract = 1.0 }
              (the defaults); a field left out keeps its default
    """

    keywords: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    query: str | None = None
    exclude: tuple[str, ...] = ()
    exclude_mode: str = "drop"  # "drop" | "demote"
    like: tuple[str, ...] = ()
    unlike: tuple[str, ...] = ()
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    field_weights: dict[str, float] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not (self.keywords or self.phrases or self.query or self.like)
