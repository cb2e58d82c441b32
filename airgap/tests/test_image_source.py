"""The upstream-vs-local image choice."""

from __future__ import annotations

import http.server
import threading

import pytest

from airgap import images, versions


def _never(*_args) -> bool:
    raise AssertionError("the registry must not be probed when the override is set")


@pytest.mark.parametrize("value", ["local", "upstream", " LOCAL ", "Upstream"])
def test_override_wins_without_probing(value: str) -> None:
    got = images.image_source({"TODO_IMAGE_SOURCE": value}, probe=_never)
    assert got == value.strip().lower()


def test_bad_override_is_a_clear_error() -> None:
    with pytest.raises(images.ImageSourceError, match="upstream.*local"):
        images.image_source({"TODO_IMAGE_SOURCE": "dockerhub"}, probe=_never)


@pytest.mark.parametrize(("reachable", "expected"), [(True, "upstream"), (False, "local")])
def test_probe_decides_without_override(reachable: bool, expected: str) -> None:
    assert images.image_source({}, probe=lambda: reachable) == expected


def test_any_http_answer_counts_as_reachable() -> None:
    """A registry answers /v2/ with 401; that is reachable."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401)
            self.end_headers()

        def log_message(self, *_args) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/v2/"
        assert images.registry_reachable(url, timeout=3) is True
    finally:
        server.shutdown()
        server.server_close()


def test_nothing_listening_is_unreachable() -> None:
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert images.registry_reachable(f"http://127.0.0.1:{port}/v2/", timeout=1) is False


def test_names_per_source() -> None:
    local = images.image_names("local")
    upstream = images.image_names("upstream")
    assert local.kind_node == versions.KIND_NODE_LOCAL
    assert local.python_base == "todo-airgap/python:3.11-slim-bookworm"
    assert local.postgres == "todo-airgap/postgres:15-bookworm"
    assert local.metrics_server == f"todo-airgap/metrics-server:{versions.METRICS_SERVER_VERSION}"
    assert upstream.kind_node == versions.KIND_NODE_UPSTREAM
    assert upstream.python_base == "python:3.11-slim-bookworm"
    assert upstream.postgres == "postgres:15-bookworm"
    assert upstream.metrics_server.startswith("registry.k8s.io/metrics-server/metrics-server:")
    with pytest.raises(images.ImageSourceError):
        images.image_names("mirror")
