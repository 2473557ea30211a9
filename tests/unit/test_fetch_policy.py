"""The fetcher's politeness rules, table-driven over httpx.MockTransport (no sockets, no waits).

The same rules run against a real server on loopback in tests/integration/test_fetch_http.py.
"""

from __future__ import annotations

import logging
import tracemalloc
import zlib
from datetime import UTC, date, datetime

import httpcore
import httpx
import pytest

from tests.clock import FakeClock
from tests.memory import DictMemory
from worker.errors import SourceError
from worker.sources.dates import check_date_spec, days_to_read, resolve_dates
from worker.sources.http import Fetcher, FetchSettings, user_agent
from worker.sources.peers import ConnectionCheck, Peers, Refused, host_addresses
from worker.sources.retries import parse_retry_after

START = datetime(2025, 3, 10, 12, tzinfo=UTC)


# What the names in these tests resolve to; any other name resolves to nothing.
HOSTS = {"metadata.google.internal": ("169.254.169.254",), "intranet.example.org": ("10.0.0.5",),
         "mirror.example.org": ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"),
         "rebound.example.net": ("93.184.215.15", "fd00::7")}


def fetcher(responses: list, clock: FakeClock, **kwargs) -> tuple[Fetcher, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = responses.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):  # what a connection does before the answer (connected_to)
            answer = answer(request)
        return answer

    kwargs.setdefault("random", lambda: 0.5)
    kwargs.setdefault("resolve", lambda host: HOSTS.get(host, ()))  # no DNS from the tests
    return Fetcher(contact="ops@example.org", sleep=clock.sleep, clock=clock.monotonic,
                   wall_clock=clock.wall, transport=httpx.MockTransport(handler),
                   **kwargs), seen


def ok(body: bytes = b"[]", **headers: str) -> httpx.Response:
    return httpx.Response(200, content=body, headers=headers)


def test_user_agent_names_tool_version_and_contact():
    assert user_agent("ops@example.org", "1.2") == "paper-digest/1.2 (+ops@example.org)"
    assert user_agent(None, "1.2") == "paper-digest/1.2"
    clock = FakeClock(START)
    f, seen = fetcher([ok()], clock)
    f.fetch("https://huggingface.co/api/daily_papers", source="s", params={"date": "2025-03-10"})
    assert seen[0].headers["user-agent"].startswith("paper-digest/")
    assert seen[0].headers["user-agent"].endswith("(+ops@example.org)")
    assert seen[0].url.params["date"] == "2025-03-10"


@pytest.mark.parametrize(("first", "sleeps"), [
    (httpx.Response(500), [1.5]),  # 2 s ceiling, equal jitter at random()=0.5 -> 1.5 s
    (httpx.Response(502), [1.5]),
    (httpx.Response(429, headers={"Retry-After": "7"}), [7.0]),
    (httpx.Response(503, headers={"Retry-After": "Mon, 10 Mar 2025 12:00:30 GMT"}), [30.0]),
    (httpx.ConnectError("refused"), [1.5]),
    (httpx.ReadTimeout("slow"), [1.5]),
    (httpx.RemoteProtocolError("peer closed connection"), [1.5]),
])
def test_retryable_failures_are_retried_once_then_succeed(first, sleeps):
    clock = FakeClock(START)
    f, seen = fetcher([first, ok(b"fine")], clock)
    result = f.fetch("https://example.org/x", source="s")
    assert result.body == b"fine" and len(seen) == 2
    assert clock.sleeps == sleeps


def test_each_retry_is_logged_where_serve_and_run_v_log(caplog):
    """Under "paper_digest", the one logger `serve` and `run -v` write (worker.cli
    setup_logging): under its module's name the line went nowhere."""
    caplog.set_level(logging.INFO, logger="paper_digest")
    clock = FakeClock(START)
    f, _ = fetcher([httpx.Response(503), ok(b"fine")], clock)
    f.fetch("https://example.org/x", source="s")
    [line] = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert line.name.startswith("paper_digest.")
    assert line.getMessage() == ("https://example.org/x: HTTP 503 Service Unavailable; "
                                 "retrying in 1.5 s")


def test_backoff_doubles_and_the_error_names_url_status_and_attempts():
    clock = FakeClock(START)
    f, seen = fetcher([httpx.Response(503, text="busy")] * 4, clock, random=lambda: 1.0)
    with pytest.raises(SourceError) as err:
        f.fetch("https://example.org/x", source="hf")
    assert len(seen) == 4 and clock.sleeps == [2.0, 4.0, 8.0]
    assert err.value.status == 503 and err.value.url == "https://example.org/x"
    assert "gave up after 4 attempts" in str(err.value) and "'hf'" in str(err.value)


def test_retry_after_longer_than_we_wait_fails_at_once():
    clock = FakeClock(START)
    f, seen = fetcher([httpx.Response(429, headers={"Retry-After": "3600"})], clock)
    with pytest.raises(SourceError, match="retry after 3600 s, longer than a run waits: not "
                                          "asked again before 2025-03-10 13:00:00 UTC"):
        f.fetch("https://example.org/x", source="s")
    assert len(seen) == 1 and clock.sleeps == []


def test_a_long_retry_after_holds_the_server_for_later_runs_until_its_time():
    """A server that asked for an hour is not asked again before it, by this pass (another
    URL on it) or the next (another Fetcher with the same memory); other servers are; after
    the hour, it is asked again."""
    clock, memory = FakeClock(START), DictMemory()
    f, seen = fetcher([httpx.Response(429, headers={"Retry-After": "3600"}), ok(b"other")],
                      clock, memory=memory)
    with pytest.raises(SourceError):
        f.fetch("https://example.org/a", source="s")
    with pytest.raises(SourceError, match=r"not asked: example.org asked to be left alone until "
                                          r"2025-03-10 13:00:00 UTC \(HTTP 429 Too Many "
                                          r"Requests, Retry-After\)") as err:
        f.fetch("https://example.org/b", source="s")
    assert err.value.url == "https://example.org/b"
    assert f.fetch("https://example.com/c", source="s").body == b"other"
    assert [str(r.url) for r in seen] == ["https://example.org/a", "https://example.com/c"]

    clock.sleep(3599)  # the next run, a second early: still held, and nothing asked
    later, asked = fetcher([ok(b"back")], clock, memory=memory)
    with pytest.raises(SourceError, match="left alone until 2025-03-10 13:00:00 UTC"):
        later.fetch("https://example.org/a", source="s")
    clock.sleep(1)
    after, asked = fetcher([ok(b"back")], clock, memory=memory)
    assert after.fetch("https://example.org/a", source="s").body == b"back" and len(asked) == 1


@pytest.mark.parametrize(("retry_after", "held_until"), [
    ("86400000", datetime(2025, 3, 11, 12, tzinfo=UTC)),  # 1,000 days: a day at most
    ("90", datetime(2025, 3, 10, 12, 6, tzinfo=UTC)),  # waited out 3 times (270 s), then 90 s
])
def test_the_retry_after_a_request_gives_up_on_is_kept(retry_after, held_until):
    clock, memory = FakeClock(START), DictMemory()
    f, _ = fetcher([httpx.Response(503, headers={"Retry-After": retry_after})] * 4, clock,
                   memory=memory)
    with pytest.raises(SourceError):
        f.fetch("https://example.org/x", source="s")
    assert memory.held("example.org") == (held_until, "HTTP 503 Service Unavailable")


def test_no_retry_after_or_zero_holds_nothing():
    clock, memory = FakeClock(START), DictMemory()
    f, _ = fetcher([httpx.Response(503), httpx.Response(503, headers={"Retry-After": "0"})],
                   clock, memory=memory, settings=FetchSettings(max_attempts=2))
    with pytest.raises(SourceError):
        f.fetch("https://example.org/x", source="s")
    assert memory.holds == {}


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_client_errors_are_not_retried(status):
    clock = FakeClock(START)
    f, seen = fetcher([httpx.Response(status, text="nope")], clock)
    with pytest.raises(SourceError) as err:
        f.fetch("https://example.org/x", source="s")
    assert len(seen) == 1 and err.value.status == status


def test_ok_statuses_are_returned_for_the_caller_to_read():
    clock = FakeClock(START)
    f, _ = fetcher([httpx.Response(400, content=b"<feed/>")], clock)
    result = f.fetch("https://export.arxiv.org/api/query", source="s", ok_statuses=(400,))
    assert result.status == 400 and result.body == b"<feed/>"


def test_same_host_requests_are_spaced_by_min_interval():
    clock = FakeClock(START)
    f, _ = fetcher([ok(), ok(), ok(), ok()], clock)
    f.fetch("https://export.arxiv.org/api/query", source="s")
    f.fetch("https://export.arxiv.org/api/query?start=100", source="s")
    f.fetch("https://huggingface.co/api/daily_papers", source="s")  # other host: no wait
    clock.t += 1.0
    f.fetch("https://export.arxiv.org/api/query?start=200", source="s")
    assert clock.sleeps == [3.0, 2.0]


def test_min_interval_per_request_overrides_the_host_default():
    clock = FakeClock(START)
    f, _ = fetcher([ok(), ok()], clock)
    f.fetch("https://huggingface.co/a", source="s", min_interval=5)
    f.fetch("https://huggingface.co/b", source="s", min_interval=5)
    assert clock.sleeps == [5.0]


def test_conditional_get_sends_stored_validators_and_304_is_not_modified():
    clock = FakeClock(START)
    store = DictMemory()
    first_reply = ok(b"v1", etag='"abc"', **{"last-modified": "Mon, 10 Mar 2025 00:00:00 GMT"})
    f, seen = fetcher([first_reply, httpx.Response(304)], clock, memory=store)
    first = f.fetch("https://example.org/feed", source="s")
    assert store.get("https://example.org/feed") == (None, None)  # not before remember()
    f.remember(first)
    second = f.fetch("https://example.org/feed", source="s")
    assert seen[1].headers["if-none-match"] == '"abc"'
    assert seen[1].headers["if-modified-since"] == "Mon, 10 Mar 2025 00:00:00 GMT"
    assert second.not_modified and second.body == b""


def test_size_cap():
    clock = FakeClock(START)
    f, _ = fetcher([ok(b"x" * 2000)], clock, settings=FetchSettings(max_bytes=1000))
    with pytest.raises(SourceError, match="larger than the 1000-byte limit"):
        f.fetch("https://example.org/big", source="s")


def test_redirect_seen_or_followed():
    clock = FakeClock(START)
    moved = httpx.Response(302, headers={"Location": "/papers/date/2025-03-07"})
    f, _ = fetcher([moved, moved, ok(b"page")], clock)
    seen = f.fetch("https://huggingface.co/papers/date/2025-03-08", source="s",
                   follow_redirects=False)
    assert seen.redirected and seen.status == 302
    assert seen.final_url == "https://huggingface.co/papers/date/2025-03-07"
    followed = f.fetch("https://huggingface.co/papers/date/2025-03-08", source="s")
    assert followed.redirected and followed.status == 200 and followed.body == b"page"
    assert followed.final_url == "https://huggingface.co/papers/date/2025-03-07"


@pytest.mark.parametrize(("value", "seconds"), [
    ("120", 120.0), (" 0 ", 0.0), ("Mon, 10 Mar 2025 12:01:00 GMT", 60.0),
    ("Mon, 10 Mar 2025 11:00:00 GMT", 0.0), ("soon", None), ("", None), (None, None),
])
def test_parse_retry_after(value, seconds):
    assert parse_retry_after(value, START) == seconds


NOW = datetime(2025, 3, 10, 1, 30, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(("spec", "days"), [
    ("today", [date(2025, 3, 10)]),
    ("Yesterday", [date(2025, 3, 9)]),
    ("2024-02-29", [date(2024, 2, 29)]),
    ("last 3 days", [date(2025, 3, 8), date(2025, 3, 9), date(2025, 3, 10)]),
    ("last 1 day", [date(2025, 3, 10)]),
])
def test_fetch_dates(spec, days):
    assert resolve_dates(spec, NOW) == days
    assert check_date_spec(spec) is None


def test_fetch_dates_use_utc_of_now():
    late_in_new_york = datetime(2025, 3, 9, 22, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("America/New_York"))
    assert resolve_dates("today", late_in_new_york) == [date(2025, 3, 9)]


@pytest.mark.parametrize(("spec", "last_read", "first", "left_out"), [
    ("today", None, date(2025, 3, 10), None),
    ("today", datetime(2025, 3, 10, 1, tzinfo=UTC), date(2025, 3, 10), None),
    ("today", datetime(2025, 3, 7, 23, tzinfo=UTC), date(2025, 3, 7), None),
    ("yesterday", datetime(2025, 3, 7, 23, tzinfo=UTC), date(2025, 3, 6), None),
    ("last 3 days", datetime(2025, 3, 9, tzinfo=UTC), date(2025, 3, 7), None),
    ("2025-03-01", datetime(2025, 3, 5, tzinfo=UTC), date(2025, 3, 1), None),
    ("today", datetime(2025, 3, 11, tzinfo=UTC), date(2025, 3, 10), None),  # --now earlier
    ("today", datetime(2025, 1, 1, tzinfo=UTC), date(2025, 2, 8), "2025-01-01 to 2025-02-07"),
])
def test_days_to_read_catch_up_since_the_last_read(spec, last_read, first, left_out):
    days, warning = days_to_read(spec, NOW, last_read)
    assert days[0] == first and days[-1] == resolve_dates(spec, NOW)[-1]
    assert len(days) == (days[-1] - first).days + 1 <= 31
    assert (warning is None) == (left_out is None)
    assert left_out is None or f"the days {left_out} are not read" in (warning or "")


@pytest.mark.parametrize("spec", ["tomorrow", "last 0 days", "last 40 days", "2025-02-30", ""])
def test_fetch_dates_errors(spec):
    assert check_date_spec(spec) is not None
    with pytest.raises(ValueError):
        resolve_dates(spec, NOW)


def test_bad_gzip_and_bad_urls_fail_without_retrying():
    clock = FakeClock(START)
    broken = httpx.Response(200, stream=httpx.ByteStream(b"not gzip"),
                            headers={"Content-Encoding": "gzip"})
    f, seen = fetcher([broken], clock)
    with pytest.raises(SourceError, match="DecodingError"):
        f.fetch("https://example.org/x", source="s")
    with pytest.raises(SourceError, match="invalid URL"):
        f.fetch("https://[::1/x", source="s")
    assert len(seen) == 1 and clock.sleeps == []
    # The real transport refuses other schemes before any traffic.
    with Fetcher(sleep=clock.sleep) as real, pytest.raises(SourceError, match="cannot request"):
        real.fetch("ftp://example.org/x", source="s")
    assert clock.sleeps == []


def test_for_settings_takes_the_contact():
    class Settings:
        contact = "lab@example.org"

    with Fetcher.for_settings(Settings(), DictMemory()) as f:
        assert f.user_agent.endswith("(+lab@example.org)") and f.memory is not None


def _gzip(data: bytes, wbits: int = 31) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize("encoding", ["gzip", "gzip, gzip", "deflate, gzip"])
def test_a_compressed_body_never_grows_past_the_size_cap_in_memory(encoding):
    """A decompression bomb: 64 MiB of zeros in a few KB (stacked codings: ~1,000,000:1).
    It is refused, and never held in memory whole on the way (httpx's decoders made it all at
    once: a 2 KB body took 2 GB)."""
    zeros = b"\0" * (64 * 1024 * 1024)
    body = _gzip(zeros)
    if encoding != "gzip":
        body = _gzip(body, 15 if encoding.startswith("deflate") else 31)
    del zeros
    clock = FakeClock(START)
    bomb = httpx.Response(200, stream=httpx.ByteStream(body),
                          headers={"Content-Encoding": encoding})
    f, _ = fetcher([bomb], clock,
                   settings=FetchSettings(max_bytes=1000))
    tracemalloc.start()
    try:
        with pytest.raises(SourceError, match=r"1000-byte limit|unsupported Content-Encoding"):
            f.fetch("https://example.org/bomb", source="s")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024


@pytest.mark.parametrize("encoding, wbits", [("gzip", 31), ("x-gzip", 31), ("deflate", 15),
                                             ("deflate", -15), ("identity", 0), ("", 0)])
def test_compressed_bodies_are_read_whole(encoding, wbits):
    text = b"".join(b"paper %d\n" % n for n in range(100_000))
    body = _gzip(text, wbits) if wbits else text
    clock = FakeClock(START)
    headers = {"Content-Encoding": encoding} if encoding else {}
    f, seen = fetcher([httpx.Response(200, stream=httpx.ByteStream(body), headers=headers)],
                      clock)
    assert f.fetch("https://example.org/list", source="s").body == text
    assert seen[0].headers["Accept-Encoding"] == "gzip, deflate"


def test_bytes_after_a_gzip_end_count_against_the_size_cap():
    """What follows a gzip body's end decodes to nothing, but is read (and held by zlib): an
    endless stream of it is refused at the cap, not read forever."""
    body = _gzip(b"[]") + b"\0" * 5000
    clock = FakeClock(START)
    f, _ = fetcher([httpx.Response(200, stream=httpx.ByteStream(body),
                                   headers={"Content-Encoding": "gzip"})],
                   clock, settings=FetchSettings(max_bytes=1000))
    with pytest.raises(SourceError, match="larger than the 1000-byte limit"):
        f.fetch("https://example.org/trailing", source="s")


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/",
                                    "http://127.0.0.1:8080/admin", "http://10.1.2.3/",
                                    "http://[::1]/", "http://localhost/",
                                    "http://metadata.google.internal/computeMetadata/v1/",
                                    "http://rebound.example.net/"])
def test_a_public_source_redirected_into_this_machine_or_its_network_is_not_followed(target):
    """A compromised mirror answering with a redirect to the cloud's metadata service (or
    anything only the worker's machine reaches) is refused, the address never asked; a name
    is as good as an address to it: one that resolves here to an internal address (any of its
    addresses) is refused the same way."""
    clock = FakeClock(START)
    f, seen = fetcher([httpx.Response(302, headers={"Location": target}), ok(b"secrets")],
                      clock)
    with pytest.raises(SourceError, match=r"redirected from mirror\.example\.org to an address "
                                          r"of this machine or its network \(.*\): not followed"):
        f.fetch("http://mirror.example.org/dump.txt", source="s")
    assert [str(r.url) for r in seen] == ["http://mirror.example.org/dump.txt"]


@pytest.mark.parametrize("source, target", [("http://10.0.0.5/dump.txt", "http://10.0.0.9/d.txt"),
                                            ("http://intranet.example.org/dump.txt",
                                             "http://10.0.0.9/d.txt"),
                                            ("http://10.0.0.5/dump.txt",
                                             "http://intranet.example.org/d.txt")])
def test_a_source_on_the_local_network_may_redirect_within_it(source, target):
    """Whether the source's host is written as an address or named (an intranet mirror)."""
    clock = FakeClock(START)
    f, seen = fetcher([httpx.Response(302, headers={"Location": target}), ok(b"papers")], clock)
    assert f.fetch(source, source="s").body == b"papers" and len(seen) == 2


@pytest.mark.parametrize("target", ["http://unknown.example.com/d.txt",
                                    "https://mirror.example.org/d.txt"])
def test_a_public_source_may_redirect_to_a_public_or_unresolved_name(target):
    """A name that resolves to nothing here reaches nothing (the fetch then fails as
    unreachable, not as refused)."""
    clock = FakeClock(START)
    f, seen = fetcher([httpx.Response(302, headers={"Location": target}), ok(b"papers")], clock)
    assert f.fetch("http://cdn.example.com/dump.txt", source="s").body == b"papers"
    assert len(seen) == 2


def test_host_addresses_resolves_names_on_this_machine_and_gives_none_for_nonsense():
    assert {"127.0.0.1", "::1"} & set(host_addresses("localhost"))
    assert host_addresses("127.0.0.1") == ("127.0.0.1",)
    assert host_addresses("no such host..invalid") == ()


# -- DNS rebinding: the address a redirect's connection reached (worker.sources.peers) --------

class Stream:
    """A network stream as httpcore hands it to the `trace` extension once connected."""

    def __init__(self, peer: str | None):
        self.peer, self.closed = peer, False

    def get_extra_info(self, name: str):
        if name == "server_addr" and self.peer is None:
            raise OSError(107, "Transport endpoint is not connected")  # reset already
        return (self.peer, 80) if name == "server_addr" else None

    def close(self) -> None:
        self.closed = True


def connected_to(peer: str | None, answer: httpx.Response | None = None, via: str = "",
                 written: list[str] | None = None):
    """What httpcore does for a request before its answer: it connects (to the request's host,
    or to the proxy `via`), tells the request's `trace` extension the stream it got, then
    writes the request. `written` gets the URLs written."""
    def connection(request: httpx.Request) -> httpx.Response:
        trace = request.extensions["trace"]
        host = via or request.url.raw_host.decode("ascii")
        trace("connection.connect_tcp.started", {"host": host, "port": request.url.port or 80})
        trace("connection.connect_tcp.complete", {"return_value": Stream(peer)})
        sent = f"http://{via}{request.url.raw_path.decode()}" if via else str(request.url)
        trace("http11.send_request_headers.started", {"request": httpcore.Request("GET", sent)})
        if written is not None:
            written.append(str(request.url))
        return answer or ok(b"secrets")
    return connection


@pytest.mark.parametrize("peer", ["127.0.0.1", "169.254.169.254", "10.1.2.3", "::1",
                                  "fe80::1%eth0", "fd00::7", "0.0.0.0"])
def test_a_redirect_whose_connection_reaches_this_machine_or_its_network_is_not_followed(peer):
    """The name passed `Guard.check_redirect` (it resolved to nothing internal then); the socket
    reached an internal address a moment later (DNS rebinding): refused before the request is
    written, not retried, and the SourceError reads like `Guard.check_redirect`'s."""
    clock = FakeClock(START)
    written: list[str] = []
    f, seen = fetcher([httpx.Response(302, headers={"Location": "http://cdn.example.com/d"}),
                       connected_to(peer, written=written)], clock)
    with pytest.raises(SourceError, match=rf"redirected from mirror\.example\.org to "
                                          rf"http://cdn\.example\.com/d, whose name resolved to "
                                          rf"an internal address when connecting \({peer}: this "
                                          rf"machine or its network\): not followed") as err:
        f.fetch("http://mirror.example.org/dump.txt", source="s")
    assert written == [] and len(seen) == 2 and clock.sleeps == []
    assert err.value.source == "s" and err.value.url == "http://mirror.example.org/dump.txt"


def test_a_connection_whose_address_cannot_be_told_is_refused_too():
    clock = FakeClock(START)
    f, _ = fetcher([httpx.Response(302, headers={"Location": "http://cdn.example.com/d"}),
                    connected_to(None)], clock)
    with pytest.raises(SourceError, match=r"to http://cdn\.example\.com/d, whose address could "
                                          r"not be told when connecting: not followed"):
        f.fetch("http://mirror.example.org/dump.txt", source="s")


@pytest.mark.parametrize(("source", "target", "peer"), [
    ("http://mirror.example.org/d.txt", "http://cdn.example.com/d.txt", "93.184.215.16"),
    ("http://mirror.example.org/d.txt", "https://mirror.example.org/d.txt", "127.0.0.1"),
    ("http://intranet.example.org/d.txt", "http://cdn.example.com/d.txt", "10.0.0.9"),
    ("http://10.0.0.5/d.txt", "http://cdn.example.com/d.txt", "127.0.0.1"),
])
def test_only_a_redirect_away_from_a_public_source_is_judged_by_its_connection(source, target,
                                                                                peer):
    """A public server; the source's own host (its operator's to choose); a source on the
    local network, named or written as an address: all followed, through the check."""
    clock = FakeClock(START)
    written: list[str] = []
    f, _ = fetcher([httpx.Response(302, headers={"Location": target}),
                    connected_to(peer, ok(b"papers"), written=written)], clock)
    assert f.fetch(source, source="s").body == b"papers" and written == [target]


def test_a_redirect_followed_hop_by_hop_is_judged_from_the_source_it_names():
    """get_until's kinds fetch each hop themselves: `redirected_from` says whose redirect it
    is; without it the URL is a source's own."""
    clock = FakeClock(START)
    f, _ = fetcher([connected_to("127.0.0.1"), connected_to("127.0.0.1", ok(b"own"))], clock)
    with pytest.raises(SourceError, match="resolved to an internal address when connecting"):
        f.fetch("http://cdn.example.com/d", source="s",
                redirected_from="http://mirror.example.org/dump.txt")
    assert f.fetch("http://cdn.example.com/d", source="s").body == b"own"


def test_through_a_proxy_the_connection_reached_is_the_proxys_and_is_not_judged():
    """The proxy (on the local network, as most are) looks the name up itself, out of sight:
    not covered. Its connection is not taken for the server's."""
    clock = FakeClock(START)
    f, _ = fetcher([httpx.Response(302, headers={"Location": "http://cdn.example.com/d"}),
                    connected_to("10.0.0.3", ok(b"papers"), via="proxy.internal:3128")], clock)
    assert f.fetch("http://mirror.example.org/dump.txt", source="s").body == b"papers"


def check(source: str, url: str, peers: Peers) -> ConnectionCheck:
    return ConnectionCheck(httpx.URL(source), httpx.URL(url), peers,
                           lambda host: host.startswith("10."))


def test_the_refused_connection_is_closed_and_its_address_remembered():
    peers = Peers()
    stream = Stream("127.0.0.1")
    trace = check("http://mirror.example.org/", "https://cdn.example.com/d", peers)
    trace("connection.connect_tcp.started", {"host": "cdn.example.com", "port": 443})
    with pytest.raises(Refused):
        trace("connection.connect_tcp.complete", {"return_value": stream})
    assert stream.closed and peers.of(("cdn.example.com", 443)) == ("127.0.0.1",)


@pytest.mark.parametrize(("sent", "refused"), [("http://cdn.example.com/d", True),
                                               ("http://proxy.internal:3128/d", False)])
def test_a_request_on_a_kept_connection_is_judged_by_where_its_connections_went(sent, refused):
    """No connection is made for a request on a kept one: the addresses the connections to
    that host and port reached (any of them) judge it. Written to a forward proxy, it is not
    judged."""
    peers = Peers()
    peers.add(("cdn.example.com", 80), "93.184.215.16")
    peers.add(("cdn.example.com", 80), "127.0.0.1")  # when the name answered loopback
    trace = check("http://mirror.example.org/", "http://cdn.example.com/d", peers)
    sending = ("http11.send_request_headers.started", {"request": httpcore.Request("GET", sent)})
    if refused:
        with pytest.raises(Refused, match=r"internal address when connecting \(127\.0\.0\.1"):
            trace(*sending)
    else:
        trace(*sending)
