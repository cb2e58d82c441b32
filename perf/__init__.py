"""Load tests of the release: Locust scenarios, shapes, SLOs, baseline, report.

`python -m perf` (see perf/run.py); `nox -s perf` prepares the run first.
"""

# perf's defaults in the harness's option table: a kind cluster of its own, kept between
# runs, publishing the backend on another loopback port, so `nox -s perf` and `nox -s e2e`
# never take each other's cluster. Each run deploys into a fresh namespace.
PERF_DEFAULTS = {"cluster_name": "todo-perf", "host_port": 30081, "keep_cluster": True,
                 "reuse_cluster": True}  # fmt: skip
