"""Promise 10: `helm test` passes against the release (after everything above)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.promise(10)


def test_helm_test_passes(release, results):
    out = release.helm("test", release.name, "--timeout", "3m", "--logs", capture=True, check=False)
    results.put("helm_test", {"exit_code": out.returncode, "output": out.stdout[-3000:]})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "Phase:          Succeeded" in out.stdout or "Succeeded" in out.stdout
