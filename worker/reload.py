"""Hot reload for serve: notice edits to worker.toml and subscribers/*.toml by polling.

Polling (mtime, size, inode of each file) needs no extra dependency and works on bind mounts
and network file systems where inotify does not. On a change the whole directory is loaded
again, and merged with what is running:
- a subscriber file that loads cleanly replaces the running profile (or adds one);
- a broken one is reported and the previous valid version stays in force;
- a deleted or disabled one stops being served;
- worker.toml settings that jobs read on every pass (time zone, SMTP, delivery, templates,
  output folder, retention) apply at once; the rest (database, sources, [serve], contact,
  [feedback], [matching], [email]) are reported as needing a restart and keep their running
  values. A broken worker.toml changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from worker.errors import ConfigError
from worker.profiles import Profile, subscriber_files
from worker.settings import Config, Settings, load_config, settings_or_raise

LIVE = ("timezone", "templates_dir", "output_dir", "smtp", "delivery", "retention")
# contact: in the fetcher's UA; feedback: serve answers the links with what it started with;
# matching: its workers and model are set up once; email: a subscriber whose address
# allowed_domains now refuses would stay served (as a broken edit keeps the running version)
RESTART = ("database_url", "sources", "serve", "contact", "feedback", "matching", "email")
# Settings' fields that are not worker.toml's own settings
DERIVED = ("config_dir", "database_url_unused")
Snapshot = dict[str, tuple[int, int, int]]


@dataclass(frozen=True)
class Change:
    kind: str  # added | updated | removed | disabled | broken | kept | applied | restart
    subject: str  # a subscriber id, or "worker.toml"
    detail: str = ""


def snapshot(config_dir: Path) -> Snapshot:
    files = [config_dir / "worker.toml", *subscriber_files(config_dir)]
    result = {}
    for path in files:
        try:
            stat = path.stat()
        except OSError:  # vanished between glob and stat: the next poll sees it gone
            continue
        result[str(path)] = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    return result


class ConfigWatcher:
    """Holds the running Config; `poll()` swaps in a merged one when files changed."""

    def __init__(self, config_dir: Path, env: Mapping[str, str], config: Config):
        self.config_dir = config_dir
        self.env = env
        self.config = config
        self._snapshot = snapshot(config_dir)
        # what was last said per subject, not to repeat it: serve says the files broken at
        # start as it starts (they were said again at the first reload after any edit)
        self._reported: dict[str, str] = {
            sid: f"broken:{'; '.join(map(str, problems))}"
            for sid, problems in config.broken.items()}

    def poll(self) -> list[Change]:
        current = snapshot(self.config_dir)
        if current == self._snapshot:
            return []
        self._snapshot = current
        fresh = load_config(self.config_dir, self.env)
        settings, changes = self._merge_settings(fresh)
        profiles, profile_changes = self._merge_profiles(fresh)
        changes += profile_changes
        serving = {p.id for p in profiles}  # a broken edit of a kept profile is not "skipped"
        broken = {sid: ps for sid, ps in fresh.broken.items() if sid not in serving}
        self.config = Config(settings, profiles, fresh.problems, broken, fresh.disabled)
        return [c for c in changes if self._news(c)]

    def _news(self, change: Change) -> bool:
        said = f"{change.kind}:{change.detail}"
        if change.kind in ("broken", "kept", "restart") and self._reported.get(
                change.subject) == said:
            return False
        self._reported[change.subject] = said
        return True

    def _merge_settings(self, fresh: Config) -> tuple[Settings, list[Change]]:
        running = self.config.settings
        try:
            new = settings_or_raise(fresh)
        except ConfigError as exc:
            return running, [Change("broken", "worker.toml", "; ".join(map(str, exc.problems)))]
        live = {k: getattr(new, k) for k in LIVE if getattr(new, k) != getattr(running, k)}
        later = [k for k in RESTART if getattr(new, k) != getattr(running, k)]
        changes = []
        if live:
            changes.append(Change("applied", "worker.toml", ", ".join(sorted(live))))
        if later:
            changes.append(Change("restart", "worker.toml", ", ".join(later)))
        elif "worker.toml" in self._reported:
            self._reported.pop("worker.toml")
        return dataclasses.replace(running, **live), changes

    def _merge_profiles(self, fresh: Config) -> tuple[list[Profile], list[Change]]:
        running = {p.id: p for p in self.config.profiles}
        loaded = {p.id: p for p in fresh.profiles}
        merged, changes = [], []
        for sid in sorted(set(running) | set(loaded) | set(fresh.broken)):
            old, new = running.get(sid), loaded.get(sid)
            if new is not None:
                merged.append(new)
                if old is None:
                    changes.append(Change("added", sid))
                elif old.fingerprint != new.fingerprint:
                    changes.append(Change("updated", sid))
                self._reported.pop(sid, None)
            elif sid in fresh.broken:
                detail = "; ".join(str(p) for p in fresh.broken[sid])
                if old is not None:
                    merged.append(old)
                changes.append(Change("kept" if old else "broken", sid, detail))
            elif old is not None:
                gone = "disabled" if sid in fresh.disabled else "removed"
                changes.append(Change(gone, sid))
        return merged, changes
