"""The one source of pinned versions and image names for the airgap build."""

from __future__ import annotations

DEBIAN_SUITE = "bookworm"
DEBIAN_BASE_IMAGE = "todo-airgap/debian:bookworm-minbase"
