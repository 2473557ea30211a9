"""Simple LaTeX in titles and abstracts is written out for display (worker.mathtext)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from worker.mathtext import display_text
from worker.records import Links
from worker.render import item_view
from worker.sources.dumps import parse_dump


@pytest.mark.parametrize(("written", "shown"), [
    (r"$\alpha$-Ground: \textbf{Visual Grounding}", "α-Ground: Visual Grounding"),
    (r"$\gamma-$MoD", "γ-MoD"),
    ("$γ-$MoD", "γ-MoD"),  # the seeds' own
    (r"MVD$^2$ and $O(n^{2})$", "MVD² and O(n²)"),
    (r"$\mathcal{O}(N\log N)$ cost", "O(N log N) cost"),
    (r"$k$-NN", "k-NN"),
    (r"a $3\times$ speed-up, 50\% less", "a 3× speed-up, 50% less"),
    (r"up to 5.18\times$ faster", "up to 5.18×$ faster"),  # a `$` lost upstream stays
    (r"the \emph{Mamba} model", "the Mamba model"),
    # a command in braces of its own, as a seed abstract writes a benchmark's name: the
    # braces go with it, not left around the letter
    (r"we introduce {\mu}-Bench, a benchmark", "we introduce μ-Bench, a benchmark"),
    (r"${\mu}$-law and {\alpha} as well", "μ-law and α as well"),
    # TeX's accents, as arXiv metadata writes them (its RSS documentation's own example)
    (r"Journal de l'\'Ecole polytechnique - Math\'ematiques",
     "Journal de l'École polytechnique - Mathématiques"),
    (r'Schr\"odinger and Erd\H{o}s bridges, with $\mathcal{O}(n^2)$ cost',
     "Schrödinger and Erdős bridges, with O(n²) cost"),
    (r'J\"{u}rgen, {\"U}ber, Fran\c{c}ois, \v{S}koda, Mu\~noz, Ni\c s, \'\i, \`a',
     "Jürgen, Über, François, Škoda, Muñoz, Niş, í, à"),
    (r"a 5\cdot 3 grid", "a 5· 3 grid"),  # \c followed by a letter is no cedilla
    # `20$\times$` as Hugging Face's summaries give it, its `$\` dropped
    ("a 20times speedup, 1.7times fewer; three times lower, sometimes",
     "a 20× speedup, 1.7× fewer; three times lower, sometimes"),
    (r"a 20times speedup for $\alpha$", "a 20× speedup for α"),
    # TeX's double quotes, as seed abstracts write them
    ("the perspective of ``activated tokens''.", "the perspective of “activated tokens”."),
    (r"``Alzheimer's disease'' at $\alpha$", "“Alzheimer's disease” at α"),
    # style files' abbreviations, as seed abstracts use them
    (r"GUI Agents, Counting and \etc. To address", "GUI Agents, Counting and etc. To address"),
    (r"speed it up, \eg, from an hour", "speed it up, e.g., from an hour"),
    (r"Smith \etal{} and \ie this", "Smith et al. and i.e. this"),
])
def test_simple_latex_is_written_out(written: str, shown: str) -> None:
    assert display_text(written) == shown


@pytest.mark.parametrize("written", [
    "costs $5 and $10 a month",  # dollars, not math
    "from $5-$10",
    r"$\frobnicate{x}$ stays",  # an unknown command: the span as written
    r"$x_{ij}$ and $^\dagger$",  # no subscript letters; an unknown symbol
    "no markup at all",
    r"a \newcommand outside math",
    # known commands in a span that is not all known: the whole span, not half of it
    r"measures $\sum_i m_i\delta_{x_i}$ as sums",
    r"of the form $\min \int_{\mathbb{R}^N}f(u,\nabla u)$ under",
])
def test_what_it_does_not_know_stays_as_written(written: str) -> None:
    assert display_text(written) == written


def test_accents_are_written_out_in_an_items_title_abstract_and_authors() -> None:
    paper = SimpleNamespace(title=r'On Schr\"odinger bridges', abstract=r"After G\"odel.",
                            authors=(r'J\"urgen M\"uller', "Zoë Ångström"), links=Links(),
                            arxiv_id=None, listing_date=None, key="paper:1")
    view = item_view(1, 0.5, [], paper)
    assert (view.title, view.abstract) == ("On Schrödinger bridges", "After Gödel.")
    assert view.authors == ("Jürgen Müller", "Zoë Ångström")


def test_a_hugging_face_summarys_lost_times_signs_are_written_out() -> None:
    """The real daily-papers response: one summary says "a 20times speedup", "1.7times
    fewer", "100times larger" (its `20$\\times$`, with the `$\\` gone)."""
    from tests.conftest import SHARED
    from worker.sources.hf_api import parse

    path = SHARED / "fixtures" / "hf_api" / "daily_papers_2026-06-12.json"
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared fixtures live beside the repo)")
    records = [r for r in parse(path.read_bytes(), path.name) if re.search(r"\dtimes", r.abstract)]
    assert records, "the summary with 20times was not found"
    for record in records:
        view = item_view(1, 0.5, [], SimpleNamespace(
            title=record.title, abstract=record.abstract, authors=(), links=Links(),
            arxiv_id=None, listing_date=None, key="paper:1"))
        assert not re.search(r"\dtimes", view.abstract) and "0× speedup" in view.abstract


def test_the_seeds_tex_quotes_are_written_out_in_their_digest_items(seeds_dir: Path) -> None:
    entries = [e for dump in sorted(seeds_dir.glob("*.txt"))
               for e in parse_dump(dump.read_bytes(), dump.name, datetime.now(UTC)).entries]
    quoting = [e for e in entries if "``" in e.abstract]
    assert len(quoting) >= 5, "the seeds' ``quoted'' abstracts were not found"
    for entry in quoting:
        view = item_view(1, 0.5, [], SimpleNamespace(
            title=entry.title, abstract=entry.abstract, authors=(), links=Links(),
            arxiv_id=None, listing_date=None, key="paper:1"))
        assert "``" not in view.abstract and "''" not in view.abstract, view.abstract
        assert "“" in view.abstract


def test_a_seed_papers_latex_is_written_out_in_its_digest_item(seeds_dir: Path) -> None:
    entries = [e for dump in sorted(seeds_dir.glob("*.txt"))
               for e in parse_dump(dump.read_bytes(), dump.name, datetime.now(UTC)).entries]
    with_latex = [e for e in entries if "\\textbf{" in e.abstract or "$MoD" in e.title]
    assert len(with_latex) >= 2, "the seeds' LaTeX titles and abstracts were not found"
    for entry in with_latex:
        paper = SimpleNamespace(title=entry.title, abstract=entry.abstract, authors=(),
                                links=Links(), arxiv_id=None, listing_date=None, key="paper:1")
        view = item_view(1, 0.5, [], paper)
        assert "\\textbf" not in view.abstract and "$" not in view.title, paper.title
        assert view.title == " ".join(display_text(paper.title).split())
