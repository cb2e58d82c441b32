"""`python -m harness`: a step that cannot go on says why in one line, and exits 1."""

from __future__ import annotations

import pytest

from harness import __main__ as cli
from harness import kind, registry
from toolchain.docker import ImageError
from toolchain.go import GoBuildError
from toolchain.tools import ToolError


def _fails_with(error: BaseException):
    def step(*args, **kwargs):
        raise error

    return step


@pytest.mark.parametrize(
    ("command", "module", "name", "error"),
    [("teardown", kind, "delete", ToolError("kind is missing: run python -m toolchain tools")),
     ("fill-mirror", registry, "ensure_local_registry", ImageError("build failed, see a.log")),
     ("fill-mirror", registry, "ensure_local_registry", GoBuildError("go build failed: b.log"))],
)  # fmt: skip
def test_a_step_that_cannot_go_on_says_why_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys, command, module, name, error
) -> None:
    monkeypatch.setattr(module, name, _fails_with(error))
    monkeypatch.setattr(cli, "summary", lambda: None)
    assert cli.main([command]) == 1
    said = capsys.readouterr().err.strip().splitlines()
    assert said == [f"[harness] error: {error}"]
