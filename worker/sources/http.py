"""The shared HTTP fetcher: one polite httpx client for a whole pass.

Everything that makes paper-digest a good citizen lives here, so the source kinds only say
what to fetch: a User-Agent naming the tool and a contact, timeouts, a response size cap,
retries with exponential backoff and jitter (connection errors, timeouts, 429, 5xx) that
honour `Retry-After`, a minimum delay between requests to the same host (arXiv asks for
3 s), and conditional GET with the ETag / Last-Modified a `FetchMemory` remembers. A host
that could not be reached at all on any attempt of a request (no route, refused, its name not
found, no connection in time) is not asked again by the same Fetcher, a pass: its next
requests fail at once, saying why, and the next pass tries again. Offline, a pass no longer
waits out every URL's retries.

Sleeping, randomness and both clocks are injected, so tests never really wait.
"""

from __future__ import annotations

import logging
import random as _random
import socket
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from itertools import chain
from typing import Any, Protocol

import httpx

from worker import __version__
from worker.errors import SourceError
from worker.sources.decoding import ACCEPT_ENCODING, Decoder, Truncated
from worker.sources.peers import SOURCE_URL, ConnectionCheck, Peers, Refused, internal_address
from worker.sources.transport import Client

log = logging.getLogger("paper_digest.fetch")  # under "paper_digest": serve and -v log that

# arXiv's terms of use: no more than one request every three seconds, per host we talk to.
DEFAULT_MIN_INTERVALS: Mapping[str, float] = {
    "export.arxiv.org": 3.0,
    "arxiv.org": 3.0,
    "rss.arxiv.org": 3.0,
}
MiB = 1024 * 1024
TOO_MANY_REDIRECTS = "too many redirects"  # the same words whoever follows the redirects


class FetchMemory(Protocol):
    """What the fetcher remembers between passes: each URL's ETag / Last-Modified, keyed by
    `cache_key()`, and the servers (host[:port]) that asked to be left alone until a time."""

    def get(self, url: str) -> tuple[str | None, str | None]: ...

    def put(self, url: str, etag: str | None, last_modified: str | None) -> None: ...

    def held(self, where: str) -> tuple[datetime, str] | None: ...  # (until, why)

    def hold(self, where: str, until: datetime, reason: str) -> None: ...


@dataclass(frozen=True)
class FetchResult:
    """One HTTP exchange as a source sees it. Header names are lower-case."""

    url: str  # what was asked for, query included: the key for validators and reports
    final_url: str  # after redirects (or the Location when redirects are not followed)
    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)
    not_modified: bool = False  # HTTP 304: nothing to parse
    redirected: bool = False
    scope: str = ""  # who reads it, and how: see cache_key()

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for param in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                return value.strip().strip('"').lower()
        return None

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")


@dataclass(frozen=True)
class FetchSettings:
    """Fetcher-wide knobs; sources may override `timeout` and `min_interval` per request."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_bytes: int = 25 * MiB  # HF pages are ~0.5 MiB, a 2000-entry arXiv listing ~5 MiB
    max_attempts: int = 4
    backoff_base: float = 2.0  # seconds before the first retry, doubled each time
    backoff_max: float = 60.0
    max_retry_after: float = 300.0  # a server asking for longer is treated as a failure...
    max_hold: float = 86400.0  # ...and not asked again before then, or after a day at most
    max_redirects: int = 5
    # One response, from the request to its last byte. A read timeout bounds each wait for
    # data, not the whole: a server sending a byte at a time would hold the pass for ever.
    max_seconds: float = 300.0
    min_intervals: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIN_INTERVALS))


def host_addresses(host: str) -> tuple[str, ...]:
    """The addresses `host` resolves to on this machine, or none where it does not."""
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return ()
    return tuple(dict.fromkeys(str(info[4][0]) for info in found))


class _Retry(Exception):
    """One attempt failed in a way worth retrying."""

    def __init__(self, reason: str, status: int | None = None, wait: float | None = None,
                 unreachable: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.wait = wait  # what Retry-After asked for, if anything
        self.unreachable = unreachable  # no connection was made at all


def cache_key(url: str, scope: str) -> str:
    """The validators' key: the URL within the reader's scope, when it has one. A source that
    takes other things from the same body (other filters) must not be told "not modified"
    because another reading of it was taken in."""
    return f"{scope} {url}" if scope else url


def user_agent(contact: str | None, version: str = __version__) -> str:
    contact_part = f" (+{contact})" if contact else ""
    return f"paper-digest/{version}{contact_part}"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _host(url: str) -> str:
    return httpx.URL(url).host


class Fetcher:
    """One httpx.Client for a pass, shared by every HTTP source. Use as a context manager."""

    def __init__(self, *, contact: str | None = None, memory: FetchMemory | None = None,
                 settings: FetchSettings | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 random: Callable[[], float] = _random.random,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 transport: httpx.BaseTransport | None = None,
                 resolve: Callable[[str], tuple[str, ...]] = host_addresses):
        self.settings = settings or FetchSettings()
        self.resolve = resolve
        self.memory = memory
        self.sleep, self.random, self.clock, self.wall_clock = sleep, random, clock, wall_clock
        self.user_agent = user_agent(contact)
        self._last_request: dict[str, float] = {}
        self._unreachable: dict[str, str] = {}  # host[:port] -> why nothing got through
        self._holds: dict[str, tuple[datetime, str] | None] = {}  # host[:port] -> its hold
        self.requests = 0  # attempts made, for reports and tests
        self._peers = Peers()  # where this client's connections went (ConnectionCheck)
        self.client = Client(
            headers={"User-Agent": self.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
            timeout=httpx.Timeout(self.settings.read_timeout,
                                  connect=self.settings.connect_timeout),
            max_redirects=self.settings.max_redirects,
            # each request and response of a redirect chain, whoever follows it
            event_hooks={"request": [self._check_connection],
                         "response": [self._check_redirect]},
            transport=transport,
        )

    @classmethod
    def for_settings(cls, settings: Any, memory: FetchMemory | None = None,
                     **kwargs: Any) -> Fetcher:
        """The pass's fetcher from worker Settings (its `contact` goes in the User-Agent)."""
        return cls(contact=getattr(settings, "contact", None), memory=memory, **kwargs)

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def _check_redirect(self, response: httpx.Response) -> None:
        """Refuse a redirect, however redirects are followed, that would lose what the
        source's URL promised. From https to plain http: that the server is who it says and
        that nobody on the way changed the papers, and a spoofed answer could send the
        fetcher anywhere. From a public host to this machine or its network (loopback,
        private or link-local, written as an address or a name that resolves to one): a
        compromised mirror could make the worker ask the machines only it can reach (a
        cloud's metadata service at 169.254.169.254, or `metadata.google.internal`). A host
        on the local network may redirect within it. The fetch fails, naming where it was
        sent; the source's URL is the fix. The name is looked up here, before anything is
        asked of it; `_check_connection` judges again the address the connection reached."""
        if not response.has_redirect_location:
            return
        source = response.request.url
        target = source.join(response.headers["location"])
        if source.scheme == "https" and target.scheme == "http":
            raise Refused(f"redirected from https to plain http ({target})")
        if (target.host != source.host and self._internal(target.host)
                and not self._internal(source.host)):
            raise Refused(f"redirected from {source.host} to an address of this machine or "
                          f"its network ({target})")

    def _check_connection(self, request: httpx.Request) -> None:
        """Give each request, a redirect's included, httpcore's `trace` extension: a
        ConnectionCheck that refuses, before the request is written, a connection that reached
        what `_check_redirect` refuses, whatever the name answered when that looked it up (DNS
        rebinding). httpx copies a request's extensions to the redirect it follows, so the
        URL the source asked for (SOURCE_URL), set on the first, stays with the chain."""
        source = request.extensions.setdefault(SOURCE_URL, request.url)
        request.extensions["trace"] = ConnectionCheck(source, request.url, self._peers,
                                                      self._internal)

    def _internal(self, host: str) -> bool:
        """Is `host` this machine or its network: an address, `localhost`, or a name any of
        whose addresses is one (a name that does not resolve is not: nothing is reached)."""
        if host == "localhost" or host.endswith(".localhost"):
            return True
        written = internal_address(host)
        if written is not None:
            return written
        return any(internal_address(address) for address in self.resolve(host))

    def fetch(self, url: str, *, source: str, params: Mapping[str, Any] | None = None,
              follow_redirects: bool = True, min_interval: float | None = None,
              timeout: float | None = None, conditional: bool = True,
              ok_statuses: Iterable[int] = (), accept: str | None = None,
              attempts: int | None = None, scope: str = "",
              redirected_from: str | None = None) -> FetchResult:
        """GET `url`, retrying what is worth retrying; SourceError when it finally fails.

        `follow_redirects=False` returns a 3xx as it is (`redirected`, `final_url` = Location)
        for kinds where a redirect means something. `ok_statuses` are error statuses the
        caller wants to read itself (arXiv's API explains a 400 in its body). Validators
        are sent when `conditional`, but only stored when the caller calls `remember()`
        after it has used the body, so a crash in between never loses papers. `attempts`
        overrides the settings' max_attempts (what can wait for the next pass tries less).
        `scope` keys the validators with the URL (cache_key()). `redirected_from` is the
        source's own URL when `url` is where it was redirected, followed one hop at a time
        (get_until): the connection is then judged as a redirect's is (_check_connection).
        """
        try:
            full = str(httpx.URL(url, params=params) if params else httpx.URL(url))
        except httpx.InvalidURL as exc:
            raise SourceError(source, url, f"invalid URL: {exc}") from None
        where = httpx.URL(full).netloc.decode("ascii")  # host[:port]: a port is a server
        if where in self._unreachable:
            raise SourceError(source, full, f"not asked: {where} could not be reached earlier "
                              f"in this run ({self._unreachable[where]})")
        self._check_hold(where, source, full)
        headers = self._request_headers(cache_key(full, scope), conditional, accept)
        ok = frozenset(ok_statuses)
        attempts = attempts or self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                result = self._attempt(full, source, headers, follow_redirects, min_interval,
                                       timeout, ok, redirected_from)
                return replace(result, scope=scope)
            except _Retry as retry:
                if attempt == attempts:
                    tried = "tried once" if attempts == 1 else f"gave up after {attempts} attempts"
                    if retry.unreachable:
                        self._unreachable[where] = retry.reason
                    self._hold(where, retry)
                    raise SourceError(source, full, f"{retry.reason} ({tried})",
                                      retry.status) from None
                self._wait_before_retry(full, where, source, attempt, retry)
        raise AssertionError("unreachable")  # pragma: no cover

    def remember(self, result: FetchResult) -> None:
        """Store the validators of a response whose content has been taken in."""
        if self.memory is None or result.not_modified or result.status != 200:
            return
        if result.etag or result.last_modified:
            self.memory.put(cache_key(result.url, result.scope), result.etag,
                            result.last_modified)

    def _request_headers(self, key: str, conditional: bool, accept: str | None
                         ) -> dict[str, str]:
        headers = {"Accept": accept} if accept else {}
        if conditional and self.memory is not None:
            etag, last_modified = self.memory.get(key)
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
        return headers

    def _check_hold(self, where: str, source: str, url: str) -> None:
        """Refuse, without a request, a server that asked (`Retry-After`) to be left alone
        until a time not yet come: in this pass or an earlier one (FetchMemory). Without this,
        serve every 15 minutes asked a server that had said "in an hour" four times over."""
        if where not in self._holds:
            self._holds[where] = self.memory.held(where) if self.memory is not None else None
        hold = self._holds[where]
        if hold is not None and self.wall_clock() < hold[0]:
            raise SourceError(source, url, f"not asked: {where} asked to be left alone until "
                              f"{hold[0]:%Y-%m-%d %H:%M:%S} UTC ({hold[1]}, Retry-After); "
                              "the first run after that asks again")

    def _hold(self, where: str, retry: _Retry) -> datetime | None:
        """Remember the `Retry-After` a request gave up on (a day ahead at most), for every
        request to that server until then, in this pass and the next; until when."""
        if retry.wait is None or retry.wait <= 0:
            return None
        until = self.wall_clock() + timedelta(seconds=min(retry.wait, self.settings.max_hold))
        self._holds[where] = (until, retry.reason)
        if self.memory is not None:
            self.memory.hold(where, until, retry.reason)
        return until

    def _wait_before_retry(self, url: str, where: str, source: str, attempt: int,
                           retry: _Retry) -> None:
        if retry.wait is not None:
            if retry.wait > self.settings.max_retry_after:
                until = self._hold(where, retry)
                raise SourceError(source, url, f"{retry.reason}; the server asks to retry "
                                  f"after {retry.wait:.0f} s, longer than a run waits: not "
                                  f"asked again before {until:%Y-%m-%d %H:%M:%S} UTC",
                                  retry.status)
            delay = retry.wait
        else:
            # Exponential backoff with "equal jitter": half fixed, half random, so many
            # workers that failed together do not come back together.
            ceiling = min(self.settings.backoff_max,
                          self.settings.backoff_base * 2 ** (attempt - 1))
            delay = ceiling / 2 + self.random() * ceiling / 2
        log.info("%s: %s; retrying in %.1f s", url, retry.reason, delay)
        self.sleep(delay)

    def _pace(self, host: str, min_interval: float | None) -> None:
        interval = (min_interval if min_interval is not None
                    else self.settings.min_intervals.get(host, 0.0))
        last = self._last_request.get(host)
        if interval > 0 and last is not None:
            remaining = last + interval - self.clock()
            if remaining > 0:
                self.sleep(remaining)

    def _attempt(self, url: str, source: str, headers: dict[str, str], follow: bool,
                 min_interval: float | None, timeout: float | None, ok: frozenset[int],
                 redirected_from: str | None) -> FetchResult:
        host = _host(url)
        self._pace(host, min_interval)
        extensions = {SOURCE_URL: httpx.URL(redirected_from)} if redirected_from else None
        request = self.client.build_request("GET", url, headers=headers,
                                            timeout=self._timeout(timeout),
                                            extensions=extensions)
        self.requests += 1
        deadline = self.clock() + self.settings.max_seconds
        try:
            response = self.client.send(request, stream=True, follow_redirects=follow)
            try:
                body = self._read_capped(response, url, source, deadline)
            finally:
                response.close()
        except httpx.ConnectTimeout as exc:
            raise _Retry(f"timed out ({type(exc).__name__})", unreachable=True) from None
        except httpx.TimeoutException as exc:
            raise _Retry(f"timed out ({type(exc).__name__})") from None
        except httpx.TooManyRedirects:
            raise SourceError(source, url, TOO_MANY_REDIRECTS) from None
        except Refused as exc:
            raise SourceError(source, url, f"{exc}: not followed (set the source's URL to the "
                              "address meant)") from None
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            raise SourceError(source, url, f"cannot request: {exc}") from None  # ours to fix
        except httpx.TransportError as exc:
            raise _Retry(f"connection failed: {exc or type(exc).__name__}",
                         unreachable=isinstance(exc, httpx.ConnectError)) from None
        except httpx.HTTPError as exc:  # e.g. a body whose Content-Encoding does not decode
            raise SourceError(source, url, f"{type(exc).__name__}: {exc}") from None
        finally:
            # Measured from the end of the exchange: slow responses are not sped up by it.
            self._last_request[host] = self.clock()
        return self._result(url, source, response, body, ok)

    def _timeout(self, timeout: float | None) -> httpx.Timeout | Any:
        if timeout is None:
            return httpx.USE_CLIENT_DEFAULT
        return httpx.Timeout(timeout, connect=min(timeout, self.settings.connect_timeout))

    def _read_capped(self, response: httpx.Response, url: str, source: str,
                     deadline: float) -> bytes:
        cap = self.settings.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise SourceError(source, url, f"response of {int(declared)} bytes is larger "
                              f"than the {cap}-byte limit", response.status_code)
        raws: Iterable[bytes]
        if response.is_stream_consumed:  # read whole and decoded by its transport (a mock)
            raws, codings = [response.content], []
        else:
            raws, codings = response.iter_raw(), response.headers.get_list(
                "content-encoding", split_commas=True)
        try:
            decoder = Decoder(codings)
        except ValueError as exc:
            raise SourceError(source, url, str(exc), response.status_code) from None
        chunks, size, received = [], 0, 0
        try:
            for raw in chain(raws, [None]):  # None: the end, to flush
                received += len(raw or b"")  # as sent, too (what follows a gzip's end)
                if self.clock() > deadline:  # not retried: it would be as slow again
                    raise SourceError(source, url, f"still sending after "
                                      f"{self.settings.max_seconds:g} s: too slow, given up "
                                      "(the next pass asks again)", response.status_code)
                while True:
                    chunk = decoder.decode(raw, cap + 1 - size)  # never more than the cap
                    size += len(chunk)
                    if size > cap or received > cap:
                        raise SourceError(source, url, f"response larger than the {cap}-byte "
                                          "limit", response.status_code)
                    chunks.append(chunk)
                    if not decoder.pending:
                        break
                    raw = b""
        except zlib.error as exc:
            raise SourceError(source, url, f"DecodingError: {exc}", response.status_code) from None
        except Truncated as exc:  # as a short Content-Length is: worth another try
            raise _Retry(str(exc)) from None
        return b"".join(chunks)

    def _result(self, url: str, source: str, response: httpx.Response, body: bytes,
                ok: frozenset[int]) -> FetchResult:
        status = response.status_code
        headers = {k.lower(): v for k, v in response.headers.items()}
        redirected = bool(response.history) or response.is_redirect
        final = str(response.url)
        if response.is_redirect:
            final = str(response.url.join(response.headers.get("location", "")))
        if status == 304:
            return FetchResult(url, final, status, headers, b"", not_modified=True)
        if status == 429 or status >= 500:
            wait = parse_retry_after(headers.get("retry-after"), self.wall_clock())
            raise _Retry(f"HTTP {status} {response.reason_phrase}".strip(), status, wait)
        if status >= 400 and status not in ok:
            raise SourceError(source, url, _error_reason(response, body), status)
        return FetchResult(url, final, status, headers, body, redirected=redirected)


def _error_reason(response: httpx.Response, body: bytes) -> str:
    """The reason phrase, plus the start of a short plain-text body when there is one."""
    reason = response.reason_phrase or "error"
    if response.headers.get("content-type", "").startswith(("text/plain", "application/json")):
        snippet = " ".join(body[:200].decode("utf-8", "replace").split())
        if snippet:
            reason += f": {snippet}"
    return reason
