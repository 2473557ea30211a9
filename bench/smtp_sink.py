"""A loopback SMTP server for the benchmarks: accepts everything, counts it, keeps nothing
(or, with --save DIR, one .eml per message).

    .venv/bin/python bench/smtp_sink.py --port 2525 [--save DIR] [--count-file FILE]

Runs until SIGTERM or SIGINT, then writes `messages=N recipients=M connections=C` to
--count-file (or stdout). It runs in its own process so that a benchmark's client does not
share an interpreter (and its GIL) with the server it talks to. Prints `ready` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, save: Path | None):
        self.save = save
        self.messages = self.recipients = self.connections = 0

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server: Any, session: Any, envelope: Any,
                          hostname: str) -> str:
        self.connections += 1
        session.host_name = hostname
        return "250 localhost"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages += 1
        self.recipients += len(envelope.rcpt_tos)
        if self.save is not None:
            (self.save / f"{self.messages:06d}.eml").write_bytes(envelope.original_content)
        return "250 Message accepted"

    def summary(self) -> str:
        return (f"messages={self.messages} recipients={self.recipients} "
                f"connections={self.connections}")


async def serve(port: int, sink: Sink) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink, hostname="localhost"),
                                      host="127.0.0.1", port=port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--save", type=Path)
    parser.add_argument("--count-file", type=Path)
    args = parser.parse_args()
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    sink = Sink(args.save)
    asyncio.run(serve(args.port, sink))
    if args.count_file:
        args.count_file.write_text(sink.summary() + "\n", encoding="utf-8")
    else:
        print(sink.summary(), file=sys.stdout, flush=True)


if __name__ == "__main__":
    main()
