"""Building config directories and running the CLI in tests."""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from worker.cli import cli

SEED_DAYS = {  # listing day -> seed files, as ../shared/README.md gives them
    "2026-03-12": ["001_beeee295fe70f7ff.txt", "004_9aa4e33c7ceeb905.txt"],
    "2026-03-13": ["000_31c7a2c999bd4c0e.txt", "002_e112e7a2b63268c1.txt"],
    "2026-03-14": ["003_9e2fdff683a0ba40.txt"],
}


def make_config(root: Path, database_url: str, subscribers: dict[str, str],
                smtp_port: int | None = None, extra: str = "") -> Path:
    config = root / "config"
    (config / "subscribers").mkdir(parents=True, exist_ok=True)
    (root / "dumps").mkdir(exist_ok=True)
    smtp = (f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\n'
            f'from = "Paper Digest <digest@example.org>"\ntimeout = 5\n') if smtp_port else ""
    # Tests reach loopback only: an example no source listed (an arXiv id, a title) is not
    # looked up on arXiv unless the test names its own example_lookup. The network guard
    # (conftest) covers this process, not a `serve` started as a process of its own.
    if "example_lookup" not in extra:
        matching = '[matching]\nexample_lookup = ""\n'
        extra = (extra.replace("[matching]\n", matching, 1) if "[matching]" in extra
                 else f"{extra}\n{matching}")
    (config / "worker.toml").write_text(
        f'database_url = "{database_url}"\noutput_dir = "{root / "out"}"\n{extra}\n'
        f'[[sources]]\nname = "local"\nkind = "dump_dir"\npath = "{root / "dumps"}"\n{smtp}',
        encoding="utf-8")
    for name, text in subscribers.items():
        (config / "subscribers" / f"{name}.toml").write_text(text, encoding="utf-8")
    return config


def one_source_config(root: Path, database_url: str, source: str) -> Path:
    """make_config with one source only, no subscribers: `source` is its [[sources]] table's
    keys, as TOML lines."""
    config = make_config(root, database_url, {})
    worker = config / "worker.toml"
    worker.write_text(worker.read_text().split("[[sources]]")[0] + f"[[sources]]\n{source}")
    return config


def hf_api_config(root: Path, database_url: str, base_url: str, dates: str) -> Path:
    """make_config with one source only: hf_api at `base_url`, for the days `dates` names."""
    return one_source_config(root, database_url, f'name = "hf"\nkind = "hf_api"\nbase_url = '
                             f'"{base_url}"\ndate = "{dates}"\nmin_interval = 0\n')


def add_seed_day(root: Path, seeds: Path, day: str) -> None:
    for name in SEED_DAYS[day]:
        target = root / "dumps" / name
        shutil.copy(seeds / name, target)
        stamp = datetime.fromisoformat(day).replace(hour=18, tzinfo=UTC).timestamp()
        os.utime(target, (stamp, stamp))


def run_cli(config: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], env=env or {},
                              catch_exceptions=False)


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    """Poll `predicate` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def migrate(engine: Any, revision: str, *, up: bool = False) -> None:
    """Take `engine`'s database down (or `up`) to schema `revision` with paper-digest's
    Alembic migrations, in one transaction: a database as an older version left it."""
    from alembic import command
    from alembic.config import Config

    from worker.store.opening import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.upgrade if up else command.downgrade)(config, revision)
