"""The SMTP password never goes out in plain text unless `security = "none"` says so."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from worker.delivery.smtp import SmtpChannel
from worker.errors import DeliveryError
from worker.smtp_settings import SmtpSettings


@contextmanager
def relay(extensions: list[str]) -> Iterator[tuple[int, list[bytes]]]:
    """A plain relay on loopback offering `extensions`; yields its port and the lines it got.
    It says 220 to STARTTLS but never speaks TLS: a client that starts it fails the handshake
    before saying anything more."""
    server = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"220 relay ESMTP\r\n")
            for line in lines:
                seen.append(line.rstrip())
                verb = line.split(b" ")[0].upper().strip()
                if verb in (b"EHLO", b"HELO"):
                    said = ["relay", *extensions]
                    conn.sendall("".join(f"250{'-' if i < len(said) - 1 else ' '}{x}\r\n"
                                         for i, x in enumerate(said)).encode())
                elif verb == b"STARTTLS":
                    conn.sendall(b"220 go ahead\r\n")
                    conn.shutdown(socket.SHUT_RDWR)
                    return
                elif verb == b"AUTH":
                    conn.sendall(b"235 ok\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], seen
    finally:
        server.close()
        thread.join(5)


def _login(port: int, security: str = "auto") -> SmtpChannel:
    channel = SmtpChannel(SmtpSettings(host="127.0.0.1", sender="d <d@example.org>", port=port,
                                       security=security, username="digest",
                                       password="hunter2-secret", timeout=5))
    channel.conn = channel._connect()
    return channel


def test_auto_on_another_port_starts_tls_before_the_login_when_offered():
    with relay(["STARTTLS", "AUTH PLAIN LOGIN"]) as (port, seen), \
            pytest.raises(OSError):  # the stub speaks no TLS: the handshake fails
        _login(port)
    assert any(line.upper() == b"STARTTLS" for line in seen)
    assert not any(line.upper().startswith(b"AUTH") for line in seen)


def test_auto_on_another_port_does_not_log_in_without_starttls():
    said = r'no STARTTLS.*security = "tls" or "starttls".* or "none"'
    with relay(["AUTH PLAIN LOGIN"]) as (port, seen), \
            pytest.raises(DeliveryError, match=said) as raised:
        _login(port)
    assert raised.value.held
    assert not any(line.upper().startswith(b"AUTH") for line in seen)


def test_security_none_sends_the_password_as_asked():
    with relay(["STARTTLS", "AUTH PLAIN LOGIN"]) as (port, seen):
        _login(port, security="none").close()
    assert any(line.startswith(b"AUTH PLAIN ") for line in seen)
    assert not any(line.upper() == b"STARTTLS" for line in seen)
