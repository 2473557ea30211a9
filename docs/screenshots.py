"""Regenerate docs/digest-375.png and docs/digest-1200.png from our sample dumps.

    .venv/bin/python docs/screenshots.py

Runs the real pipeline over examples/dumps for config/subscribers/ada.toml into a temporary
directory, takes the HTML part of her email and photographs it in headless Chromium at phone
and desktop width (tests/integration/browser.py does the driving).
"""

from __future__ import annotations

import email
import email.policy
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration import browser  # noqa: E402
from tests.integration.helpers import make_config, run_cli  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        config = make_config(root, f"sqlite:///{root}/pd.db", {})
        shutil.copy(REPO / "config" / "subscribers" / "ada.toml", config / "subscribers")
        for dump in (REPO / "examples" / "dumps").glob("*.txt"):
            shutil.copy(dump, root / "dumps")
        result = run_cli(config, "run", "--now", "2026-11-20T07:00:00+00:00")
        print(result.output)
        (eml,) = (root / "out" / "outbox" / "ada").glob("*.eml")
        message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        page = root / "digest.html"
        page.write_text(html.replace(str(config), "config"), encoding="utf-8")
        for width in (375, 1200):
            with browser.page() as tab:
                tab.open(page.as_uri(), width)
                tab.screenshot(REPO / "docs" / f"digest-{width}.png", width)
            print(f"wrote docs/digest-{width}.png")


if __name__ == "__main__":
    main()
