"""Hot reload: added, edited, broken, deleted subscriber files and worker.toml changes."""

from __future__ import annotations

import os
from pathlib import Path

from worker.reload import ConfigWatcher
from worker.settings import load_config

GOOD = 'email = "{who}@example.org"\n[interests]\nkeywords = ["{kw}"]\n'


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    # Make every write visible to the poll even within one clock tick.
    stamp = path.stat().st_mtime_ns + 1_000_000_000 * (1 + write.calls)  # type: ignore[attr-defined]
    write.calls += 1  # type: ignore[attr-defined]
    os.utime(path, ns=(stamp, stamp))


write.calls = 0  # type: ignore[attr-defined]


def setup(tmp_path: Path) -> tuple[Path, ConfigWatcher]:
    config = tmp_path / "config"
    (config / "subscribers").mkdir(parents=True)
    write(config / "worker.toml", f'database_url = "sqlite:///{tmp_path}/db"\n'
          'timezone = "UTC"\n')
    write(config / "subscribers" / "ada.toml", GOOD.format(who="ada", kw="vision"))
    write(config / "subscribers" / "bob.toml", GOOD.format(who="bob", kw="speech"))
    return config, ConfigWatcher(config, {}, load_config(config, {}))


def kinds(changes: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(c.kind, c.subject) for c in changes]


def test_nothing_changed_nothing_reloaded(tmp_path: Path) -> None:
    _, watcher = setup(tmp_path)
    before = watcher.config
    assert watcher.poll() == [] and watcher.config is before


def test_add_edit_delete(tmp_path: Path) -> None:
    config, watcher = setup(tmp_path)
    subs = config / "subscribers"
    write(subs / "carol.toml", GOOD.format(who="carol", kw="robots"))
    write(subs / "ada.toml", GOOD.format(who="ada", kw="hallucination"))
    (subs / "bob.toml").unlink()
    assert sorted(kinds(watcher.poll())) == [("added", "carol"), ("removed", "bob"),
                                             ("updated", "ada")]
    profiles = {p.id: p for p in watcher.config.profiles}
    assert sorted(profiles) == ["ada", "carol"]
    assert profiles["ada"].interests.keywords == ("hallucination",)


def test_broken_edit_keeps_the_previous_version_until_fixed(tmp_path: Path) -> None:
    config, watcher = setup(tmp_path)
    ada = config / "subscribers" / "ada.toml"
    write(ada, 'email = "ada@example.org"\n[interests\nkeywords = ["x"]\n')
    changes = watcher.poll()
    assert kinds(changes) == [("kept", "ada")] and "invalid TOML" in changes[0].detail
    profiles = {p.id: p for p in watcher.config.profiles}
    assert profiles["ada"].interests.keywords == ("vision",)
    assert "ada" not in watcher.config.broken  # still served, so not "skipped" in reports
    # Another file changes: the same problem is not reported again.
    write(config / "subscribers" / "bob.toml", GOOD.format(who="bob", kw="audio"))
    assert kinds(watcher.poll()) == [("updated", "bob")]
    write(ada, GOOD.format(who="ada", kw="fixed"))
    assert kinds(watcher.poll()) == [("updated", "ada")]


def test_new_broken_file_is_reported_and_not_served(tmp_path: Path) -> None:
    config, watcher = setup(tmp_path)
    write(config / "subscribers" / "eve.toml", 'email = "nope"\n[interests]\nkeywords=["x"]\n')
    changes = watcher.poll()
    assert kinds(changes) == [("broken", "eve")] and "email" in changes[0].detail
    assert "eve" in watcher.config.broken
    assert "eve" not in {p.id for p in watcher.config.profiles}


def test_a_file_broken_at_start_is_not_said_again_at_the_first_reload(tmp_path: Path) -> None:
    # serve says it as it starts ("eve has problems, not served"): an edit of another file
    # said it a second time
    config = tmp_path / "config"
    (config / "subscribers").mkdir(parents=True)
    write(config / "worker.toml", f'database_url = "sqlite:///{tmp_path}/db"\n')
    write(config / "subscribers" / "ada.toml", GOOD.format(who="ada", kw="vision"))
    eve = config / "subscribers" / "eve.toml"
    write(eve, 'email = "nope"\n[interests]\nkeywords=["x"]\n')
    watcher = ConfigWatcher(config, {}, load_config(config, {}))
    assert "eve" in watcher.config.broken
    write(config / "subscribers" / "ada.toml", GOOD.format(who="ada", kw="speech"))
    assert kinds(watcher.poll()) == [("updated", "ada")]
    write(eve, 'email = "eve@example.org"\n[interests]\nkeywordz=["x"]\n')  # another: said
    assert kinds(watcher.poll()) == [("broken", "eve")]


def test_disabled_subscriber_stops(tmp_path: Path) -> None:
    config, watcher = setup(tmp_path)
    write(config / "subscribers" / "bob.toml",
          "enabled = false\n" + GOOD.format(who="bob", kw="speech"))
    assert kinds(watcher.poll()) == [("disabled", "bob")]
    assert [p.id for p in watcher.config.profiles] == ["ada"]


def test_worker_toml_live_and_restart_changes(tmp_path: Path) -> None:
    config, watcher = setup(tmp_path)
    write(config / "worker.toml", f'database_url = "sqlite:///{tmp_path}/other"\n'
          'timezone = "Europe/Berlin"\n[serve]\nheartbeat = "5s"\n')
    changes = watcher.poll()
    assert [(c.kind, c.detail) for c in changes] == [("applied", "timezone"),
                                                     ("restart", "database_url, serve")]
    settings = watcher.config.settings
    assert settings.timezone == "Europe/Berlin"  # applied live
    assert settings.database_url == f"sqlite:///{tmp_path}/db"  # kept until a restart
    assert settings.serve.heartbeat == "30s"


def test_retention_applies_live_and_feedback_is_reported_as_needing_a_restart(
        tmp_path: Path) -> None:
    """[retention] added under a running serve was neither applied (its hourly maintenance
    kept the running none) nor reported; nor was an edit of [feedback], whose links' desk
    serve makes when it starts (`unsubscribe = false` went on adding the link)."""
    config, watcher = setup(tmp_path)
    text = (config / "worker.toml").read_text()
    write(config / "worker.toml", text + '[retention]\ndigests = "400d"\n'
          '[feedback]\nurl = "https://papers.example.org/digest"\nunsubscribe = false\n')
    watcher.env = {"PAPER_DIGEST_FEEDBACK_SECRET": "s" * 16}
    changes = watcher.poll()
    assert [(c.kind, c.detail) for c in changes] == [("applied", "retention"),
                                                     ("restart", "feedback")]
    assert watcher.config.settings.retention.digests == "400d"
    assert watcher.config.settings.feedback.url is None  # kept until a restart


def test_every_setting_is_applied_live_or_said_to_need_a_restart() -> None:
    """[matching] and [email] were neither: an edit of them under a running serve did nothing
    and said nothing."""
    import dataclasses

    from worker.reload import DERIVED, LIVE, RESTART
    from worker.settings import Settings

    fields = {f.name for f in dataclasses.fields(Settings)}
    assert sorted(fields - set(DERIVED)) == sorted(LIVE + RESTART)


def test_an_edit_of_email_or_matching_is_reported_as_needing_a_restart(tmp_path: Path) -> None:
    config, watcher = setup(tmp_path)
    text = (config / "worker.toml").read_text()
    write(config / "worker.toml", text + '[email]\nallowed_domains = ["lab.example.org"]\n'
          "[matching]\nworkers = 1\n")
    changes = watcher.poll()
    assert (changes[0].kind, changes[0].detail) == ("restart", "matching, email")
    # The files the new allowed_domains refuses are said to be, and their running versions
    # stay, as for any broken edit, until the restart applies it.
    assert [(c.kind, c.subject) for c in changes[1:]] == [("kept", "ada"), ("kept", "bob")]
    assert watcher.config.settings.email.allowed_domains == ()  # kept until a restart
    assert [p.id for p in watcher.config.profiles] == ["ada", "bob"]


def test_broken_worker_toml_changes_nothing(tmp_path: Path) -> None:
    config, watcher = setup(tmp_path)
    before = watcher.config.settings
    write(config / "worker.toml", 'database_url = 1\ntimezone = "Nowhere/Land"\n')
    changes = watcher.poll()
    assert kinds(changes) == [("broken", "worker.toml")]
    assert "database_url: expected a string" in changes[0].detail
    assert watcher.config.settings == before
