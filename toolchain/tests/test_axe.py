"""axe-core for the browser promise: the pinned integrity is checked, the cache is used."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator

import pytest

from toolchain import axe


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def test_bytes_that_are_not_the_pinned_ones_are_refused() -> None:
    data = b"the real tarball"
    axe.check_integrity(data, _integrity(data))
    with pytest.raises(axe.AxeError, match="does not match its pinned integrity"):
        axe.check_integrity(data + b"!", _integrity(data))
    with pytest.raises(axe.AxeError, match="sha512"):
        axe.check_integrity(data, "sha1-abc")


@pytest.fixture
def registry(tmp_path) -> Iterator[tuple[str, list[str], dict[str, bytes]]]:
    """An npm-registry stand-in on loopback: serves the tarballs put in its dict."""
    served: dict[str, bytes] = {}
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server interface
            asked.append(self.path)
            body = served.get(self.path)
            self.send_response(200 if body else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", asked, served
    finally:
        server.shutdown()


def test_the_script_is_taken_from_a_checked_tarball_then_from_the_cache(
    tmp_path, monkeypatch, registry
) -> None:
    url, asked, served = registry
    monkeypatch.setenv("TODO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", url)
    script = b"window.axe = {};"
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as archive:
        info = tarfile.TarInfo("package/axe.min.js")
        info.size = len(script)
        archive.addfile(info, io.BytesIO(script))
    served["/axe-core/-/axe-core-9.9.9.tgz"] = tarball = packed.getvalue()

    path = axe.ensure("9.9.9", _integrity(tarball))
    assert path.read_bytes() == script and path.parent.name == "9.9.9"
    assert axe.ensure("9.9.9", _integrity(tarball)) == path
    assert asked == ["/axe-core/-/axe-core-9.9.9.tgz"]  # the second call read the cache

    served["/axe-core/-/axe-core-9.9.8.tgz"] = tarball  # a mirror serving other bytes
    with pytest.raises(axe.AxeError, match="pinned integrity"):
        axe.ensure("9.9.8", _integrity(b"what the registry published"))
    assert not (path.parent.parent / "9.9.8" / "axe.min.js").exists()
    with pytest.raises(axe.AxeError, match="NPM_CONFIG_REGISTRY"):
        axe.ensure("9.9.7", _integrity(tarball))  # not on the registry: 404
