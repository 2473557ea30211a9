"""The HTML email of a real digest, rendered by headless Chromium at phone and desktop width."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from tests.integration import browser
from tests.integration.helpers import add_seed_day, make_config, run_cli

SUB = """
name = "Ada Lovelace"
email = "ada@example.org"
deliver = ["email"]
max_items = 12
min_score = 0.2
[interests]
keywords = ["segmentation", "grounding", "referring expression", "open-vocabulary"]
"""


@pytest.fixture(scope="module")
def digest_html(tmp_path_factory: pytest.TempPathFactory) -> str:
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"
    if not shared.is_dir():
        pytest.skip(f"{shared} is absent")
    if browser.chromium() is None:
        pytest.skip("Chromium is not installed and could not be (make test tries apt-get "
                    "install chromium; it needs root and Debian's package lists)")
    root = tmp_path_factory.mktemp("browser")
    config = make_config(root, f"sqlite:///{root}/pd.db", {"ada": SUB})
    add_seed_day(root, shared, "2026-03-13")
    result = run_cli(config, "run", "--now", "2026-03-13T20:00:00+00:00")
    assert result.exit_code == 0, result.output
    (eml,) = (root / "out" / "outbox" / "ada").glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert html.count("<article") >= 5  # a real digest, several papers
    return str(html)


def _open(html: str, width: int, tmp_path: Path):  # type: ignore[no-untyped-def]
    page = tmp_path / "digest.html"
    page.write_text(html, encoding="utf-8")
    return page.as_uri()


@pytest.mark.parametrize("width", [375, 1200])
def test_no_horizontal_overflow_and_every_title_visible(digest_html: str, width: int,
                                                        tmp_path: Path) -> None:
    with browser.page() as tab:
        tab.open(_open(digest_html, width, tmp_path), width)
        result = tab.evaluate(browser.PROBE)
    assert result["viewport"] == width
    assert result["scrollWidth"] <= width, f"page scrolls sideways: {result['scrollWidth']}px"
    assert result["widest"] <= width + 0.5
    assert len(result["titles"]) == digest_html.count("<article")
    for title in result["titles"]:
        assert title["visible"] and title["width"] > 0 and title["height"] > 0, title
        assert title["left"] >= 0 and title["right"] <= width, title
    if width == 1200:  # desktop: a readable column, not a full-width wall of text
        assert max(t["width"] for t in result["titles"]) <= 640


@pytest.mark.parametrize("width", [375, 1200])
def test_screenshot(digest_html: str, width: int, tmp_path: Path) -> None:
    shot = tmp_path / f"digest-{width}.png"
    with browser.page() as tab:
        tab.open(_open(digest_html, width, tmp_path), width)
        tab.screenshot(shot, width)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == width  # the PNG is as wide as the window
