"""Read the image's commands out of the Dockerfile, so tests run exactly what the image runs."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Image:
    base: str
    env: dict[str, str]
    entrypoint: list[str]
    cmd: list[str]
    healthcheck: list[str]
    user: str
    volumes: list[str]
    runs: list[str]
    copies: list[str]


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _env(rest: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in shlex.split(rest))


def read_image(path: Path = REPO / "Dockerfile") -> Image:
    env: dict[str, str] = {}
    fields: dict[str, list[str]] = {"ENTRYPOINT": [], "CMD": [], "HEALTHCHECK": [],
                                    "VOLUME": []}
    base = user = ""
    runs, copies = [], []
    for word, rest in _instructions(path.read_text(encoding="utf-8")):
        if word == "FROM":
            base = rest
        elif word == "ENV":
            env.update(_env(rest))
        elif word in ("ENTRYPOINT", "CMD", "VOLUME"):
            fields[word] = json.loads(rest)
        elif word == "HEALTHCHECK":
            fields[word] = json.loads(rest.split(" CMD ", 1)[1])
        elif word == "USER":
            user = rest
        elif word == "RUN":
            runs.append(rest)
        elif word == "COPY":
            copies.append(rest)
    return Image(base, env, fields["ENTRYPOINT"], fields["CMD"], fields["HEALTHCHECK"], user,
                 fields["VOLUME"], runs, copies)
