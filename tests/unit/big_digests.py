"""Digests of many items, deterministic and made of our own words, for the tests of the HTML
email's size (test_render_clip.py): titles, abstracts and author lists of varied lengths,
some links missing, highlighted terms, and feedback and unsubscribe links as serve makes them.
Every paper has a page to link to unless asked otherwise (`unlinked`)."""

from __future__ import annotations

from tests.unit.test_render_golden import CREATED, _paper
from worker.feedback import Links as FeedbackLinks
from worker.records import Links
from worker.render import DigestContext, digest_context
from worker.store.models import Digest, DigestItem

FEEDBACK = FeedbackLinks("https://lab.example.org/digest", "s3cret-s3cret-s3cret")

_SUBJECTS = ("Hallucination", "Visual grounding", "Referring segmentation", "Chart reading",
             "Document OCR", "Video captioning", "Open-vocabulary detection")
_CLAIMS = ("curbing {s} with contrastive decoding", "a benchmark for {s} under distribution "
           "shift", "what {s} models get wrong about small objects", "{s} at scale, cheaply",
           "revisiting {s}: simple baselines that hold up")
_SENTENCES = ("We study {s} in vision-language models and find that the language prior often "
              "overrides what the image shows.", "We propose a training-free method that "
              "compares predictions with and without the visual input.", "Across five "
              "benchmarks it reduces errors by a fifth while keeping fluency.", "We release "
              "code, data and a leaderboard.", "Ablations show the gain comes from the early "
              "layers.", "A user study with 40 annotators confirms the improvement.")
_NAMES = ("Mira Okafor", "Jun Tanaka", "Lena Fischer", "Omar Haddad", "Priya Raman",
          "Tomás Ruiz", "Ana Petrović")


def _item(n: int, linked: bool = True) -> DigestItem:
    subject = _SUBJECTS[n % len(_SUBJECTS)]
    title = f"{subject}: {_CLAIMS[n % len(_CLAIMS)].format(s=subject.lower())}"
    if n % 4 == 0:
        title += " (extended version with further experiments)"
    abstract = " ".join(s.format(s=subject.lower()) for s in _SENTENCES[:2 + n % 5])
    arxiv_id = f"2611.{n:05d}" if n % 6 and linked else None
    links = (Links.for_arxiv(arxiv_id, code="https://github.com/example/p" + str(n)
                             if n % 3 == 0 else None) if arxiv_id
             else Links(project=f"https://example.org/papers/{n}") if linked
             else Links())  # as a text dump lists a paper: no id, no link
    paper = _paper(n, title, abstract, arxiv_id=arxiv_id,
                   authors=_NAMES[:1 + n % len(_NAMES)], links=links)
    reasons = [{"kind": "keyword", "text": f"title mentions “{subject.lower()}”",
                "field": "title", "terms": [subject], "weight": 0.6,
                "interest": subject.lower()}]
    if n % 2:
        reasons.append({"kind": "keyword", "text": "abstract mentions “vision-language”",
                        "field": "abstract", "terms": ["vision-language"], "weight": 0.2,
                        "interest": "vision-language"})
    return DigestItem.from_reasons(n, round(0.95 - n / 250, 2), reasons, paper)


def big_digest(count: int, unlinked: int = 0) -> Digest:
    """`count` papers, of which every `unlinked`-th (1: all; 0: none) has no link."""
    return Digest(7, "ada", CREATED, "<digest.abc123.ada@example.org>", count, 4, 0, 5,
                  tuple(_item(n, not unlinked or n % unlinked != 0)
                        for n in range(1, count + 1)))


def big_context(count: int, *, feedback: bool = True, unlinked: int = 0,  # type: ignore[no-untyped-def]
                **kw) -> DigestContext:
    """The context of a `count`-item digest for Ada, with serve's feedback and unsubscribe
    links unless `feedback` is false, every `unlinked`-th paper without links (big_digest);
    `kw` go to digest_context."""
    return digest_context(big_digest(count, unlinked), name="Ada Lovelace",
                          email="ada@example.org",
                          profile_file="config/subscribers/ada.toml", timezone="Europe/Berlin",
                          feedback=FEEDBACK if feedback else None, **kw)
