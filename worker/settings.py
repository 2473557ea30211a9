"""worker.toml + environment -> typed Settings; with the subscriber files (worker.profiles),
a Config.

Config is strict: unknown keys, wrong types and bad values are all reported at once, each with
file, key, line (where we can find it) and what is expected. A broken worker.toml stops a
run; a broken subscriber file only takes that subscriber out of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker.config_types import (
    check_timezone,
    duration_problems,
    line_of,
    load_table,
    parse_duration,
    read_toml,
    section_start,
)
from worker.errors import ConfigError, Problem
from worker.profiles import Profile, load_profile, subscriber_files
from worker.retention import RetentionSettings, load_retention
from worker.serve_settings import ServeSettings, load_serve
from worker.smtp_settings import SmtpSettings, load_smtp
from worker.source_settings import SourceSettings, load_sources

if TYPE_CHECKING:
    from worker.feedback import Links as FeedbackLinks

DEFAULT_DATABASE_URL = "sqlite:///data/paper-digest.db"
FEEDBACK_SECRET_ENV = "PAPER_DIGEST_FEEDBACK_SECRET"  # signs feedback links (worker.feedback)
MIN_FEEDBACK_SECRET = 16  # characters: a short secret could be guessed from links


@dataclass(frozen=True)
class DeliverySettings:
    max_attempts: int = 6
    retry_base: str = "2m"
    retry_max: str = "6h"

    @property
    def base(self) -> timedelta:
        return parse_duration(self.retry_base)

    @property
    def cap(self) -> timedelta:
        return parse_duration(self.retry_max)

    def wait(self, attempts: int) -> timedelta:
        """The back-off after `attempts` failed sends: retry_base doubled for each one after
        the first, at most retry_max. Worked out in floats: with max_attempts in the dozens,
        timedelta arithmetic overflowed (2m * 2**44 is beyond what a timedelta holds)."""
        seconds = self.base.total_seconds() * 2.0 ** min(max(attempts - 1, 0), 1023)
        cap = self.cap
        return cap if seconds >= cap.total_seconds() else timedelta(seconds=seconds)


@dataclass(frozen=True)
class EmailSettings:
    """How digest emails present themselves as a list (`[email]` in worker.toml)."""

    list_id: str | None = None  # List-Id: <list_id>, so mail clients can filter and mute
    unsubscribe: tuple[str, ...] = ()  # mailto:/https: URIs for List-Unsubscribe; {subscriber}
    help: str | None = None  # whom to ask, shown in every digest's footer
    # Where subscribers' addresses may be: these domains and those below them; () any. Where
    # subscribers write their own files (a shared repository), one could otherwise have the
    # institute's relay mail anyone, as often as its schedule says.
    allowed_domains: tuple[str, ...] = ()

    def allows(self, address: str) -> bool:
        domain = address.rpartition("@")[2].lower()
        return not self.allowed_domains or any(
            domain == allowed or domain.endswith("." + allowed)
            for allowed in (d.lower().lstrip(".") for d in self.allowed_domains))

    def unsubscribe_uris(self, subscriber_id: str) -> tuple[str, ...]:
        from urllib.parse import quote

        who = quote(subscriber_id, safe="")
        return tuple(uri.replace("{subscriber}", who) for uri in self.unsubscribe)


# mailto: or http(s): in printable ASCII without spaces, commas or <>: safe in a header
_URI_CHARS = r"[!-+\--;=?-~]"
_UNSUBSCRIBE_URI = re.compile(rf"mailto:{_URI_CHARS}+@{_URI_CHARS}+|https?://{_URI_CHARS}+")


def _email_problems(email: EmailSettings, file: str, text: str) -> list[Problem]:
    problems = []
    at = section_start(text, "email")  # (`unsubscribe` is a key of [feedback] too)
    if email.list_id is not None and not re.fullmatch(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+",
                                                      email.list_id):
        problems.append(Problem(file, "expected a domain-like name without spaces or <>, e.g. "
                                "\"papers.lab.example.org\"", "email.list_id",
                                line_of(text, "list_id", at)))
    for domain in email.allowed_domains:
        if not re.fullmatch(r"\.?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+", domain):
            problems.append(Problem(file, f"{domain!r} is not a domain such as "
                                    "\"lab.example.org\"", "email.allowed_domains",
                                    line_of(text, "allowed_domains", at)))
    for uri in email.unsubscribe:
        if not _UNSUBSCRIBE_URI.fullmatch(uri):
            problems.append(Problem(file, f"{uri!r} is not a mailto: or http(s): URI in "
                                    "printable ASCII without spaces, commas or <>",
                                    "email.unsubscribe", line_of(text, "unsubscribe", at)))
    return problems


@dataclass(frozen=True)
class FeedbackSettings:
    """`[feedback]`: "more like this" / "fewer like this" links in digests (worker.feedback),
    answered by serve's HTTP port at `url`; signed with PAPER_DIGEST_FEEDBACK_SECRET."""

    url: str | None = None  # where readers reach serve's HTTP port, e.g. https://host/digest
    # every email digest carries a one-click unsubscribe link that serve answers (RFC 8058)
    unsubscribe: bool = True
    secret: str = field(default="", repr=False)  # from the environment only

    def links(self) -> FeedbackLinks | None:
        """The links' maker, or None when feedback links are off."""
        if not self.url or not self.secret:
            return None
        from worker.feedback import links_for

        # one for the install: render asks per digest
        return links_for(self.url, self.secret, self.unsubscribe)


def _feedback_problems(feedback: FeedbackSettings, file: str, text: str) -> list[Problem]:
    if feedback.url is None:
        return []
    line = line_of(text, "url", section_start(text, "feedback"))  # (a source has a url too)
    if not re.fullmatch(r"https?://[!-~]+", feedback.url):
        return [Problem(file, "expected the http:// or https:// URL where readers reach "
                        "serve's HTTP port", "feedback.url", line)]
    if len(feedback.secret) < MIN_FEEDBACK_SECRET:
        return [Problem(file, f"feedback links are signed with {FEEDBACK_SECRET_ENV}: set it "
                        f"in the environment, at least {MIN_FEEDBACK_SECRET} characters "
                        f"({'not set' if not feedback.secret else 'too short'})",
                        "feedback.url", line)]
    return []


@dataclass(frozen=True)
class MatchingSettings:
    semantic: bool = False  # also compare papers by meaning: needs the `semantic` extra
    workers: int = 0  # processes matching (and rendering) at once; 0: one per CPU, 1: no others
    # Where a `like`/`unlike` arXiv id or title no source has listed is looked up (worker.examples);
    # "" never looks one up.
    example_lookup: str = "https://export.arxiv.org"


@dataclass(frozen=True)
class Settings:
    config_dir: Path
    database_url: str
    output_dir: Path
    timezone: str = "UTC"
    contact: str | None = None
    templates_dir: Path | None = None
    sources: tuple[SourceSettings, ...] = ()
    # worker.toml's own database_url when PAPER_DIGEST_DATABASE_URL (which the image sets)
    # overrides it with another: said by check and serve, as nothing else shows it unused
    database_url_unused: str | None = None
    smtp: SmtpSettings | None = None
    delivery: DeliverySettings = DeliverySettings()
    serve: ServeSettings = field(default_factory=ServeSettings)
    matching: MatchingSettings = MatchingSettings()
    email: EmailSettings = EmailSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    retention: RetentionSettings = field(default_factory=RetentionSettings)


@dataclass(frozen=True)
class _WorkerFile:
    database_url: str = DEFAULT_DATABASE_URL
    output_dir: str = "out"
    timezone: str = "UTC"
    contact: str | None = None
    templates_dir: str | None = None


@dataclass
class Config:
    """Everything loaded from a config directory, good and bad."""

    settings: Settings
    profiles: list[Profile]
    problems: list[Problem]  # every problem, worker.toml's and subscribers'
    broken: dict[str, list[Problem]]  # subscriber id -> its problems (it is skipped)
    # subscriber id -> its profile, for those with enabled = false: not served, but still
    # to be previewed, explained and marked (worker.cli)
    disabled: dict[str, Profile] = field(default_factory=dict)
    # every subscriber file was read (not a command's one file): the ids with no file are gone
    complete: bool = True


def load_settings(config_dir: Path, env: Mapping[str, str]) -> tuple[Settings, list[Problem]]:
    """Settings from DIR/worker.toml and the environment, and every problem found."""
    path = config_dir / "worker.toml"
    file = str(path)
    data, text, problems = read_toml(path)
    data = data or {}
    sections = frozenset({"sources", "smtp", "delivery", "serve", "matching", "email",
                          "feedback", "retention"})
    base, base_problems = load_table(_WorkerFile, data, file=file, text=text, skip=sections)
    problems += base_problems
    base = base or _WorkerFile()
    problems += check_timezone(base.timezone, file, "timezone", text)
    sources, source_problems = load_sources(data.get("sources", []), file, text)
    problems += source_problems
    smtp = None
    if "smtp" in data:
        smtp, smtp_problems = load_smtp(data["smtp"], file, text, env)
        problems += smtp_problems
    delivery, delivery_problems = _load_delivery(data.get("delivery", {}), file, text)
    serve, serve_problems = load_serve(data, file, text)
    matching, matching_problems = _load_matching(data.get("matching", {}), file, text)
    email, email_problems = load_table(EmailSettings, data.get("email", {}), file=file,
                                       text=text, prefix="email.",
                                       after=section_start(text, "email"))
    problems += delivery_problems + serve_problems + matching_problems
    problems += email_problems + _email_problems(email or EmailSettings(), file, text)
    feedback, feedback_problems = _load_feedback(data.get("feedback", {}), file, text, env)
    problems += feedback_problems
    retention, retention_problems = load_retention(data.get("retention", {}), file, text)
    problems += retention_problems
    database_url = env.get("PAPER_DIGEST_DATABASE_URL") or base.database_url
    problems += _database_problems(database_url, database_url != base.database_url, file, text)
    unused = (base.database_url if "database_url" in data
              and database_url != base.database_url else None)
    settings = Settings(
        config_dir=config_dir,
        database_url=database_url,
        database_url_unused=unused,
        output_dir=Path(base.output_dir),
        timezone=base.timezone,
        contact=base.contact,
        templates_dir=Path(base.templates_dir) if base.templates_dir else None,
        sources=tuple(sources),
        smtp=smtp,
        delivery=delivery,
        serve=serve,
        matching=matching,
        email=email or EmailSettings(),
        feedback=feedback,
        retention=retention,
    )
    return settings, problems


def _database_problems(url: str, from_env: bool, file: str, text: str) -> list[Problem]:
    from worker.store.db import url_problem

    problem = url_problem(url)
    if problem is None:
        return []
    if from_env:
        return [Problem("environment", problem, "PAPER_DIGEST_DATABASE_URL")]
    return [Problem(file, problem, "database_url", line_of(text, "database_url"))]


def _load_delivery(table: Any, file: str, text: str,
                   ) -> tuple[DeliverySettings, list[Problem]]:
    at = section_start(text, "delivery")
    delivery, problems = load_table(DeliverySettings, table, file=file, text=text,
                                    prefix="delivery.", after=at)
    delivery = delivery or DeliverySettings()
    problems += duration_problems(delivery, "delivery", ("retry_base", "retry_max"),
                                  timedelta.resolution, "expected a wait longer than 0, e.g. 2m",
                                  file=file, text=text, at=at)
    if delivery.max_attempts < 1:
        problems.append(Problem(file, "expected 1 or more (sends tried before a digest is "
                                "marked failed)", "delivery.max_attempts",
                                line_of(text, "max_attempts", at)))
    return delivery, problems


def _load_matching(table: Any, file: str, text: str,
                   ) -> tuple[MatchingSettings, list[Problem]]:
    at = section_start(text, "matching")
    matching, problems = load_table(MatchingSettings, table, file=file, text=text,
                                    prefix="matching.", after=at)
    if matching is None:
        return MatchingSettings(), problems
    if matching.workers < 0:
        problems.append(Problem(file, "expected 0 (one process per CPU), 1 (matching in this "
                                "process only) or more", "matching.workers",
                                line_of(text, "workers", at)))
    lookup = matching.example_lookup
    if lookup and not lookup.startswith(("http://", "https://")):
        problems.append(Problem(file, 'expected an http:// or https:// URL, or "" for no '
                                "lookups", "matching.example_lookup",
                                line_of(text, "example_lookup", at)))
    return matching, problems


def _load_feedback(table: Any, file: str, text: str, env: Mapping[str, str],
                   ) -> tuple[FeedbackSettings, list[Problem]]:
    """[feedback]: its url from the file, its secret from the environment only."""
    at = section_start(text, "feedback")
    feedback, problems = load_table(FeedbackSettings, table, file=file, text=text,
                                    prefix="feedback.", skip=frozenset({"secret"}), after=at)
    if isinstance(table, dict) and "secret" in table:
        problems.append(Problem(file, f"a secret does not belong in a file: set "
                                f"{FEEDBACK_SECRET_ENV} in the environment",
                                "feedback.secret", line_of(text, "secret", at)))
    feedback = replace(feedback or FeedbackSettings(), secret=env.get(FEEDBACK_SECRET_ENV, ""))
    return feedback, problems + _feedback_problems(feedback, file, text)


def load_config(config_dir: Path, env: Mapping[str, str],
                only: Sequence[Path] | None = None) -> Config:
    """Load worker.toml and every subscriber file (or only the files in `only`: a command
    about one subscriber, or none, need not parse 10,000 files, ~1.5 s); never raises for bad
    content."""
    settings, problems = load_settings(config_dir, env)
    profiles, broken, disabled = [], {}, {}
    for path in subscriber_files(config_dir) if only is None else only:
        profile, file_problems, enabled = load_profile(path)
        if profile is not None and profile.email and not settings.email.allows(profile.email):
            file_problems = [*file_problems, _not_allowed(path, profile.email, settings.email)]
        if file_problems or profile is None:
            broken[path.stem] = file_problems
            problems += file_problems
        elif not enabled:
            disabled[path.stem] = profile
        else:
            profiles.append(profile)
    return Config(settings, profiles, problems, broken, disabled, complete=only is None)


def _not_allowed(path: Path, address: str, email: EmailSettings) -> Problem:
    try:  # read again for the line of `email` (only the few files refused come here)
        line = line_of(path.read_text(encoding="utf-8"), "email")
    except (OSError, UnicodeDecodeError):
        line = None
    return Problem(str(path), f"{address} is not at a domain this install mails "
                   f"({', '.join(email.allowed_domains)}: [email] allowed_domains in "
                   "worker.toml)", "email", line)


def settings_or_raise(config: Config) -> Settings:
    """The settings, or ConfigError listing worker.toml's problems (subscribers' are per file)."""
    subscriber_files = {str(p.file) for ps in config.broken.values() for p in ps}
    fatal = [p for p in config.problems if p.file not in subscriber_files]
    if fatal:
        raise ConfigError(fatal)
    return config.settings
