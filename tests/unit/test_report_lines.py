"""What `run` prints about the digests of a pass: every subscriber for a small install; for an
institute, only those with something to look at, and the rest counted."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from worker.app import PassReport
from worker.building import SubscriberReport
from worker.report import LISTED, pass_lines
from worker.sending import DeliveryReport, Hold
from worker.settings import Settings

NOW = datetime(2026, 3, 14, 20, tzinfo=UTC)


def settings(config_dir: str = "config") -> Settings:
    return Settings(database_url="sqlite://", output_dir=Path("out"),
                    config_dir=Path(config_dir))


def institute(size: int, dry_run: bool = False) -> PassReport:
    """`size` subscribers: s0 had its email refused (will retry), s1 a `like` not found, s2
    has an earlier digest still pending, s3-s9 nothing new, the rest a digest of 3 papers."""
    report = PassReport(NOW, dry_run=dry_run)
    for n in range(size):
        sid = f"s{n}"
        if 3 <= n < 10:
            report.subscribers[sid] = SubscriberReport(sid)
            continue
        report.subscribers[sid] = SubscriberReport(
            sid, digest_id=n + 1, items=3, candidates=40,
            unknown_examples=(("Some Title", "no paper has that title"),) if n == 1 else ())
        report.deliveries.append(DeliveryReport(sid, n + 1, "email",
                                                "retry" if n == 0 else "sent", f"{sid}@x"))
    report.deliveries.append(DeliveryReport("s2", 1000 + 2, "email", "retry", "SMTP down"))
    return report


def test_an_institutes_pass_lists_those_with_something_to_look_at_and_counts_the_rest(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAPER_DIGEST_CONFIG", raising=False)
    lines = pass_lines(institute(10_000), settings())
    digests = lines[lines.index("Digests:") + 1:]
    assert [line for line in digests if not line.startswith("    ")] == [
        "  s0: 3 papers", "  s1: 3 papers", "  s2: 3 papers",
        "  ...and 9997 more: 9990 digests of 29970 papers sent, 7 with no paper "
        "(`paper-digest subscribers` lists each)"]
    assert "    email NOT SENT (will retry) s0@x" in digests
    assert "    earlier digest: email NOT SENT (will retry) SMTP down" in digests
    assert any("Some Title" in line for line in digests)


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_small_install_lists_everyone(dry_run: bool) -> None:
    lines = pass_lines(institute(LISTED, dry_run), settings())
    assert "  s9: nothing new" in lines and "  s49: 3 papers" in lines
    assert not any("more:" in line for line in lines)


def test_a_dry_run_says_would_be_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAPER_DIGEST_CONFIG", raising=False)
    lines = pass_lines(institute(LISTED + 1, dry_run=True), settings("c"))
    assert lines[-1].endswith("41 digests of 123 papers would be sent, 7 with no paper "
                              "(`paper-digest --config c subscribers` lists each)")


def test_when_every_subscriber_is_routine_the_count_stands_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAPER_DIGEST_CONFIG", raising=False)
    report = institute(LISTED + 20)
    report.deliveries = [dataclasses.replace(d, status="sent") for d in report.deliveries
                         if d.digest_id < 1000]  # not s2's earlier digest
    report.subscribers["s1"].unknown_examples = ()
    lines = pass_lines(report, settings())
    first = lines[lines.index("Digests:") + 1]
    assert first.startswith("  70 subscribers: 63 digests of 189 papers sent, 7 with no paper")


def test_digests_a_pass_stopped_before_sending_are_not_counted_as_sent(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Told to stop while it matched, a pass writes digests and sends none: the count says
    so, and how many subscribers are left to the next run."""
    monkeypatch.delenv("PAPER_DIGEST_CONFIG", raising=False)
    report = institute(LISTED + 20)
    report.deliveries = []
    report.subscribers["s1"].unknown_examples = ()
    report.unbuilt = 300
    lines = pass_lines(report, settings())
    digests = lines[lines.index("Digests:") + 1:]
    assert digests == [
        "  70 subscribers: 63 digests of 189 papers written, not sent yet, 7 with no paper "
        "(`paper-digest subscribers` lists each)",
        "  (300 subscribers left to the next run: stopped before their digests were built)"]


def test_an_earlier_passs_digests_sent_now_are_counted_not_listed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The pass after one stopped while it matched sends the digests that one wrote: at an
    institute's size they are counted with the rest, not listed one by one."""
    monkeypatch.delenv("PAPER_DIGEST_CONFIG", raising=False)
    report = institute(LISTED + 20)
    report.deliveries = [dataclasses.replace(d, status="sent") for d in report.deliveries]
    report.subscribers["s1"].unknown_examples = ()
    for n in range(3, 10):  # nothing new to them now: their digests were the earlier pass's
        report.deliveries.append(DeliveryReport(f"s{n}", 2000 + n, "email", "sent", "x"))
    lines = pass_lines(report, settings())
    assert lines[lines.index("Digests:") + 1:] == [
        "  70 subscribers: 63 digests of 189 papers sent, 7 with no paper, and 8 earlier "
        "digests sent (`paper-digest subscribers` lists each)"]


def test_digests_a_template_held_are_counted_and_the_error_said_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken template holds every email digest of an institute's pass: one line counts
    them, one names the error, rather than two lines for each of 10,000 subscribers."""
    monkeypatch.delenv("PAPER_DIGEST_CONFIG", raising=False)
    report = institute(LISTED + 20)
    report.subscribers["s1"].unknown_examples = ()
    report.deliveries = [dataclasses.replace(d, status="retry", detail="TemplateError: t:1")
                         for d in report.deliveries if d.digest_id < 1000]
    error = "TemplateError: digest.html.j2:3: 'd' has no attribute 'x'"
    report.holds = {error: Hold(True, error, {"email"}, {
        d.digest_id: d.subscriber_id for d in report.deliveries})}
    lines = pass_lines(report, settings())
    assert lines[lines.index("Digests:") + 1:] == [
        "  70 subscribers: 63 digests of 189 papers held by the template error below, 7 with "
        "no paper (`paper-digest subscribers` lists each)",
        f"error: {error}: 63 digests held, pending with no attempt counted, until the "
        "template is fixed (`paper-digest preview s0` renders it; the next run sends them)"]


def test_digests_a_relay_or_a_folder_held_are_counted_and_each_cause_said_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A relay that cannot be reached holds every email digest of an institute's pass, and a
    folder that cannot be written every Markdown one: one line counts them, one line a
    cause names it, rather than a block for each of 10,000 subscribers (cron mails it)."""
    monkeypatch.delenv("PAPER_DIGEST_CONFIG", raising=False)
    report = institute(LISTED + 20)
    report.subscribers["s1"].unknown_examples = ()
    relay = "cannot connect to smtp.example.org:25: Connection refused"
    folder = "cannot write a digest's file: No space left on device"
    report.deliveries = [dataclasses.replace(d, status="retry", detail=relay)
                         for d in report.deliveries if d.digest_id < 1000]
    emails, files = report.deliveries[:40], report.deliveries[40:]
    report.holds = {
        relay: Hold(False, relay, {"email"}, {d.digest_id: d.subscriber_id for d in emails}),
        folder: Hold(False, "cannot write out/s50/2026-12-07-digest-51.md: No space left on "
                     "device", {"markdown"}, {d.digest_id: d.subscriber_id for d in files})}
    lines = pass_lines(report, settings())
    assert lines[lines.index("Digests:") + 1:] == [
        "  70 subscribers: 63 digests of 189 papers held by the errors below, 7 with no paper "
        "(`paper-digest subscribers` lists each)",
        f"error: {relay}: 40 digests held, pending with no attempt counted, until it is put "
        "right (the next run sends them)",
        f"error: {folder} (the first: cannot write out/s50/2026-12-07-digest-51.md: No space "
        "left on device): 23 digests held, pending with no attempt counted, until it is put "
        "right (the next run sends them)"]
