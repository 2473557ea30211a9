"""plaintext.clean_line returns most text as it is, after cheap checks: it must give what the
substitution and split it skips give, for any text."""

from __future__ import annotations

import re
import sys

from hypothesis import example, given, settings
from hypothesis import strategies as st

from worker.plaintext import CONTROL, clean_line


def reference(text: str) -> str:
    """clean_line as it was: every control character a space, runs of whitespace one space."""
    return " ".join(re.sub(CONTROL, " ", text).split())


# Every whitespace and every control or format character the patterns might disagree on.
ODD = [chr(c) for c in range(sys.maxunicode + 1)
       if chr(c).isspace() or (not chr(c).isprintable() and (c < 0x3000 or 0xFE00 <= c <= 0xFFFF))]
ODD_TEXT = st.lists(st.one_of(st.sampled_from(ODD), st.sampled_from(["a", " ", "é", "“"])),
                    max_size=8).map("".join)


@settings(max_examples=2000, deadline=None)
@given(text=st.one_of(st.text(), ODD_TEXT))
@example(text="")
@example(text="plain words")
@example(text=" leading")
@example(text="trailing ")
@example(text="two  spaces")
@example(text="a\u00a0b")
@example(text="a\u2028b")
@example(text="a\u202eb")
@example(text="a\x1cb")
def test_clean_line_is_the_substitution_and_split(text: str) -> None:
    assert clean_line(text) == reference(text)


def test_no_whitespace_or_control_character_passes_as_plain() -> None:
    for char in ODD:
        for text in (f"a{char}b", char, f"{char}a", f"a{char}"):
            assert clean_line(text) == reference(text), hex(ord(char))
