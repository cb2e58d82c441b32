"""`kubectl port-forward` as a context manager: the one way to reach a Service or pod.

The forward binds 127.0.0.1 on a free port and is ready once kubectl
listens there, or, given an HTTP path, once that path answers 200 through
it. The process is stopped on exit.

A kubectl forward is bound to one pod for its whole life. With `follow=True`
(the backend and front end of a cluster without a published NodePort, whose
pods the promises replace: rollouts, rollbacks, restarts) the URL is a relay
of the harness's own, and the forward behind it is moved before its pod goes:
the relay's port stays, each new connection goes to the current forward, and
when the forwarded pod is deleted, stops being Ready or its kubectl exits, a
forward to another Ready pod of the Service is started and the relay switches
to it once it listens. A deleted pod keeps serving through its preStop delay,
so no request meets a pod that is gone; a connection that arrives while no
forward listens (kubectl exits when a stream through it fails) waits for the
next one instead of being closed unanswered.
"""

# ruff: noqa: S603 - runs the pinned kubectl with fixed arguments

from __future__ import annotations

import json
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
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


def _listening(port: int) -> bool:
    try:  # any protocol (PostgreSQL too): kubectl listening is enough
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


class Relay:
    """TCP on 127.0.0.1:`port`, each accepted connection piped to 127.0.0.1:`upstream`
    (read when the connection arrives, so a switch takes effect for the next one)."""

    CONNECT_WAIT = 15.0  # seconds a new connection waits for a forward to connect to

    def __init__(self, port: int) -> None:
        self.port = port
        self.upstream: int | None = None
        self._server = socket.create_server(("127.0.0.1", port))
        self._server.settimeout(0.5)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        # A kubectl forward exits when a stream through it fails; until the follower has
        # started the next one (within a few seconds) a connection waits for it here rather
        # than being closed unanswered. Nothing was sent upstream yet, so this is safe.
        upstream = None
        deadline = time.monotonic() + self.CONNECT_WAIT
        while upstream is None and not self._stopped.is_set():
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream or 0), timeout=5)
            except OSError:
                if time.monotonic() > deadline:
                    client.close()
                    return
                time.sleep(0.2)
        if upstream is None:
            client.close()
            return
        upstream.settimeout(None)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock, how in ((sink, socket.SHUT_WR), (source, socket.SHUT_RD)):
            with suppress(OSError):
                sock.shutdown(how)

    def close(self) -> None:
        self._stopped.set()
        self._server.close()
        self._thread.join(timeout=5)


class _Pods:
    """The Ready pods behind a Service, and whether one of them is still fit to serve."""

    def __init__(self, kubeconfig: Path, namespace: str, service: str) -> None:
        self.kubectl = [str(tool("kubectl")), "--kubeconfig", str(kubeconfig), "-n", namespace]
        got = subprocess.run([*self.kubectl, "get", "service", service, "-o", "json"],
                             capture_output=True, text=True, check=False)  # fmt: skip
        if got.returncode != 0:
            raise HarnessError(f"service {service} in {namespace}: {got.stderr.strip()[-300:]}")
        selector = json.loads(got.stdout)["spec"].get("selector") or {}
        self.selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))

    def ready(self) -> list[str]:
        got = subprocess.run([*self.kubectl, "get", "pods", "-l", self.selector, "-o", "json"],
                             capture_output=True, text=True, check=False)  # fmt: skip
        items = json.loads(got.stdout or '{"items": []}')["items"] if got.returncode == 0 else []
        return [
            p["metadata"]["name"]
            for p in items
            if not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True"
                    for c in (p.get("status") or {}).get("conditions") or [])
        ]  # fmt: skip


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
    """Forward `target` (e.g. `svc/x`) port `remote_port`; yield `http://127.0.0.1:<port>`.
    `follow` (a Service only): keep the URL working while its pods are replaced."""
    if follow:
        with _following(kubeconfig, namespace, target, remote_port, ready_path, timeout) as url:
            yield url
        return
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # kubectl's messages go to one file: nothing to drain, and the last of them explain a
    # forward that never answered.
    with tempfile.TemporaryFile() as errors:
        process = _start(kubeconfig, namespace, target, port, remote_port, errors)

        def answering() -> bool:
            if process.poll() is not None:
                raise HarnessError(f"kubectl port-forward {target} exited: {_tail(errors)}")
            return http_status(url + ready_path) == 200 if ready_path else _listening(port)

        try:
            try:
                wait_until(answering, timeout=timeout, interval=0.3,
                           what=f"the port-forward to {target} answering on {url}")  # fmt: skip
            except HarnessError as exc:
                raise HarnessError(f"{exc}; kubectl said: {_tail(errors) or '(nothing)'}") from exc
            yield url
        finally:
            terminate(process, grace=5)


@contextmanager
def _following(kubeconfig: Path, namespace: str, target: str, remote_port: int,
               ready_path: str | None, timeout: float) -> Iterator[str]:  # fmt: skip
    """A relay whose forward moves to another Ready pod before its own pod goes."""
    if not target.startswith("svc/"):
        raise HarnessError(f"following a forward needs a Service, not {target}")
    pods = _Pods(kubeconfig, namespace, target.removeprefix("svc/"))
    relay = Relay(free_port())
    url = f"http://127.0.0.1:{relay.port}"
    current: dict = {"pod": None, "process": None}
    done = threading.Event()
    with tempfile.TemporaryFile() as errors:

        def forward_to_a_ready_pod() -> bool:
            """Start a forward to a Ready pod (another than the current one, if any) and
            switch the relay to it once it listens; stop the old forward."""
            candidates = [p for p in pods.ready() if p != current["pod"]] or pods.ready()
            if not candidates:
                return False
            port = free_port()
            process = _start(kubeconfig, namespace, f"pod/{candidates[0]}", port, remote_port,
                             errors)  # fmt: skip
            with suppress(HarnessError):
                wait_until(lambda: process.poll() is None and _listening(port), timeout=15,
                           interval=0.1, what="the new forward")  # fmt: skip
            if not _listening(port):
                terminate(process, grace=1)
                return False
            old = current["process"]
            relay.upstream, current["pod"], current["process"] = port, candidates[0], process
            if old is not None:
                terminate(old, grace=2)
            return True

        def keep_following() -> None:
            while not done.wait(1.0):
                process = current["process"]
                if process is None or process.poll() is not None \
                        or current["pod"] not in pods.ready():  # fmt: skip
                    forward_to_a_ready_pod()

        follower = threading.Thread(target=keep_following, daemon=True)
        try:
            wait_until(forward_to_a_ready_pod, timeout=timeout, interval=0.5,
                       what=f"a Ready pod behind {target} to forward to")  # fmt: skip
            follower.start()
            if ready_path:
                wait_until(lambda: http_status(url + ready_path) == 200, timeout=timeout,
                           interval=0.3, what=f"{url}{ready_path} through the forward")  # fmt: skip
            yield url
        finally:
            done.set()
            if follower.is_alive():
                follower.join(timeout=30)  # no forward may start after the stop below
            relay.close()
            if current["process"] is not None:
                terminate(current["process"], grace=5)
