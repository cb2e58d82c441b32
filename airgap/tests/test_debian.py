"""The Debian base reads the host's own mirror."""

from __future__ import annotations

from pathlib import Path

from airgap import debian


def test_debian_mirror_from_deb822_and_one_line_sources(tmp_path: Path) -> None:
    deb822 = tmp_path / "debian.sources"
    deb822.write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n"
    )
    assert debian.debian_mirror([deb822]) == "http://mirror.example/debian"
    one_line = tmp_path / "sources.list"
    one_line.write_text("# comment\ndeb [arch=amd64] http://other.example/debian/ bookworm main\n")
    assert debian.debian_mirror([one_line]) == "http://other.example/debian"
    assert debian.debian_mirror([tmp_path / "missing"]) == "http://deb.debian.org/debian"
