"""Every behaviour an offline image's PARITY.md promises is held by a test that exists.

The PARITY.md next to an image's recipe lists what the chart and the harness rely
on from the upstream image and names the test that holds the offline image to
it; a test renamed or removed leaves a promise unheld, and this says which.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

AIRGAP = Path(__file__).resolve().parents[1]
ROOT = AIRGAP.parent
PARITY_FILES = sorted(AIRGAP.rglob("PARITY.md"))
# The offline images' own tests, the decisions' tests and the cluster promises hold them.
TEST_FILES = [*(AIRGAP / "tests").glob("test_*.py"), *(ROOT / "e2e").glob("test_*.py"),
              *(ROOT / "toolchain" / "tests").glob("test_*.py")]  # fmt: skip
TEST_NAMES = {
    node.name
    for path in TEST_FILES
    for node in ast.walk(ast.parse(path.read_text()))
    if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
}


def held_by(parity: Path) -> list[str]:
    """The test names in the table's last column, one list for the whole file."""
    names = []
    for line in parity.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 4:
            names += re.findall(r"`(test_\w+)`", cells[-1])
    return names


def test_every_image_built_offline_in_place_of_an_upstream_one_has_a_parity_list() -> None:
    stand_ins = {"postgres", "python", "metrics-server", "kube-router"}
    have = {p.parent.name for p in PARITY_FILES}
    assert stand_ins | {"node"} <= have, sorted(stand_ins | {"node"} - have)


@pytest.mark.parametrize("parity", PARITY_FILES, ids=lambda p: str(p.parent.relative_to(AIRGAP)))
def test_every_promised_behaviour_is_held_by_an_existing_test(parity: Path) -> None:
    named = held_by(parity)
    assert named, f"{parity} names no test"
    missing = sorted(set(named) - TEST_NAMES)
    assert not missing, f"{parity.relative_to(AIRGAP)} names tests that do not exist: {missing}"
