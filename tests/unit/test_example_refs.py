"""Which `like`/`unlike` entries (and `explain`/`mark` arguments) are arXiv ids."""

from __future__ import annotations

import pytest

from worker.store.identity import other_doi, ref_arxiv_id


@pytest.mark.parametrize(("ref", "arxiv_id"), [
    ("2401.12345", "2401.12345"),
    (" 2401.12345v3 ", "2401.12345"),
    ("arXiv:2401.12345", "2401.12345"),
    ("0808.05394", "0808.05394"),
    ("astro-ph/0601001v1", "astro-ph/0601001"),
    ("https://arxiv.org/abs/2401.12345", "2401.12345"),
    ("https://arxiv.org/abs/2401.12345v2/", "2401.12345"),
    ("http://export.arxiv.org/abs/math.GT/0309136", "math/0309136"),  # no subject class
    ("arXiv:math.GT/0309136v2", "math/0309136"),
    ("math/0309136", "math/0309136"),
    ("https://doi.org/10.48550/arXiv.math.GT/0309136", "math/0309136"),
    ("https://arxiv.org/pdf/2401.12345v2.pdf", "2401.12345"),
    ("https://www.arxiv.org/html/2401.12345v1", "2401.12345"),
    ("arxiv.org/abs/2401.12345", "2401.12345"),
    ("https://huggingface.co/papers/2401.12345", "2401.12345"),
    ("10.48550/arXiv.2401.12345", "2401.12345"),
    ("https://doi.org/10.48550/arXiv.2401.12345", "2401.12345"),
    ("doi: 10.48550/ARXIV.2401.12345", "2401.12345"),
    ("https://dx.doi.org/10.48550/arXiv.hep-th/9901001", "hep-th/9901001"),
])
def test_an_id_however_it_is_written(ref: str, arxiv_id: str) -> None:
    assert ref_arxiv_id(ref) == arxiv_id


@pytest.mark.parametrize("ref", [
    "Visual Instruction Tuning",
    "2401.12345: a title that starts with something shaped like an id",
    "https://example.org/abs/2401.12345-and-more-of-a-long-path",
    "https://github.com/someone/2401.12345",
    "https://huggingface.co/datasets/someone/2401.12345",
    "10.1109/CVPR.2016.90",
    "10.48550/arXiv.2401.12345 and a title after it",
    "",
])
def test_a_title_is_not_an_id(ref: str) -> None:
    assert ref_arxiv_id(ref) is None


@pytest.mark.parametrize(("ref", "doi"), [
    ("10.1109/CVPR.2016.90", True),
    ("https://doi.org/10.1145/3442188.3445922", True),
    (" doi:10.18653/v1/2023.acl-long.1 ", True),
    ("10.48550/arXiv.2401.12345", False),  # arXiv's own: its id
    ("2401.12345", False),
    ("Scaling 10.5 billion parameters/layer", False),  # a title
    ("10.1109/CVPR.2016.90 revisited", False),
])
def test_a_doi_other_than_arxivs(ref: str, doi: bool) -> None:
    assert other_doi(ref) is doi


@pytest.mark.parametrize("raw", ["2401.12345v" + "9" * 30, "2401.12345v" + "9" * 5000,
                                 "\u0662\u0664\u0660\u0661.\u0661\u0662\u0663\u0664\u0665"])
def test_an_id_with_a_version_no_integer_column_holds_or_other_digits_is_no_id(raw):
    """A version of 30 digits was stored (an OverflowError from the database, which ended the
    source), one of 5,000 a ValueError from int(); Arabic-Indic digits made an id arXiv
    does not have."""
    from worker.records import split_arxiv_id

    assert split_arxiv_id(raw) is None
    assert split_arxiv_id("2401.12345v999999") == ("2401.12345", 999999)


@pytest.mark.parametrize("raw", ["a" * 80 + "/0601001", "x" + "-ph" * 30 + ".GT/0309136v2"])
def test_an_old_style_id_of_an_archive_arxiv_has_not_is_no_id(raw):
    """An archive name of any length was taken: an id longer than the arxiv_id column holds,
    which PostgreSQL refused, failing the source's whole response and its later days."""
    from worker.records import split_arxiv_id

    assert split_arxiv_id(raw) is None
    assert split_arxiv_id("chao-dyn/9301001v2") == ("chao-dyn/9301001", 2)


@pytest.mark.parametrize(("with_class", "without", "expected"), [
    ("math.GT/0309136", "math/0309136", ("math/0309136", None)),
    ("math.GT/0309136v2", "math/0309136v2", ("math/0309136", 2)),
    ("arXiv:math.GT/0309136v2", "arXiv:math/0309136v2", ("math/0309136", 2)),
    ("https://arxiv.org/abs/math.GT/0309136v2", "https://arxiv.org/abs/math/0309136v2",
     ("math/0309136", 2)),
    ("https://arxiv.org/pdf/math.GT/0309136v2.pdf", "http://arxiv.org/pdf/math/0309136v2",
     ("math/0309136", 2)),
    ("nlin.CD/0301001", "nlin/0301001", ("nlin/0301001", None)),
])
def test_an_old_style_id_is_the_same_id_with_or_without_its_subject_class(
        with_class, without, expected):
    """arXiv's identifier for `math.GT/0309136` is `math/0309136` (the subject class is not
    part of it, and both resolve to the one paper): two sources or a `like` writing it the two
    ways made two papers, the second new to everyone again."""
    from worker.records import split_arxiv_id

    assert split_arxiv_id(with_class) == split_arxiv_id(without) == expected


def test_a_ref_with_a_subject_class_is_an_id_as_far_as_without_one():
    """What may come around an id in a `like` (arXiv:, a version) is counted from the id as
    written: its subject class does not make a ref with it shorter than one without it."""
    assert ref_arxiv_id("arXiv:math.GT/0309136v12345") == "math/0309136"
    assert ref_arxiv_id("arXiv:math/0309136v12345") == "math/0309136"
    assert ref_arxiv_id("arXiv:math.GT/0309136v123456") is None
