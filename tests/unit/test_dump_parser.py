"""The seed-format parser: the five real seeds, and malformed inputs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from worker.errors import ParseError
from worker.records import normalize_title
from worker.sources.dumps import infer_listing_date, parse_dump

WRITTEN = datetime(2026, 11, 22, 12, tzinfo=UTC)
HEADER = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\n" \
         "byAK and the research community\n\nMar 13\n\n"


def _blocks(path: Path) -> list[str]:
    # An independent reading of the format, to compare the parser against.
    return [b.strip() for b in path.read_text(encoding="utf-8").split("\n\n")][5:]


def test_five_seeds_give_444_entries_and_338_papers(seeds_dir: Path) -> None:
    entries = []
    for path in sorted(seeds_dir.glob("*.txt")):
        parsed = parse_dump(path.read_bytes(), str(path), WRITTEN)
        blocks = _blocks(path)
        assert [(e.title, e.abstract) for e in parsed.entries] == list(
            zip(blocks[0::2], blocks[1::2], strict=True))
        entries += parsed.entries
    assert len(entries) == 444
    assert len({normalize_title(e.title) for e in entries}) == 338


@pytest.mark.parametrize(("name", "day", "count", "first_title"), [
    ("000_31c7a2c999bd4c0e.txt", date(2026, 3, 13), 41, "Jack of All Tasks, Master of Many"),
    ("001_beeee295fe70f7ff.txt", date(2026, 3, 12), 102, "How Does Vision-Language Adaptation"),
    ("002_e112e7a2b63268c1.txt", date(2026, 3, 13), 103, "EMMA: Efficient Visual Alignment"),
    ("003_9e2fdff683a0ba40.txt", date(2026, 3, 14), 119, "Visual Program Distillation"),
    ("004_9aa4e33c7ceeb905.txt", date(2026, 3, 12), 79, "m2mKD: Module-to-Module Knowledge"),
])
def test_each_seed(seeds_dir: Path, name: str, day: date, count: int, first_title: str) -> None:
    parsed = parse_dump((seeds_dir / name).read_bytes(), name, WRITTEN)
    assert parsed.listing_date == day
    assert parsed.header_date == f"Mar {day.day}"
    assert len(parsed.entries) == count
    assert parsed.entries[0].title.startswith(first_title)
    assert parsed.entries[0].line == 11


def test_unicode_titles_intact(seeds_dir: Path) -> None:
    titles = set()
    for path in seeds_dir.glob("*.txt"):
        titles |= {e.title for e in parse_dump(path.read_bytes(), path.name, WRITTEN).entries}
    assert "μ-Bench: A Vision-Language Benchmark for Microscopy Understanding" in titles
    assert ("$γ-$MoD: Exploring Mixture-of-Depth Adaptation for Multimodal Large Language "
            "Models") in titles


def _dump(*pairs: tuple[str, str], header: str = HEADER) -> str:
    return header + "\n\n".join(f"{t}\n\n{a}" for t, a in pairs)


@pytest.mark.parametrize("transform", [
    pytest.param(lambda s: s.replace("\n", "\r\n").encode(), id="crlf"),
    pytest.param(lambda s: ("\ufeff" + s).encode(), id="bom"),
    pytest.param(lambda s: (s + "\n\n\n\n").encode(), id="trailing-blank-lines"),
    pytest.param(lambda s: s.replace("\n\n", "\n  \n").encode(), id="whitespace-only-lines"),
    pytest.param(lambda s: s.split("Subscribe\n\n", 1)[1].encode(), id="partial-header"),
    pytest.param(lambda s: s.split("Mar 13\n\n", 1)[1].encode(), id="no-header"),
])
def test_tolerated_variants(transform) -> None:  # type: ignore[no-untyped-def]
    text = _dump(("A Title: With Colon", "Abstract one."), ("Second — Title", "Abstract two."))
    parsed = parse_dump(transform(text), "x.txt", WRITTEN)
    assert [(e.title, e.abstract) for e in parsed.entries] == [
        ("A Title: With Colon", "Abstract one."), ("Second — Title", "Abstract two.")]


def test_hard_wrapped_blocks_are_joined() -> None:
    parsed = parse_dump(_dump(("A wrapped\ntitle", "An abstract\nover two lines.")).encode(),
                        "x.txt", WRITTEN)
    assert parsed.entries[0].title == "A wrapped title"
    assert parsed.entries[0].abstract == "An abstract over two lines."


def test_no_header_means_no_listing_date() -> None:
    parsed = parse_dump(b"Title\n\nAbstract.", "x.txt", WRITTEN)
    assert parsed.listing_date is None and len(parsed.entries) == 1


def test_only_the_first_date_is_the_header_a_title_like_a_date_is_a_paper() -> None:
    """The header holds one date: a first paper titled like one ("May 4", a workshop's name)
    is a paper, not a second header block that leaves its abstract without a title."""
    parsed = parse_dump((HEADER + "May 4\n\nAn abstract.\n\nNext\n\nAnother.").encode(),
                        "x.txt", WRITTEN)
    assert parsed.header_date == "Mar 13" and parsed.listing_date == date(2026, 3, 13)
    assert [(e.title, e.abstract) for e in parsed.entries] == [
        ("May 4", "An abstract."), ("Next", "Another.")]


@pytest.mark.parametrize(("data", "reason", "line"), [
    (b"", "empty file", None),
    (b"\n\n  \n", "empty file", None),
    (b"new\x00\x01binary", "binary data", None),
    (b"<!doctype html>\n<html><head><title>Daily Papers</title></head>\n\n<body>x</body>",
     "a web page or feed (HTML/XML), not a text dump", 1),
    (b"\n<?xml version='1.0'?>\n<rss version='2.0'>\n\n<channel/></rss>", "(HTML/XML)", 1),
    ("Tïtle\n\nAbstract".encode("latin-1"), "not UTF-8", 1),
    # text in UTF-16 or UTF-32 with its byte order mark was said to be "binary data"
    (f"{HEADER}\n\nT1\n\nA1".encode("utf-16"), "UTF-16 text (it begins with the UTF-16 "
     "byte order mark), not UTF-8: save the file as UTF-8", 1),
    (f"{HEADER}\n\nT1\n\nA1".encode("utf-16-be").join([b"\xfe\xff", b""]), "UTF-16 text", 1),
    (f"{HEADER}\n\nT1\n\nA1".encode("utf-32"), "UTF-32 text", 1),
    (HEADER.encode(), "no papers after the header", None),
    (_dump(("T1", "A1"), ("T2", "A2")).encode() + b"\n\nDangling title", "(odd)", 19),
])
def test_malformed(data: bytes, reason: str, line: int | None) -> None:
    with pytest.raises(ParseError) as caught:
        parse_dump(data, "bad.txt", WRITTEN)
    assert reason in caught.value.reason
    assert caught.value.where == "bad.txt"
    assert caught.value.line == line
    assert str(caught.value).startswith("bad.txt")


def test_missing_title_points_at_the_slipped_block() -> None:
    abstract = "This paper studies things. We propose a method. Results improve a lot. " * 3
    text = _dump(("T1", "A1")) + f"\n\n{abstract}\n\nT3\n\nA3"
    with pytest.raises(ParseError) as caught:
        parse_dump(text.encode(), "bad.txt", WRITTEN)
    assert caught.value.line == text.split("\n").index(abstract) + 1


@pytest.mark.parametrize(("header", "reference", "expected"), [
    ("Mar 13", datetime(2026, 11, 22, tzinfo=UTC), date(2026, 3, 13)),
    ("Dec 31", datetime(2027, 1, 2, tzinfo=UTC), date(2026, 12, 31)),  # never in the future
    ("Mar 14", datetime(2026, 3, 13, 23, tzinfo=UTC), date(2026, 3, 14)),  # a zone ahead
    ("Mar 16", datetime(2026, 3, 13, 23, tzinfo=UTC), date(2025, 3, 16)),
    ("Feb 29", datetime(2027, 3, 1, tzinfo=UTC), date(2024, 2, 29)),
    ("September 3", datetime(2026, 11, 22, tzinfo=UTC), date(2026, 9, 3)),
])
def test_year_inference(header: str, reference: datetime, expected: date) -> None:
    assert infer_listing_date(header, reference) == expected


def test_a_dump_file_with_an_epoch_mtime_is_dated_by_the_pass(tmp_path: Path) -> None:
    """A file whose mtime is 0 (a Nix store, a reproducible archive) made its `Mar 13` a day
    of 1970, shown and kept as when its papers were listed."""
    import os

    from worker.sources import Dump, SourceContext
    from worker.sources.dump_dir import DumpDirOptions, DumpDirSource

    dump = tmp_path / "d.txt"
    dump.write_bytes(b"Mar 13\n\nA title\n\nIts abstract.\n")
    os.utime(dump, (0, 0))
    now = datetime(2026, 3, 14, 18, tzinfo=UTC)
    [item] = DumpDirSource("local", DumpDirOptions(str(tmp_path))).collect(SourceContext(now))
    assert isinstance(item, Dump) and item.listing_date == date(2026, 3, 13)
    assert item.fetched_at == now


@pytest.mark.parametrize("title", ["...", "\u200b", "\u202e\u200f", "\u2014 \u2014"])
def test_a_title_with_no_letters_or_digits_is_an_error_at_its_line(title: str) -> None:
    """Its identity (the normalized title) is empty, every such paper's: two of them were
    merged into one, the second's abstract lost, and the first shown with no visible title."""
    data = f"Mar 13\n\nA real title\n\nIts abstract.\n\n{title}\n\nAn abstract.\n".encode()
    with pytest.raises(ParseError) as err:
        parse_dump(data, "d.txt", datetime(2026, 3, 14, tzinfo=UTC))
    assert err.value.line == 7 and "has no letters or digits" in err.value.reason


def test_a_source_record_known_by_a_title_of_no_letters_is_left_out() -> None:
    from worker.records import PaperRecord
    from worker.sources.remote import _sound

    records = [PaperRecord("...", "A."), PaperRecord("\u200b", "B."),
               PaperRecord("...", "C.", arxiv_id="2609.00001"), PaperRecord("Fine", "D.")]
    kept, refused = _sound(records)
    assert [r.abstract for r in kept] == ["C.", "D."]
    assert [i for i, _ in refused] == [0, 1] and "no letters or digits" in refused[0][1]
