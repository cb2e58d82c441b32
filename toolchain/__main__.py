"""`python -m toolchain STEP...`: what every path needs from the host, in order.

  host     check the host requirements; as root on Debian install what is missing
           (`--for tests,cluster,offline,browser,system-browser` picks the purposes; default: all)
  docker   make a Docker engine available (start dockerd where allowed)
  tools    build the pinned kind, helm (4 and 3), kubectl, registry, crane, actionlint
           into <cache>/bin
  axe      the pinned axe-core script the browser tests run in their pages, fetched once
  decide   print this run's decisions (image source, images, enforcer, browser, Helm,
           mirror) as JSON
  status   what exists already; changes nothing

Steps run in the order given; a table of their wall times is printed at the end.
"""

from __future__ import annotations

import argparse
import sys

from toolchain import axe, cache, decide, docker, go, host, tools
from toolchain.progress import set_label, summary

STEPS = ("host", "docker", "tools", "axe", "decide", "status")


def _status() -> None:
    print(f"cache\t{cache.cache_dir()}")
    print(f"docker\t{'running' if docker.engine_running() else 'not running'}")
    for name in tools.NAMES:
        path = cache.bin_dir() / name
        print(f"{name}\t{path if path.exists() else 'missing'}")
    report = host.Report()
    for req in host.REQUIREMENTS:
        report.findings.append(
            host.Finding(req.name, req.needed_by, "present" if req.present() else "missing")
        )
    print(report.table())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m toolchain",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("steps", nargs="+", choices=STEPS)
    parser.add_argument(
        "--for",
        dest="purposes",
        default=",".join(host.PURPOSES),
        help="purposes of the host check (tests, cluster, offline, browser, system-browser)",
    )
    parser.add_argument("--no-install", action="store_true", help="host: report, change nothing")
    parser.add_argument(
        "--tools",
        default=",".join(tools.NAMES),
        help=f"tools: which ones (default: {','.join(tools.NAMES)})",
    )
    args = parser.parse_args(argv)
    set_label("toolchain")
    try:
        for name in args.steps:
            if name == "host":
                purposes = [p.strip() for p in args.purposes.split(",") if p.strip()]
                host.check(purposes, install=False if args.no_install else None)
            elif name == "docker":
                docker.ensure_docker()
            elif name == "tools":
                names = tuple(t.strip() for t in args.tools.split(",") if t.strip())
                for tool, path in tools.ensure_tools(names).items():
                    print(f"{tool}\t{path}")
            elif name == "axe":
                print(f"axe-core\t{axe.ensure()}")
            elif name == "decide":
                print(decide.current().to_json())
            else:
                _status()
    except (
        host.HostError,
        docker.EngineError,
        go.GoBuildError,
        tools.ToolError,
        decide.DecisionError,
        axe.AxeError,
    ) as exc:
        print(f"\ntoolchain: FAILED: {exc}", file=sys.stderr)
        summary()
        return 1
    summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
