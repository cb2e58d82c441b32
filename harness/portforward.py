"""`kubectl port-forward` as a context manager: the one way to reach a Service or pod.

The forward binds 127.0.0.1 on a free port chosen by kubectl (`:<remote>`),
its "Forwarding from" line says which; an optional HTTP path is then polled
until it answers 200. The process is stopped on exit. A forward is bound to
one pod, so open it after replicas have settled.
"""

# ruff: noqa: S603 - runs the pinned kubectl with fixed arguments

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.proc import HarnessError, http_status, wait_until
from toolchain.tools import tool


@contextmanager
def port_forward(
    kubeconfig: Path,
    namespace: str,
    target: str,
    remote_port: int,
    *,
    ready_path: str | None = None,
    timeout: float = 45,
) -> Iterator[str]:
    """Forward `target` (e.g. `svc/x`) port `remote_port`; yield `http://127.0.0.1:<port>`."""
    cmd = [str(tool("kubectl")), "--kubeconfig", str(kubeconfig), "-n", namespace,
           "port-forward", "--address", "127.0.0.1", target, f":{remote_port}"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)  # fmt: skip
    output: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        port = None
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            match = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line)
            if match:
                port = int(match.group(1))
        if port is None:
            raise HarnessError(f"kubectl port-forward {target} did not start: {''.join(output)}")
        # Keep reading its output so the pipe never fills up.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        url = f"http://127.0.0.1:{port}"
        if ready_path is not None:
            wait_until(lambda: proc.poll() is None and http_status(url + ready_path) == 200,
                       timeout=timeout, interval=0.5,
                       what=f"{ready_path} through the port-forward to {target}")  # fmt: skip
        yield url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
