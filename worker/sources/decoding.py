"""A response body's Content-Encoding undone within the size cap (worker.sources.http)."""

from __future__ import annotations

import zlib

# The codings we ask for and decode ourselves, bounded (Decoder): httpx's own decoders
# decompress each network read whole, and stacked codings ("gzip, gzip") each in turn, so a
# 2 KB body could make gigabytes before the size cap saw a byte of it.
ACCEPT_ENCODING = "gzip, deflate"


class Truncated(ValueError):
    """The compressed stream stopped before its end: the connection closed early."""


class Decoder:
    """A response body's Content-Encoding undone, one network read at a time, each call making
    at most `limit` bytes (zlib's max_length; `pending`: call again with b"" for the rest).
    One coding of gzip or deflate (as httpx reads deflate: zlib-wrapped, else raw), or none;
    any other is refused with ValueError: we ask for no other (ACCEPT_ENCODING)."""

    def __init__(self, codings: list[str]):
        named = [c.strip().lower() for c in codings if c.strip().lower() not in ("", "identity")]
        if len(named) > 1 or (named and named[0] not in ("gzip", "x-gzip", "deflate")):
            raise ValueError(f"unsupported Content-Encoding {', '.join(named)!r} "
                             f"(asked for {ACCEPT_ENCODING})")
        self.kind = named[0] if named else None
        self.first = True
        self.zlib = (zlib.decompressobj(zlib.MAX_WBITS | 16) if self.kind in ("gzip", "x-gzip")
                     else zlib.decompressobj())
        self.pending = False
        self.fed = False  # any compressed byte at all (an empty body is no stream: a 304)

    def decode(self, data: bytes | None, limit: int) -> bytes:
        if self.kind is None:
            return data or b""
        tail = self.zlib.unconsumed_tail
        if data is None and not tail:  # the end: what zlib still holds
            self.pending = False
            if self.zlib.eof or not self.fed:
                return b""
            rest = self.zlib.flush()
            if not self.zlib.eof:  # a body without Content-Length ends when the socket
                # closes: only the stream's own end tells a whole body from a cut one
                raise Truncated(f"the {self.kind} body ended before its end (the connection "
                                "closed early: a truncated response)")
            return rest
        self.fed = self.fed or bool(data)
        data = tail + (data or b"")
        first, self.first = self.first, False
        try:
            out = self.zlib.decompress(data, max(limit, 1))
        except zlib.error:
            if not (first and self.kind == "deflate"):
                raise
            self.zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as httpx reads it
            out = self.zlib.decompress(data, max(limit, 1))
        self.pending = bool(self.zlib.unconsumed_tail)
        return out
