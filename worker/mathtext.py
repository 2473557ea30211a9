"""Titles, abstracts and authors as a reader sees them: the little LaTeX that paper listings
carry (`$\\alpha$-Ground`, `\\textbf{Mamba}`, `MVD$^2$`, `Schr\\"odinger`) written as the text
it stands for (`α-Ground`, `Mamba`, `MVD²`, `Schrödinger`). A digest has no MathJax to typeset
it. Display only: matching and a paper's identity read the text as the source gave it
(worker.records.normalize_title).

Conservative: a math span is rewritten only when every command in it is known and nothing of
LaTeX is left after; anything else stays as written (a `$` is also a price).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from worker.records import GREEK_LETTERS, TEX_ACCENTS

SYMBOLS = {
    "times": "×", "cdot": "·", "pm": "±", "mp": "∓", "leq": "≤", "le": "≤", "geq": "≥",
    "ge": "≥", "neq": "≠", "approx": "≈", "sim": "~", "infty": "∞", "to": "→",
    "rightarrow": "→", "leftarrow": "←", "leftrightarrow": "↔", "Rightarrow": "⇒",
    "in": "∈", "sum": "∑", "prod": "∏", "partial": "∂", "nabla": "∇", "ell": "ℓ",
    "%": "%", "&": "&", "$": "$", "#": "#", "_": "_", ",": " ", " ": " ", ";": " ",
}
FUNCTIONS = {name: f" {name} " for name in ("log", "exp", "max", "min", "sin", "cos", "lim")}
COMMANDS = {**GREEK_LETTERS, **SYMBOLS, **FUNCTIONS}
# Commands that only style their argument: the argument is what is meant.
STYLES = ("textbf", "textit", "emph", "texttt", "textsc", "textrm", "underline", "text",
          "mathrm", "mathbf", "mathit", "mathcal", "mathbb", "mathsf", "mathtt", "boldsymbol",
          "operatorname")
# TeX's accents, which arXiv metadata is written with (`Schr\"odinger`, `Erd\H{o}s`,
# `l'\'Ecole`): the combining mark each puts on its letter (worker.records.TEX_ACCENTS).
ACCENTS = TEX_ACCENTS
SUPERSCRIPTS = str.maketrans("0123456789+-=()ni", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱ")
SUBSCRIPTS = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")

_MATH = re.compile(r"\$([^$\n]{1,80})\$")
_STYLED = re.compile(r"\\(?:" + "|".join(STYLES) + r")\s*\{([^{}\\$]*)\}")
# `\mu`, `{\mu}` (the braces only end the command: `{\mu}-Bench` is `μ-Bench`), `\%`
_COMMAND = re.compile(r"\{\\([A-Za-z]+)\}|\\([A-Za-z]+)(?![A-Za-z])|\\([%&$#_, ;])")
# `\"o`, `\"{o}`, `{\"o}`; a letter-named accent needs its letter braced or after a space
# (`\H{o}`, `\c c`: `\cdot` is no accent); `\i` is the dotless i an accent goes on (`\'\i`).
_ACCENT_CORE = (r"""\\(?:([`'^"~=.])\s*(?:\{(\\i|[A-Za-z])\}|(\\i|[A-Za-z]))"""
                r"""|([Hcvukr])(?:\s*\{(\\i|[A-Za-z])\}|\s+(\\i|[A-Za-z])))""")
_ACCENT = re.compile(r"\{" + _ACCENT_CORE + r"\}|" + _ACCENT_CORE)
_SCRIPT = re.compile(r"([\^_])(?:\{([^{}]*)\}|([A-Za-z0-9]))")
# `20times`, `1.7times`: `\times` after a number, its `$\` lost upstream (no word is spelt so)
_LOST_TIMES = re.compile(r"(?<=\d)times\b")
# Conference style files' abbreviations (CVPR's `\eg`, `\etc`): their dot is theirs, not
# doubled before a full stop (`Counting and \etc.`).
ABBREVIATIONS = {"eg": "e.g.", "ie": "i.e.", "etc": "etc.", "etal": "et al.", "vs": "vs.",
                 "wrt": "w.r.t.", "cf": "cf.", "aka": "a.k.a."}
_ABBREVIATION = re.compile(r"\\(" + "|".join(ABBREVIATIONS) + r")(?![A-Za-z])(?:\{\})?\.?")
# ``soft prompts'': TeX's opening and closing double quotes, as a seed abstract writes them
_TEX_QUOTES = re.compile(r"``([^`\n]{1,200}?)''")
# `$k$-NN`, `$γ-$MoD`: a symbol on its own (with a letter: `$5-$10` is a price range)
_BARE = re.compile(r"(?=\w*[^\W\d_])\w{1,3}[-+′']?")


def display_text(text: str) -> str:
    """`text` with its simple LaTeX written out (see the module's docstring)."""
    if "\\" not in text and "$" not in text:
        return _plain(text)
    return _display(text)


def _plain(text: str) -> str:
    """Text without commands or math: TeX's quotes (``soft prompts''), and `20times` (Hugging
    Face's summaries drop the `$\\` of `20$\\times$`)."""
    if "times" in text:
        text = _LOST_TIMES.sub("×", text)
    return _TEX_QUOTES.sub(r"“\1”", text) if "``" in text else text


@lru_cache(maxsize=4096)
def _display(text: str) -> str:
    # Math spans and the running text between them apart: a span this does not know stays as
    # written, so the running text's rewriting must not reach into it (it made
    # `$\sum_i m_i\delta_{x_i}$` into `$∑_i m_iδ_{x_i}$`, half LaTeX, half not).
    out: list[str] = []
    last = 0
    for match in _MATH.finditer(text):
        out += [_running(text[last:match.start()]), _math_span(match)]
        last = match.end()
    out.append(_running(text[last:]))
    return "".join(out)


def _running(text: str) -> str:
    """Running text, outside math: `\\textbf{Mamba}`, `5.18\\times faster` (its `$` lost
    upstream), `50\\%`, `Schr\\"odinger`, `\\eg`, `20times`, ``quoted''."""
    if "\\" in text:
        text = _ACCENT.sub(_accented, text)
        text = _ABBREVIATION.sub(lambda match: ABBREVIATIONS[match.group(1)], text)
        text = _COMMAND.sub(_known_command, _STYLED.sub(r"\1", text))
    return _plain(text)


def _accented(match: re.Match[str]) -> str:
    """`\\"o` as `ö`: the letter with its accent's combining mark, composed."""
    mark, letter = (group for group in match.groups() if group is not None)
    return unicodedata.normalize("NFC", ("i" if letter == "\\i" else letter) + ACCENTS[mark])


def _math_span(match: re.Match[str]) -> str:
    body = match.group(1)
    if _BARE.fullmatch(body):
        return body
    if not any(mark in body for mark in "\\^_"):
        return match.group(0)  # `$5 and $10`: not math
    out = _STYLED.sub(r"\1", body)
    out = _COMMAND.sub(lambda m: COMMANDS.get(m.group(1) or m.group(2) or m.group(3),
                                              m.group(0)), out)
    out = _SCRIPT.sub(_script, out)
    if any(mark in out for mark in "\\{}^_"):
        return match.group(0)  # something this does not know: as written
    return " ".join(out.split()) if out.strip() else match.group(0)


def _script(match: re.Match[str]) -> str:
    mark, braced, single = match.groups()
    inner = braced if braced is not None else single
    scripts = SUPERSCRIPTS if mark == "^" else SUBSCRIPTS
    if not all(ord(c) in scripts for c in inner):
        return match.group(0)  # a letter with no script form: leave it
    return inner.translate(scripts)


def _known_command(match: re.Match[str]) -> str:
    """Outside math: a known symbol or letter (`\\times`), an escaped character (`\\%`)."""
    braced, name, escaped = match.groups()
    name = braced or name
    if name is not None:
        return COMMANDS.get(name, match.group(0))
    return escaped if escaped in "%&$#_" else match.group(0)
