"""The status port against clients that never finish a request (slowloris)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from worker.statusserver import StatusServer


def _get(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        return client.recv(100).split(b"\r\n")[0]


def test_idle_connections_are_closed_and_never_hold_more_than_the_limit_of_threads():
    server = StatusServer("127.0.0.1", 0, lambda: (True, "ok"), lambda: "", None,
                          timeout=0.5, limit=4)
    server.start()
    before = threading.active_count()
    idle = []
    try:
        for _ in range(40):  # each sends half a request line, then nothing
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            idle.append(sock)
        time.sleep(0.2)
        assert threading.active_count() <= before + 4  # (the deadline thread: in before)
        time.sleep(1.0)  # past the timeout: every idle connection is closed by the server
        assert all(sock.recv(100) == b"" for sock in idle)
        assert threading.active_count() == before
        assert _get(server.port) == b"HTTP/1.0 200 OK"
    finally:
        for sock in idle:
            sock.close()
        server.stop()


def test_a_request_sent_a_byte_at_a_time_is_cut_off_at_its_deadline() -> None:
    """A client that sends a byte just before each read would time out never reaches the
    per-read timeout: `limit` of them held every slot for as long as they liked, and the port
    answered no one else (feedback links, /healthz). A connection has `deadline` in all."""
    server = StatusServer("127.0.0.1", 0, lambda: (True, "ok"), lambda: "", None,
                          timeout=0.5, limit=4, deadline=1.5)
    server.start()
    stop = threading.Event()
    slow = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(4)]

    def trickle() -> None:
        while not stop.wait(0.2):
            for sock in slow:
                with contextlib.suppress(OSError):  # cut off: what the deadline is for
                    sock.sendall(b"X")
    thread = threading.Thread(target=trickle, daemon=True)
    try:
        for sock in slow:
            sock.sendall(b"GET /healthz HTTP/1.0\r\nX-Slow: ")
        thread.start()
        time.sleep(2.5)  # well past the deadline, never past the per-read timeout
        assert _get(server.port) == b"HTTP/1.0 200 OK"
    finally:
        stop.set()
        thread.join()
        for sock in slow:
            sock.close()
        server.stop()


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(request)
        chunks = []
        while chunk := client.recv(4096):
            chunks.append(chunk)
        return b"".join(chunks)


def test_healthz_is_503_with_the_reason_while_unhealthy_and_head_sends_no_body() -> None:
    """A container's or load balancer's check reads the status code: 503 while serve says it
    is unhealthy (a stale heartbeat, the database gone), 200 when it is well. HEAD answers
    the same status and headers, without the body (RFC 9110)."""
    state = {"health": (False, "heartbeat is stale")}
    server = StatusServer("127.0.0.1", 0, lambda: state["health"], lambda: "", None)
    server.start()
    try:
        answer = _raw(server.port, b"GET /healthz HTTP/1.0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.0 503 ")
        assert answer.endswith(b"\r\n\r\nheartbeat is stale\n")
        head = _raw(server.port, b"HEAD /healthz HTTP/1.0\r\n\r\n")
        assert head.startswith(b"HTTP/1.0 503 ") and head.endswith(b"\r\n\r\n")
        assert b"Content-Length: 19\r\n" in head
        state["health"] = (True, "ok")
        assert _raw(server.port, b"GET /healthz HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200 ")
    finally:
        server.stop()
