"""Autoescaping templates print values through templating.printed_html, not markupsafe.escape: it
must give escape's text for anything a template prints, in any template the environment
compiles (a user's own, with macros, blocks and `{% autoescape false %}` parts, too)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup, escape

from worker.templating import environment, printed_html


class Html:
    def __html__(self) -> str:
        return "<i>ok</i>"


class Text(str):
    pass


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab &<>'\"“é;#"))))
def test_text_is_escaped_as_escape_does(text: str) -> None:
    assert str(printed_html(text)) == str(escape(text))
    assert str(printed_html(Markup(text))) == text
    assert str(printed_html(Text(text))) == str(escape(Text(text)))


def test_other_values_are_escaped_as_escape_does() -> None:
    for value in (3, -5, 10**20, True, 2.5, None, date(2026, 3, 16), Html(), ("<", 1),
                  Markup("<b>&amp;</b>")):
        assert str(printed_html(value)) == str(escape(value))


def test_a_users_template_prints_as_with_jinjas_escape(tmp_path: Path) -> None:
    from jinja2 import Environment

    (tmp_path / "mine.html.j2").write_text(
        "{% macro m(x) %}<b>{{ x }}</b>{% endmacro %}{{ m(v) }}|{{ m(v)|upper }}|"
        "{% set cap %}{{ v }}&{% endset %}{{ cap }}|{{ cap|length }}|{{ v ~ '<' }}|"
        "{% filter upper %}{{ v }}{% endfilter %}|"
        "{% autoescape false %}{{ v }}{% endautoescape %}|{{ v|safe }}|{{ n }}|{{ h }}")
    ours = environment(tmp_path).get_template("mine.html.j2")
    plain = Environment(autoescape=True).from_string((tmp_path / "mine.html.j2").read_text())
    values = {"v": "a<b>&'\"c", "n": 3, "h": Html()}
    assert ours.render(**values) == plain.render(**values)
    assert "a&lt;b&gt;&amp;&#39;&#34;c" in ours.render(**values)


# The HTML template's links line as it was, a loop with `loop.first`: the template writes it
# out (a `loop` made Jinja run the item loops through LoopContext), and must print the same.
LINKS_AS_A_LOOP = """\
    <p class="pd-muted" style="margin:0;font-size:13px;color:#57606a;">
      {% for label, href in [("Abstract", item.links.abstract), ("PDF", item.links.pdf), ("Code", item.links.code), ("Project", item.links.project)] if href %}
      {% if not loop.first %} &middot; {% endif %}<a class="pd-link" href="{{ href }}" style="color:#0969da;">{{ label }}</a>
      {% endfor %}
      {% if item.listing_date %}{% if item.links.abstract or item.links.pdf or item.links.code or item.links.project %} &middot; listed{% else %}Listed{% endif %} {{ item.listing_date }}{% endif %}
    </p>
"""  # noqa: E501


def test_html_links_line_is_as_the_loop_printed_it() -> None:
    from itertools import product

    from jinja2 import Environment

    from tests.unit.test_render_golden import _context
    from worker.records import Links
    from worker.render import DigestContext, ItemGroup, render

    loop = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True,
                       keep_trailing_newline=True).from_string(LINKS_AS_A_LOOP)
    base: DigestContext = _context()
    item = base.items[0]
    for shown, listed in product(product((False, True), repeat=4), (False, True)):
        links = Links(*(f"https://example.org/{n}?a=1&b=2" if on else None
                        for n, on in enumerate(shown)))
        one = replace(item, links=links, listing_date=item.listing_date if listed else None)
        html = render(replace(base, items=(one,), groups=(ItemGroup(None, (one,)),)), "html")
        start = html.index('    <p class="pd-muted" style="margin:0;font-size:13px;')
        shown_line = html[start:html.index("</p>\n", start) + 5]
        assert shown_line == loop.render(item=one), shown
        assert shown_line.count("<a ") == sum(shown)
