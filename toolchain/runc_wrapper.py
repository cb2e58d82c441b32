"""OCI runtime wrapper: drop CAP_SYS_RESOURCE, then exec the real runc.

Installed on hosts whose capability bounding set lacks CAP_SYS_RESOURCE
(some VMs, e.g. Firecracker guests). A privileged container asks runc for
every capability; runc then fails with "unable to apply caps: operation not
permitted". This wrapper, registered as dockerd's default runtime, removes
the capability from the container's config.json (`create`/`run`) and from
the process JSON (`exec --process FILE`) and hands over to runc unchanged
otherwise.

The same missing capability forbids lowering oom_score_adj below the current
value, so a negative `process.oomScoreAdj` (kubelet asks -998 for sandboxes;
`docker run --oom-score-adj=-500`) would make runc's init die with "can't get
final child's PID from pipe: EOF". Where this process lacks CAP_SYS_RESOURCE
the wrapper raises such a value to the lowest one allowed (its own).

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
CAP_SYS_RESOURCE_BIT = 24

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


def _has_sys_resource(status_text: str | None = None) -> bool:
    if status_text is None:
        with open("/proc/self/status", encoding="utf-8") as fh:
            status_text = fh.read()
    for line in status_text.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) & (1 << CAP_SYS_RESOURCE_BIT))
    return False


def _own_oom_score_adj() -> int:
    with open("/proc/self/oom_score_adj", encoding="utf-8") as fh:
        return int(fh.read().strip())


def clamp_oom_score_adj(process: dict, floor: int) -> bool:
    """Raise process.oomScoreAdj to `floor` if it is lower. True if changed."""
    value = process.get("oomScoreAdj")
    if isinstance(value, int) and value < floor:
        process["oomScoreAdj"] = floor
        return True
    return False


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


def _rewrite(path: str, process_only: bool, oom_floor: int | None) -> None:
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    target = doc if process_only else doc.get("process") or {}
    changed = strip_caps(target)
    if oom_floor is not None:
        changed = clamp_oom_score_adj(target, oom_floor) or changed
    if changed:
        tmp = path + ".todo-airgap.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)


def fix_arguments(argv: list[str], cwd: str | None = None, oom_floor: int | None = None) -> None:
    """Edit the JSON files named by a runc command line in place.

    oom_floor: the lowest oomScoreAdj allowed (None: leave oomScoreAdj alone).
    """
    command, args = _subcommand(argv)
    if command in ("create", "run"):
        bundle = _option(args, "--bundle", "-b") or cwd or os.getcwd()
        config = os.path.join(bundle, "config.json")
        if os.path.exists(config):
            _rewrite(config, process_only=False, oom_floor=oom_floor)
    elif command == "exec":
        process = _option(args, "--process", "-p")
        if process and os.path.exists(process):
            _rewrite(process, process_only=True, oom_floor=oom_floor)


def main() -> None:
    argv = sys.argv[1:]
    try:
        floor = None if _has_sys_resource() else _own_oom_score_adj()
        fix_arguments(argv, oom_floor=floor)
    except (OSError, ValueError) as exc:  # never block runc on our own error
        print(f"todo-airgap runc wrapper: {exc}", file=sys.stderr)
    os.execv(REAL_RUNC, [REAL_RUNC, *argv])  # noqa: S606 - hand over to the real runc


if __name__ == "__main__":
    main()
