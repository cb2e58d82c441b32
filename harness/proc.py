"""Running commands and waiting: the small pieces every harness step uses.

`run()` echoes a command, runs it with stdin closed and raises HarnessError
with the end of its output when it fails; given a `watch`, it asks it every
two seconds while the command runs and stops the command with the watch's
message (a pod that cannot pull its image, say) rather than letting it wait
out its own timeout. `wait_until()` polls a probe until
it answers or a deadline passes, naming what it waited for. `free_port()`
and `wait_http()` serve port-forwards, local servers and the release's URL.
"""

# ruff: noqa: S603 - runs the pinned tools and fixed commands, never user input as a shell

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class HarnessError(RuntimeError):
    """A step cannot go on; the message says what happened and what to do."""


def say(message: str) -> None:
    print(f"[harness] {message}", file=sys.stderr, flush=True)


def run(
    argv: Sequence[str | os.PathLike],
    *,
    check: bool = True,
    capture: bool = False,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    input_text: str | None = None,
    quiet: bool = False,
    watch: Callable[[], str | None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command (echoed unless quiet); raise HarnessError with its output on failure.

    `watch`: called every 2 s while the command runs; a message it returns stops the
    command and is raised as the failure."""
    args = [str(a) for a in argv]
    if not quiet:
        say("$ " + " ".join(shlex.quote(Path(a).name if i == 0 else a) for i, a in enumerate(args)))
    if watch is not None:
        return _run_watched(args, watch, check=check, capture=capture, env=env, timeout=timeout)
    result = subprocess.run(
        args,
        check=False,
        text=True,
        capture_output=capture,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        input=input_text,
        stdin=subprocess.DEVNULL if input_text is None else None,
    )
    if check and result.returncode != 0:
        detail = ""
        if capture:
            detail = "\n" + ((result.stdout or "") + (result.stderr or ""))[-4000:]
        raise HarnessError(f"{Path(args[0]).name} {' '.join(args[1:3])} ... exited with "
                           f"{result.returncode}{detail}")  # fmt: skip
    return result


def _run_watched(
    args: list[str],
    watch: Callable[[], str | None],
    *,
    check: bool,
    capture: bool,
    env: dict[str, str] | None,
    timeout: float | None,
) -> subprocess.CompletedProcess[str]:
    """`run()` with a watch: the command in the background, the watch asked meanwhile."""
    pipe = subprocess.PIPE if capture else None
    process = subprocess.Popen(
        args, text=True, stdout=pipe, stderr=pipe, stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            out, err = process.communicate(timeout=2)
            break
        except subprocess.TimeoutExpired:
            problem = watch()
            if problem or (deadline is not None and time.monotonic() > deadline):
                terminate(process, grace=5)
                process.communicate()
                raise HarnessError(problem or f"{Path(args[0]).name} timed out") from None
    result = subprocess.CompletedProcess(args, process.returncode, out, err)
    if check and result.returncode != 0:
        detail = "\n" + ((out or "") + (err or ""))[-4000:] if capture else ""
        failed = f"{Path(args[0]).name} {' '.join(args[1:3])} ... exited with {result.returncode}"
        problem = watch()
        raise HarnessError(f"{problem}\n{failed}{detail}" if problem else f"{failed}{detail}")
    return result


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 1.0,
    errors: tuple[type[BaseException], ...] = (),
) -> T:
    """Call `probe` until it returns something truthy; fail naming `what` after `timeout`.

    Exceptions of the types in `errors` count as "not yet" (the last one is reported).
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = probe()
            if value:
                return value
        except errors as exc:
            last_error = exc
        if time.monotonic() > deadline:
            extra = f" (last error: {last_error!r})" if last_error else ""
            raise HarnessError(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_status(url: str, timeout: float = 3.0) -> int | None:
    """The HTTP status of a GET (loopback only), None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def wait_http(url: str, *, timeout: float = 120, expect: int = 200) -> float:
    """Poll a URL until it answers `expect`; return the seconds it took."""
    start = time.monotonic()
    wait_until(
        lambda: http_status(url) == expect,
        timeout=timeout,
        interval=0.5,
        what=f"{url} to answer {expect}",
    )
    return time.monotonic() - start


def terminate(process: subprocess.Popen, grace: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited after `grace` seconds; reaped either way."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
