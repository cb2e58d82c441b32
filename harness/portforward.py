"""`kubectl port-forward` as a context manager: the one way to reach a Service or pod.

The forward binds 127.0.0.1 on a free port and is ready once kubectl
listens there, or, given an HTTP path, once that path answers 200 through
it. The process is stopped on exit. A forward is bound to one pod: with
`follow=True` (the backend of a cluster without a published NodePort) a
forward whose pod went away is started again on the same local port, so the
URL stays usable across rollouts (the request that finds the old pod gone
fails; kubectl exits on it and the next one goes through the new forward).
"""

# ruff: noqa: S603 - runs the pinned kubectl with fixed arguments

from __future__ import annotations

import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.proc import HarnessError, free_port, http_status, terminate, wait_until
from toolchain.tools import tool


def _start(kubeconfig: Path, namespace: str, target: str, port: int, remote: int, errors):
    cmd = [str(tool("kubectl")), "--kubeconfig", str(kubeconfig), "-n", namespace,
           "port-forward", "--address", "127.0.0.1", target, f"{port}:{remote}"]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errors,
                            stdin=subprocess.DEVNULL)  # fmt: skip


def _tail(errors) -> str:
    errors.flush()
    errors.seek(0)
    return errors.read().decode(errors="replace")[-800:]


@contextmanager
def port_forward(
    kubeconfig: Path,
    namespace: str,
    target: str,
    remote_port: int,
    *,
    ready_path: str | None = None,
    timeout: float = 45,
    follow: bool = False,
) -> Iterator[str]:
    """Forward `target` (e.g. `svc/x`) port `remote_port`; yield `http://127.0.0.1:<port>`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # kubectl's messages (all of its restarts) go to one file: nothing to drain, and the
    # last of them explain a forward that never answered.
    with tempfile.TemporaryFile() as errors:
        current = [_start(kubeconfig, namespace, target, port, remote_port, errors)]
        done = threading.Event()

        def keep_following() -> None:
            while not done.wait(0.5):
                if current[0].poll() is not None:
                    current[0] = _start(kubeconfig, namespace, target, port, remote_port, errors)

        def answering() -> bool:
            if not follow and current[0].poll() is not None:
                raise HarnessError(f"kubectl port-forward {target} exited: {_tail(errors)}")
            if ready_path:
                return http_status(url + ready_path) == 200
            try:  # any protocol (PostgreSQL too): kubectl listening is enough
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return False
            return True

        follower = threading.Thread(target=keep_following, daemon=True)
        try:
            if follow:
                follower.start()
            try:
                wait_until(answering, timeout=timeout, interval=0.3,
                           what=f"the port-forward to {target} answering on {url}")  # fmt: skip
            except HarnessError as exc:
                said = _tail(errors) or "(nothing)"
                raise HarnessError(f"{exc}; kubectl said: {said}") from exc
            yield url
        finally:
            done.set()
            if follower.is_alive():
                follower.join(timeout=10)  # no restart may slip in after the stop below
            terminate(current[0], grace=5)
