"""The shared HTTP fetcher: one polite httpx client for a whole pass.

Everything that makes paper-digest a good citizen goes through here, so the source kinds only
say what to fetch: a User-Agent naming the tool and a contact, timeouts, a response size and
time cap, retries (connection errors, timeouts, 429, 5xx) with backoff and holds honouring
`Retry-After` (worker.sources.retries), a minimum delay between requests to the same host
(arXiv asks for 3 s), conditional GET with the ETag / Last-Modified a `FetchMemory`
remembers, and no redirect that would lose what the source's URL promised
(worker.sources.peers).

Sleeping, randomness and both clocks are injected, so tests never really wait.
"""

from __future__ import annotations

import random as _random
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import chain
from typing import Any, Protocol

import httpx

from worker import __version__
from worker.errors import SourceError
from worker.sources.decoding import ACCEPT_ENCODING, Decoder, Truncated
from worker.sources.peers import SOURCE_URL, Guard, Refused, host_addresses
from worker.sources.retries import Retry, RetryPolicy, parse_retry_after
from worker.sources.transport import Client

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


def cache_key(url: str, scope: str) -> str:
    """The validators' key: the URL within the reader's scope, when it has one. A source that
    takes other things from the same body (other filters) must not be told "not modified"
    because another reading of it was taken in."""
    return f"{scope} {url}" if scope else url


def user_agent(contact: str | None, version: str = __version__) -> str:
    contact_part = f" (+{contact})" if contact else ""
    return f"paper-digest/{version}{contact_part}"


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
        self.memory = memory
        self.sleep, self.clock, self.wall_clock = sleep, clock, wall_clock
        self.user_agent = user_agent(contact)
        self._last_request: dict[str, float] = {}
        self._retries = RetryPolicy(self.settings, memory, sleep=sleep, random=random,
                                    wall_clock=wall_clock)
        self.requests = 0  # attempts made, for reports and tests
        # Whether the pass was told to stop (SIGTERM, Ctrl-C): a request under way ends, but
        # none is tried again (its retries, up to 4 x 30 s, kept a stopped run for minutes)
        self.stop: Callable[[], bool] = lambda: False
        self._guard = Guard(resolve)  # where requests may go: the client's event hooks
        self.client = Client(
            headers={"User-Agent": self.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
            timeout=httpx.Timeout(self.settings.read_timeout,
                                  connect=self.settings.connect_timeout),
            max_redirects=self.settings.max_redirects,
            # each request and response of a redirect chain, whoever follows it
            event_hooks={"request": [self._guard.check_connection],
                         "response": [self._guard.check_redirect]},
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
        (get_until): the connection is then judged as a redirect's is (Guard).
        """
        try:
            full = str(httpx.URL(url, params=params) if params else httpx.URL(url))
        except httpx.InvalidURL as exc:
            raise SourceError(source, url, f"invalid URL: {exc}") from None
        where = httpx.URL(full).netloc.decode("ascii")  # host[:port]: a port is a server
        self._retries.check(where, source, full)
        headers = self._request_headers(cache_key(full, scope), conditional, accept)
        ok = frozenset(ok_statuses)
        attempts = attempts or self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                result = self._attempt(full, source, headers, follow_redirects, min_interval,
                                       timeout, ok, redirected_from)
                return replace(result, scope=scope)
            except Retry as retry:
                if attempt == attempts or self.stop():
                    raise self._retries.give_up(where, source, full, retry, attempt) from None
                self._retries.wait(full, where, source, attempt, retry)
                if self.stop():  # told while waiting to try again
                    raise self._retries.give_up(where, source, full, retry, attempt) from None
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
            raise Retry(f"timed out ({type(exc).__name__})", unreachable=True) from None
        except httpx.TimeoutException as exc:
            raise Retry(f"timed out ({type(exc).__name__})") from None
        except httpx.TooManyRedirects:
            raise SourceError(source, url, TOO_MANY_REDIRECTS) from None
        except Refused as exc:
            raise SourceError(source, url, f"{exc}: not followed (set the source's URL to the "
                              "address meant)") from None
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            raise SourceError(source, url, f"cannot request: {exc}") from None  # ours to fix
        except httpx.TransportError as exc:
            raise Retry(f"connection failed: {exc or type(exc).__name__}",
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
            raise Retry(str(exc)) from None
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
            raise Retry(f"HTTP {status} {response.reason_phrase}".strip(), status, wait)
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
