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


def in_cluster_refusal(settings, workers: int) -> str | None:
    """Why in-cluster Locust (`--workers N`) cannot run with these harness settings, or None.
    Its image reaches the nodes only by `kind load`, not by the run's delivery: with
    --registry a cluster that is not kind could never pull it, and --local-registry's
    nodes get every image from the registry, nothing side-loaded."""
    if workers <= 0 or not (settings.registry or settings.local_registry):
        return None
    pushed = "--registry" if settings.registry else "--local-registry"
    return (f"--workers {workers} runs Locust in the cluster from an image only kind load "
            f"gives the nodes, and {pushed} pushes the run's images instead: drop --workers "
            f"(Locust runs on this machine) or {pushed}")  # fmt: skip
