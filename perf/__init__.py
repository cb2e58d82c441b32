"""Load tests of the release: Locust scenarios, shapes, SLOs, baseline, report.

`python -m perf` (see perf/run.py); `nox -s perf` prepares the run first.
"""

# perf's defaults in the harness's option table: a kind cluster of its own, kept between
# runs, publishing the backend on another loopback port, so `nox -s perf` and `nox -s e2e`
# never take each other's cluster. Each run deploys into a fresh namespace.
PERF_DEFAULTS = {"cluster_name": "todo-perf", "host_port": 30081, "keep_cluster": True,
                 "reuse_cluster": True}  # fmt: skip
# What a run's exit status was, and why, in its folder (a repeated run's tally reads it).
EXIT_FILE = "exit.json"


def workers_wanted(args: list[str], environ: dict[str, str]) -> int:
    """How many in-cluster Locust workers a run asks for (`--workers N`, else PERF_WORKERS;
    0 runs Locust in one local process), read the way `python -m perf` reads it."""
    value = environ.get("PERF_WORKERS") or "0"
    for i, arg in enumerate(args):
        if arg == "--workers" and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--workers="):
            value = arg.split("=", 1)[1]
    try:
        return int(value)
    except ValueError:
        message = f"--workers / PERF_WORKERS must be a whole number, not {value!r}"
        raise ValueError(message) from None
