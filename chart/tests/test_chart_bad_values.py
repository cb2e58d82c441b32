"""Bad values are refused with a message naming the field.

Each file in bad-values/ starts with `# expect: <text>`; `helm template` with that
file must fail and its error must contain the text (the JSON Schema path such as
`at '/mcpServer/replicaCount'`, or the field named by the chart's own `fail`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from chartlib import TESTS, render_error

BAD = sorted((TESTS / "bad-values").glob("*.yaml"))


def expected(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must be `# expect: ...`"
    return first.removeprefix("# expect: ").strip()


def test_enough_bad_values_cases() -> None:
    assert len(BAD) >= 10, [p.name for p in BAD]


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_values_refused_with_message(
    helm: Path, render_dir: Path, path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = render_error(helm, render_dir, files=(path,))
    want = expected(path)
    assert want in message, f"{path.name}: expected {want!r} in:\n{message}"
    # A refusal, not a crash: no Go panic or template trace of the chart's internals.
    assert "panic" not in message and "goroutine" not in message
    line = next(line.strip() for line in message.splitlines() if want in line)
    with capsys.disabled():
        print(f"\n  {path.stem}: {line}")
