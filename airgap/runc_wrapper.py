"""OCI runtime wrapper: drop CAP_SYS_RESOURCE, then exec the real runc.

Installed on hosts whose capability bounding set lacks CAP_SYS_RESOURCE
(some VMs, e.g. Firecracker guests). A privileged container asks runc for
every capability; runc then fails with "unable to apply caps: operation not
permitted". This wrapper, registered as dockerd's default runtime, removes
the capability from the container's config.json (`create`/`run`) and from
the process JSON (`exec --process FILE`) and hands over to runc unchanged
otherwise.

It is self-contained (standard library only) because it is copied to the
host and run by containerd's shim with the system Python. `REAL_RUNC` is
rewritten at install time.
"""

from __future__ import annotations

import json
import os
import sys

REAL_RUNC = "/usr/sbin/runc"
DROP = "CAP_SYS_RESOURCE"

# runc global flags that take a value (everything before the sub-command).
_GLOBAL_WITH_VALUE = {"--root", "--log", "--log-format", "--criu", "--rootless"}


def strip_caps(doc: dict) -> bool:
    """Remove DROP from every capability list in a process object. True if changed."""
    caps = doc.get("capabilities")
    if not isinstance(caps, dict):
        return False
    changed = False
    for key, value in caps.items():
        if isinstance(value, list) and DROP in value:
            caps[key] = [c for c in value if c != DROP]
            changed = True
    return changed


def _option(args: list[str], long: str, short: str) -> str | None:
    for i, arg in enumerate(args):
        if arg in (long, short, "-" + long) and i + 1 < len(args):
            return args[i + 1]
        for prefix in (long + "=", short + "=", "-" + long + "="):
            if arg.startswith(prefix):
                return arg[len(prefix) :]
    return None


def _subcommand(argv: list[str]) -> tuple[str | None, list[str]]:
    """Split runc's argv (without the program) into the sub-command and its args."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-"):
            return arg, argv[i + 1 :]
        if arg in _GLOBAL_WITH_VALUE:
            i += 2
        else:
            i += 1
    return None, []


def _rewrite(path: str, process_only: bool) -> None:
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    target = doc if process_only else doc.get("process") or {}
    if strip_caps(target):
        tmp = path + ".todo-airgap.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)


def fix_arguments(argv: list[str], cwd: str | None = None) -> None:
    """Edit the JSON files named by a runc command line in place."""
    command, args = _subcommand(argv)
    if command in ("create", "run"):
        bundle = _option(args, "--bundle", "-b") or cwd or os.getcwd()
        config = os.path.join(bundle, "config.json")
        if os.path.exists(config):
            _rewrite(config, process_only=False)
    elif command == "exec":
        process = _option(args, "--process", "-p")
        if process and os.path.exists(process):
            _rewrite(process, process_only=True)


def main() -> None:
    argv = sys.argv[1:]
    try:
        fix_arguments(argv)
    except (OSError, ValueError) as exc:  # never block runc on our own error
        print(f"todo-airgap runc wrapper: {exc}", file=sys.stderr)
    os.execv(REAL_RUNC, [REAL_RUNC, *argv])  # noqa: S606 - hand over to the real runc


if __name__ == "__main__":
    main()
