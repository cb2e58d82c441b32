"""The relay behind a following port-forward: the URL's port stays, connections move."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from harness.portforward import Relay
from harness.proc import free_port


@contextmanager
def named_server(name: bytes) -> Iterator[int]:
    """A TCP server on loopback answering every connection with `name` and what it got."""

    class Answer(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.sendall(name + b":" + self.request.recv(1024))

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Answer) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield server.server_address[1]
        server.shutdown()


def _ask(port: int, text: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(text)
        sock.shutdown(socket.SHUT_WR)
        return b"".join(iter(lambda: sock.recv(1024), b""))


def test_new_connections_go_where_the_relay_points_now() -> None:
    relay = Relay(free_port())
    try:
        with named_server(b"old") as old, named_server(b"new") as new:
            relay.upstream = old
            assert _ask(relay.port, b"hello") == b"old:hello"
            relay.upstream = new  # a forward to another pod, switched to once it listens
            assert _ask(relay.port, b"again") == b"new:again"
    finally:
        relay.close()


def test_a_connection_made_while_the_forward_is_replaced_waits_for_the_next_one() -> None:
    relay = Relay(free_port())
    try:
        relay.upstream = free_port()  # the forward's kubectl exited: nothing listens there
        with named_server(b"next") as following:
            threading.Timer(0.6, lambda: setattr(relay, "upstream", following)).start()
            assert _ask(relay.port, b"hello") == b"next:hello"
    finally:
        relay.close()


def test_a_connection_the_relay_cannot_place_is_closed_not_hung() -> None:
    relay = Relay(free_port())
    relay.CONNECT_WAIT = 0.5
    try:
        relay.upstream = free_port()  # nothing listens there, and nothing comes
        try:
            answered = _ask(relay.port, b"anyone")
        except ConnectionResetError:  # closed while our bytes were unread
            answered = b""
        assert answered == b""
    finally:
        relay.close()
