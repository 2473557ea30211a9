"""`group_by = "interest"`: the digest in sections, one per interest that matched."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from tests.unit.test_render_golden import CREATED, _paper
from worker.render import EXAMPLE_GROUP, OTHER_GROUP, digest_context, render
from worker.settings import load_config
from worker.store.models import Digest, DigestItem


def _reason(kind: str, weight: float, interest: str | None = None) -> dict[str, object]:
    return {"kind": kind, "text": f"{kind} reason", "field": "title", "terms": [],
            "weight": weight, "interest": interest}


def _digest() -> Digest:
    reasons = [
        [_reason("keyword", 0.6, "grounding"), _reason("keyword", 0.2, "OCR")],
        [_reason("exclude", -0.3, "survey"), _reason("phrase", 0.5, "OCR")],
        [_reason("keyword", 0.4, "grounding")],
        [_reason("example", 0.3)],
        [{"kind": "keyword", "text": "stored before reasons named their interest",
          "weight": 0.2}],
    ]
    items = tuple(DigestItem.from_reasons(n + 1, 0.9 - n / 10, r,
                                          _paper(n + 1, f"Paper {n + 1}", "Text."))
                  for n, r in enumerate(reasons))
    return Digest(3, "ada", CREATED, "<d3@example.org>", len(items), 0, 0, 9, items)


def _context(group_by: str):  # type: ignore[no-untyped-def]
    return digest_context(_digest(), name="Ada", email=None, profile_file=None,
                          group_by=group_by)


def test_sections_in_order_of_their_best_paper() -> None:
    ctx = _context("interest")
    assert [(g.label, [i.title for i in g.items]) for g in ctx.groups] == [
        ("grounding", ["Paper 1", "Paper 3"]),
        ("OCR", ["Paper 2"]),
        (EXAMPLE_GROUP, ["Paper 4"]),
        (OTHER_GROUP, ["Paper 5"]),
    ]
    # Numbered in the order shown; the context's items follow that order too.
    assert [i.rank for g in ctx.groups for i in g.items] == [1, 2, 3, 4, 5]
    assert [i.title for i in ctx.items] == ["Paper 1", "Paper 3", "Paper 2", "Paper 4",
                                            "Paper 5"]


def test_a_paper_goes_under_the_interest_its_reasons_weigh_most() -> None:
    """A term's weight is split between its title and abstract reasons: summed, it can
    outweigh a stronger single reason (a filter word of the query that stands in the title)."""
    from worker.render import interest_label

    reasons = [_reason("query", 0.44, "multimodal"), _reason("keyword", 0.30, "hallucination"),
               _reason("keyword", 0.26, "hallucination"), _reason("exclude", -0.5, "survey")]
    assert interest_label(reasons) == "hallucination"
    assert interest_label([_reason("example", 0.2), _reason("keyword", 0.1, "x")]) == \
        EXAMPLE_GROUP
    assert interest_label([_reason("exclude", -0.2, "x")]) == OTHER_GROUP


def test_markdown_has_a_heading_per_section_and_titles_below() -> None:
    tokens = MarkdownIt("commonmark").parse(render(_context("interest"), "md"))
    headings = [(tokens[i].tag, tokens[i + 1].content) for i, t in enumerate(tokens)
                if t.type == "heading_open"]
    assert headings == [("h1", "Paper digest for Ada"), ("h2", "grounding"),
                        ("h3", "1. Paper 1"), ("h3", "2. Paper 3"), ("h2", "OCR"),
                        ("h3", "3. Paper 2"), ("h2", EXAMPLE_GROUP), ("h3", "4. Paper 4"),
                        ("h2", OTHER_GROUP), ("h3", "5. Paper 5")]


def test_text_and_html_sections() -> None:
    txt = render(_context("interest"), "txt")
    assert re.search(r"\n\ngrounding\n=========\n\n1\. Paper 1\n", txt)
    assert txt.index("OCR\n===") < txt.index("3. Paper 2")
    html = render(_context("interest"), "html")
    assert html.count('class="pd-title"') == 5 and "<h3 class=\"pd-title\"" in html
    assert re.search(r"<h2 [^>]*>grounding</h2>", html)


@pytest.mark.parametrize("fmt", ["md", "txt", "html"])
def test_ungrouped_by_default(fmt: str) -> None:
    text = render(_context("none"), fmt)
    assert "grounding" not in text and EXAMPLE_GROUP not in text
    assert [i.rank for i in _context("none").items] == [1, 2, 3, 4, 5]


def test_group_by_is_checked(tmp_path: Path) -> None:
    (tmp_path / "subscribers").mkdir()
    (tmp_path / "worker.toml").write_text("", encoding="utf-8")
    (tmp_path / "subscribers" / "ada.toml").write_text(
        'deliver = ["markdown"]\ngroup_by = "topic"\n[interests]\nkeywords = ["x"]\n',
        encoding="utf-8")
    config = load_config(tmp_path, {})
    problems = [str(p) for p in config.broken["ada"]]
    assert problems == [f"{tmp_path / 'subscribers' / 'ada.toml'}:2: group_by: expected one "
                        "of 'none', 'interest'"]
