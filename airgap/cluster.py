"""kind clusters from the chosen node image: create (timed), delete, benchmark.

Used by the cluster smoke test (airgap/tests/test_cluster_smoke.py) and by
`python -m airgap bench` (median cluster-create time over N clusters).
"""

# ruff: noqa: S603 - runs the pinned kind binary from the cache

from __future__ import annotations

import json
import statistics
import subprocess
import time
from pathlib import Path

from airgap import cache
from airgap.images import image_source
from airgap.network_guard import guard_kind_network
from airgap.progress import note, step
from airgap.tools import tool_path


class ClusterError(RuntimeError):
    """kind could not create the cluster; the message carries kind's output."""


def create_cluster(
    name: str, image: str, kubeconfig: Path, wait: str = "180s", config: Path | None = None
) -> float:
    """`kind create cluster` and wait for the control plane; return the wall time in seconds.

    config: an optional kind cluster config file (e.g. containerdConfigPatches).
    """
    kind = str(tool_path("kind"))
    delete_cluster(name)
    if image_source() == "local":
        guard_kind_network()
    log = cache.sub_dir("logs") / f"kind-create-{name}.log"
    cmd = [kind, "create", "cluster", "--name", name, "--image", image]
    cmd += ["--kubeconfig", str(kubeconfig), "--wait", wait]
    if config is not None:
        cmd += ["--config", str(config)]
    with step(f"kind create cluster {name} ({image})"):
        started = time.monotonic()
        with open(log, "w") as fh:
            result = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False)
        seconds = time.monotonic() - started
        if result.returncode != 0:
            raise ClusterError(f"kind create cluster failed; {log}:\n{log.read_text()[-4000:]}")
        note(f"cluster {name} ready in {seconds:.1f}s")
    return seconds


def delete_cluster(name: str) -> None:
    kind = str(tool_path("kind"))
    subprocess.run(
        [kind, "delete", "cluster", "--name", name],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


def load_images(name: str, images: list[str]) -> None:
    kind = str(tool_path("kind"))
    with step(f"kind load docker-image ({len(images)} images)"):
        result = subprocess.run(
            [kind, "load", "docker-image", "--name", name, *images],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ClusterError(f"kind load docker-image failed:\n{result.stderr[-3000:]}")


def bench(image: str, runs: int = 3, name: str = "todo-airgap-bench") -> dict:
    """Create and delete `runs` clusters; return the times and their median."""
    times = []
    kubeconfig = cache.sub_dir("tmp") / f"{name}.kubeconfig"
    try:
        for i in range(runs):
            with step(f"cluster create {i + 1}/{runs}"):
                times.append(create_cluster(name, image, kubeconfig))
            delete_cluster(name)
    finally:
        delete_cluster(name)
        kubeconfig.unlink(missing_ok=True)
    result = {
        "image": image,
        "runs": runs,
        "seconds": [round(t, 1) for t in times],
        "median_seconds": round(statistics.median(times), 1),
    }
    report = Path(__file__).resolve().parents[1] / "reports" / "airgap-cluster-create.json"
    report.parent.mkdir(exist_ok=True)
    report.write_text(json.dumps(result, indent=2) + "\n")
    note(f"cluster create median {result['median_seconds']}s over {runs}: {result['seconds']}")
    note(f"written to {report}")
    return result
