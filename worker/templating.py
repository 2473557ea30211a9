"""The one Jinja environment, and the filters templates use.

Templates get a single variable `d` (worker.render.DigestContext). The filters are pure and
see the same arguments over and over: one paper is in many subscribers' digests, with the same
few highlighted terms. Their results are kept (lru_cache), so a pass renders each distinct
piece once (worker.render.forget_pieces empties them).
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Sequence
from datetime import date
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from worker.errors import Problem, TemplateError
from worker.mdtext import highlight_md, md_code, md_escape, md_url
from worker.plaintext import PIECES, clean_line, fill

DEFAULT_TEMPLATES = Path(__file__).parent / "templates"
# Highlighted titles and abstracts in HTML: the costliest piece (~10 µs to make) and the most
# repeated. At institute scale a pass has ~34,000 distinct (paper, highlighted terms) pairs,
# so ~67,000 pieces; with 16,384 kept, half of the lookups missed. ~0.5 KB a piece: ~30 MB.
_HIGHLIGHTED = 65536


def _spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    from worker.matching import highlight_spans

    return highlight_spans(text, terms) if terms else []


def _terms_in(text: str, terms: tuple[str, ...]) -> tuple[str, ...]:
    from worker.matching.highlight import terms_in

    return terms_in(text, terms) if terms else ()


def highlight_html(text: str, terms: Sequence[str]) -> Markup:
    return _highlight_html(text, tuple(terms))


_MARK = '<mark style="background:#fff3a3;color:inherit;padding:0 1px;">'


# Highlighting is kept at two levels: by the item's terms (what the template passes; a hit
# costs one lookup), and, on a miss there, by the terms found in the text, which many term
# lists share (the terms of a subscriber's other interests are mostly not in this paper's
# title). At institute scale a pass has ~67,000 (text, terms) pairs but ~28,000 pieces to
# make (~15 µs each); both levels hold the same Markup objects.
@lru_cache(maxsize=_HIGHLIGHTED)
def _highlight_html(text: str, terms: tuple[str, ...]) -> Markup:
    return _marked_html(text, _terms_in(text, terms))


@lru_cache(maxsize=_HIGHLIGHTED)
def _marked_html(text: str, terms: tuple[str, ...]) -> Markup:
    out: list[str] = []  # escaped text and our own tags (Markup.join would escape each again)
    last = 0
    for start, end in _spans(text, terms):
        out += [escape(text[last:start]), _MARK, escape(text[start:end]), "</mark>"]
        last = end
    out.append(escape(text[last:]))
    return Markup("".join(out))


@lru_cache(maxsize=PIECES)
def wrap(text: str, width: int = 72, indent: str = "", first: str | None = None) -> str:
    """Fill to `width`; `first` (default: `indent`) is the first line's indent."""
    return fill(clean_line(text), width, indent if first is None else first, indent)


def numbered(text: str, number: int, width: int = 72, indent: str = "") -> str:
    """wrap(f"{number}. {text}", width, indent, ""): an item's title after its rank. The
    title's lines are kept once a paper and width of its rank, not once a rank: a paper
    stands at many ranks in a pass's digests."""
    prefix = f"{number}. "
    lines = _after_number(text, len(prefix), width, indent)
    return prefix + lines if lines is not None else wrap(prefix + text, width, indent, "")


@lru_cache(maxsize=PIECES)
def _after_number(text: str, room: int, width: int, indent: str) -> str | None:
    """`text` filled after a number and its space `room` wide, without them; None where a
    word is longer than what the first line leaves it (wrapped with the number, that word
    would start the next line rather than be broken), or there is no text."""
    text = clean_line(text)
    if not text or max(map(len, text.split(" "))) > width - room:
        return None
    return fill(text, width, " " * room, indent)[room:]


_HTML_SPECIAL = re.compile(r"[&<>'\"]")


def printed_html(value: Any) -> str:
    """What an autoescaping template prints for `{{ value }}`: markupsafe.escape(value), as
    text. Compiled templates call this instead of escape (see _code_generator): a printed
    value is only ever joined into the output, or into a block's that is made Markup whole,
    so it need not be a Markup of its own, and escape made one for every value (a Python
    call of Markup.__new__ after the C escaping, ~0.4 µs; for a number or a date, first a
    failed lookup of `__html__`, which costs an exception). Text with nothing to escape is
    printed as it is, highlighted pieces (Markup) too: ~−3.5 µs an item in the HTML part."""
    kind = type(value)
    if kind is str:
        return value if _HTML_SPECIAL.search(value) is None else escape(value)
    if kind is Markup:
        return value
    if kind is int or kind is date:  # a rank, a count, a listing date: digits and dashes
        return str(value)
    return escape(value)


@cache
def _code_generator() -> type:
    """Jinja's code generator, with printed values escaped by printed_html (the one use of
    `escape` in the code Jinja writes is around a printed value; Environment's documented
    `code_generator_class` hook)."""
    from jinja2.compiler import CodeGenerator

    class HtmlCodeGenerator(CodeGenerator):
        def visit_Template(self, node: Any, frame: Any = None) -> None:
            super().visit_Template(node, frame)
            self.writeline(f"from {__name__} import printed_html as escape")

    return HtmlCodeGenerator


@cache
def environment(templates_dir: Path | None = None) -> Any:
    """The Jinja environment, built once per templates directory (compiled templates reused)."""
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, StrictUndefined

    loaders: list[Any] = []
    if templates_dir is not None:
        loaders.append(FileSystemLoader(str(templates_dir)))
    loaders += [FileSystemLoader(str(DEFAULT_TEMPLATES)),
                PrefixLoader({"default": FileSystemLoader(str(DEFAULT_TEMPLATES))})]
    env = Environment(loader=ChoiceLoader(loaders), undefined=StrictUndefined,
                      autoescape=lambda name: bool(name and name.endswith(".html.j2")),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.code_generator_class = _code_generator()
    env.filters.update(md=md_escape, md_code=md_code, md_url=md_url, hl_html=highlight_html,
                       hl_md=highlight_md, wrap=wrap, numbered=numbered,
                       oneline=clean_line, code_html=code_html)
    return env


_TICKED = re.compile(r"`([^`\n]+)`")


def code_html(text: str) -> Markup:
    """Plain text for HTML, what it quotes in backticks (a command to type) as <code>: a
    note written once for every form (worker.clipping) showed its backticks in the email."""
    return Markup(_TICKED.sub(lambda m: f"<code>{m.group(1)}</code>", str(escape(text))))


FORMATS = ("md", "html", "txt")  # digest.<fmt>.j2


def template_error(exc: Exception) -> TemplateError:
    """Jinja's error (a syntax error, an unknown filter, a template not found, a field `d`
    lacks) as one line that names the template's file and line: it reached `preview` as a
    traceback, and a digest's reason as Jinja's words alone."""
    where, line = getattr(exc, "filename", None), getattr(exc, "lineno", None)
    if where is None or line is None:  # raised while rendering: the template's own frame
        for frame, lineno in traceback.walk_tb(exc.__traceback__):
            if frame.f_code.co_filename.endswith(".j2"):
                where, line = frame.f_code.co_filename, lineno
    message = getattr(exc, "message", None) or str(exc)
    if type(exc).__name__ in ("TemplateNotFound", "TemplatesNotFound"):
        message = f"template not found: {message}"
    at = f"{where}:{line}" if where and line else where or "digest template"
    return TemplateError(f"{at}: {message}")


def template_problems(templates_dir: Path | None, file: str) -> list[Problem]:
    """What stops the digest templates of `templates_dir` compiling (`file`: the worker.toml
    that names it), for `check`: a template that is only broken when rendered is found by
    `preview`."""
    from jinja2 import TemplateError as JinjaError
    from jinja2 import TemplateSyntaxError

    if templates_dir is None:
        return []
    if not templates_dir.is_dir():
        return [Problem(file, f"no folder {templates_dir} (from {Path.cwd()})",
                        "templates_dir")]
    problems = []
    for fmt in FORMATS:
        try:
            environment(templates_dir).get_template(f"digest.{fmt}.j2")
        except TemplateSyntaxError as exc:
            problems.append(Problem(exc.filename or str(templates_dir / f"digest.{fmt}.j2"),
                                    exc.message or str(exc), line=exc.lineno))
        except JinjaError as exc:
            problems.append(Problem(str(templates_dir / f"digest.{fmt}.j2"),
                                    str(template_error(exc))))
    return problems
