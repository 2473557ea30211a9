"""A TCP forwarder on loopback in front of a real server (PostgreSQL), to cut it off and back:
`down()` closes every connection through it and drops new ones at once, as a database that
went away does to its clients; `up()` forwards again."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class Forwarder:
    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.forwarding = True
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept, name="forwarder", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            if not self.forwarding:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def down(self) -> None:
        self.forwarding = False
        with self._lock:
            cut, self._open = self._open, set()
        for sock in cut:
            _close(sock)

    def up(self) -> None:
        self.forwarding = True

    def close(self) -> None:
        self.down()
        self.listener.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@contextmanager
def forwarding(host: str, port: int) -> Iterator[Forwarder]:
    forwarder = Forwarder(host, port)
    try:
        yield forwarder
    finally:
        forwarder.close()
