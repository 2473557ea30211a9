"""The image without a Docker engine: its install script and its commands, run here.

- test_dockerfile_*: the Dockerfile's shape (base, non-root, /data, entry point, health check).
- test_install_script_*: runs docker/install.sh, the image's only install step, into a fresh
  virtualenv from a copy of exactly what the Dockerfile copies, then runs the installed
  `paper-digest` (a pass that renders a digest: templates and migrations must be packaged).
  It builds a wheel and installs every dependency (about 20-30 s, and needs the package
  index): the image's install is proven by every `make test`.
- test_serve.py starts serve with the Dockerfile's ENTRYPOINT + CMD and ENV, and runs its
  HEALTHCHECK command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.dockerfile import REPO, read_image


def test_dockerfile_shape() -> None:
    image = read_image()
    assert image.base == "python:3.11-slim"
    assert image.entrypoint == ["paper-digest"] and image.cmd == ["serve"]
    assert image.healthcheck == ["paper-digest", "health"]
    assert image.user and image.user not in ("root", "0")
    assert image.volumes == ["/data"]
    assert image.env["PAPER_DIGEST_CONFIG"] == "/config"
    assert image.env["PAPER_DIGEST_DATABASE_URL"] == "sqlite:////data/paper-digest.db"
    install = [r for r in image.runs if "paper-digest-install" in r]
    assert install == ["sh /usr/local/bin/paper-digest-install /src && rm -rf /src"]
    assert "docker/install.sh /usr/local/bin/paper-digest-install" in image.copies


def test_dockerignore_lets_the_copied_files_through() -> None:
    ignore = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = set()
    for copy in read_image().copies:
        copied.update(p.rstrip("/") for p in copy.split()[:-1] if not p.startswith("--"))
    for path in copied:
        assert any(path == a or path.startswith(a + "/") for a in allowed), path
    assert "*" in ignore  # nothing else (no .venv, data, out, tests) enters the context


@pytest.mark.slow
def test_install_script_builds_a_working_install(tmp_path: Path) -> None:
    src = tmp_path / "src"  # what `COPY pyproject.toml README.md /src/` + `COPY worker` give
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "worker", src / "worker",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "READY"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(["sh", str(REPO / "docker" / "install.sh"), str(src)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "paper-digest, version" in done.stdout
    shutil.rmtree(src)  # like `rm -rf /src`: the install must stand alone
    _one_pass_with(venv / "bin" / "paper-digest", tmp_path, env)


def _one_pass_with(program: Path, root: Path, env: dict[str, str]) -> None:
    config = root / "config"
    (config / "subscribers").mkdir(parents=True)
    (root / "dumps").mkdir()
    (root / "dumps" / "day.txt").write_text(
        "Mar 14\n\nA Vision Model for Tests\n\nWe test vision models.\n\n"
        "Another Paper\n\nAbout speech.\n", encoding="utf-8")
    (config / "worker.toml").write_text(
        f'output_dir = "{root / "out"}"\n[[sources]]\nname = "local"\nkind = "dump_dir"\n'
        f'path = "{root / "dumps"}"\n', encoding="utf-8")
    (config / "subscribers" / "ada.toml").write_text(
        'deliver = ["markdown"]\nmin_score = 0.0\n[interests]\nkeywords = ["vision"]\n',
        encoding="utf-8")
    env = {**env, "PAPER_DIGEST_CONFIG": str(config),
           "PAPER_DIGEST_DATABASE_URL": f"sqlite:///{root / 'data' / 'paper-digest.db'}"}
    ran = subprocess.run([str(program), "run", "--now", "2026-03-14T20:00:00+00:00"], env=env,
                         capture_output=True, text=True, timeout=120, cwd=root)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    written = list((root / "out" / "ada").glob("*.md"))
    assert written and "A Vision Model for Tests" in written[0].read_text(encoding="utf-8")
    health = subprocess.run([str(program), "health"], env=env, capture_output=True, text=True,
                            timeout=60, cwd=root)
    assert health.returncode == 1 and "no heartbeat" in health.stderr
