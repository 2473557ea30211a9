"""`paper-digest init`: a working starter config directory."""

from __future__ import annotations

import getpass
from pathlib import Path
from urllib.parse import quote

from worker.config_types import command_line

HERE = Path(__file__).parent


def write_starter(target: Path, subscriber: str | None = None) -> list[Path]:
    """Write DIR/worker.toml, DIR/subscribers/<you>.toml and DIR/dumps/; return what was
    written. Raises FileExistsError rather than overwrite an existing worker.toml."""
    worker = target / "worker.toml"
    if worker.exists():
        raise FileExistsError(worker)
    who = subscriber or _safe_id(getpass.getuser())
    # Absolute: relative paths are read from the directory paper-digest runs in, and a cron
    # job run from elsewhere would make a second, empty database and deliver everything again.
    folder = target.resolve().as_posix()
    # the database's URL quotes what a URL would read otherwise (`%41`, `?`, `#`): SQLAlchemy
    # unquotes it back to the path
    database = _toml(f"sqlite:///{quote(folder)}/data/paper-digest.db")
    profile = target / "subscribers" / f"{who}.toml"
    (target / "subscribers").mkdir(parents=True, exist_ok=True)
    (target / "dumps").mkdir(exist_ok=True)
    worker.write_text((HERE / "worker.toml").read_text()
                      .replace("@DATABASE@", database).replace("@DIR@", _toml(folder)))
    # the commands name this config, as worker.toml's do: a bare `paper-digest check` reads
    # ./config, wherever it is run
    profile.write_text((HERE / "subscriber.toml").read_text()
                       .replace("@CHECK@", command_line(folder, "check"))
                       .replace("@PREVIEW@", command_line(folder, f"preview {who}"))
                       .replace("@ID@", who).replace("@NAME@", who))
    return [worker, profile, target / "dumps"]


def _toml(text: str) -> str:
    """Text for inside a TOML basic string ("...")."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _safe_id(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in name).strip("-._")
    return cleaned[:64] or "me"
