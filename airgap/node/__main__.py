"""`python -m airgap.node build|verify|binaries`: the kind node image, offline."""

from __future__ import annotations

import argparse
import sys

from airgap.progress import summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airgap.node", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build (or reuse) the kind node image and print its name")
    sub.add_parser("binaries", help="build (or reuse) the Kubernetes binaries, print their dir")
    check = sub.add_parser("verify", help="create a kind cluster from the image and check it")
    check.add_argument("--runs", type=int, default=1, help="clusters to create (median timing)")
    check.add_argument("--keep", action="store_true", help="keep the last cluster")
    args = parser.parse_args(argv)

    from airgap.node import build

    try:
        if args.command == "build":
            print(build.ensure_node_image())
        elif args.command == "binaries":
            print(build.kubernetes_binaries())
        else:
            from airgap.node import verify

            build.ensure_node_image()
            verify.verify(runs=args.runs, keep=args.keep)
    except (RuntimeError, OSError) as exc:
        summary()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
