"""Headless Chromium (Debian's package) over the DevTools protocol: a viewport of any width
(the headless window itself is at least 500 px wide), checks that run inside the page, and
full-page screenshots."""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-port=0", "--remote-allow-origins=*"]

# Runs in the page after layout: is anything wider than the viewport, and is every paper
# title on screen (not clipped, not zero-sized)?
PROBE = """(() => {
  const width = document.documentElement.clientWidth;
  const titles = [...document.querySelectorAll('article h2')].map(h => {
    const r = h.getBoundingClientRect(), s = getComputedStyle(h);
    return {text: h.innerText.trim(), left: r.left, right: r.right, width: r.width,
            height: r.height, visible: s.visibility !== 'hidden' && s.display !== 'none'};
  });
  const widest = Math.max(...[...document.querySelectorAll('body *')]
    .map(e => e.getBoundingClientRect().right));
  return {viewport: width, scrollWidth: document.documentElement.scrollWidth,
          widest: widest, height: document.documentElement.scrollHeight, titles: titles};
})()"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One tab, driven over a DevTools websocket."""

    def __init__(self, ws: Any, session: str):
        self.ws, self.session, self.ids = ws, session, itertools.count(1000)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params,
                                 "sessionId": self.session}))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))

    def wait_for(self, event: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if json.loads(self.ws.recv()).get("method") == event:
                return
        raise TimeoutError(event)

    def open(self, url: str, width: int, height: int = 900) -> None:
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=width < 600)
        self.send("Page.enable")
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"]["value"]

    def screenshot(self, path: Path, width: int) -> None:
        height = int(self.evaluate("document.documentElement.scrollHeight"))
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=width < 600)
        shot = self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))


@contextmanager
def page() -> Iterator[Page]:
    import websocket  # websocket-client, a dev dependency

    binary = chromium()
    assert binary, "chromium not installed"
    # Chromium's helper processes may still write to the profile as it exits.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stderr=subprocess.PIPE, text=True)
        try:
            url = _devtools_url(proc)
            ws = websocket.create_connection(url, timeout=60)
            target = _call(ws, "Target.createTarget", url="about:blank")["targetId"]
            session = _call(ws, "Target.attachToTarget", targetId=target,
                            flatten=True)["sessionId"]
            yield Page(ws, session)
            ws.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _devtools_url(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        match = re.search(r"DevTools listening on (ws://\S+)", line)
        if match:
            return match.group(1)
        if not line and proc.poll() is not None:
            break
    raise RuntimeError("Chromium did not start its DevTools endpoint")


def _call(ws: Any, method: str, **params: Any) -> dict[str, Any]:
    ws.send(json.dumps({"id": 1, "method": method, "params": params}))
    while True:
        reply = json.loads(ws.recv())
        if reply.get("id") == 1:
            return dict(reply["result"])
