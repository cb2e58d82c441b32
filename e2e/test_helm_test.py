"""Promise 10: `helm test` passes against the release (after everything above)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.promise(10)


def test_helm_test_passes(release, results):
    # No --logs: the chart's test pods are deleted once they succeed (hook-delete-policy).
    out = release.helm("test", release.name, "--timeout", "3m", capture=True, check=False)
    results.put("helm_test", {"exit_code": out.returncode, "output": out.stdout[-3000:]})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    suites = out.stdout.count("TEST SUITE:")
    assert suites >= 3, f"expected the chart's test pods (>= 3), saw {suites}:\n{out.stdout}"
    assert out.stdout.count("Phase:          Succeeded") == suites, out.stdout
