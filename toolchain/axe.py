"""axe-core, the accessibility engine the browser promise runs in the page: pinned, checked,
cached.

`ensure()` returns `<cache>/axe-core/<version>/axe.min.js`. The first call downloads the
package's tarball from the npm registry (`NPM_CONFIG_REGISTRY`, as npm reads it, names a
mirror), checks it against the pinned SHA-512 integrity as npm would, and keeps only the
script. Later calls read the cache. Standard library only: no Node.js on the host.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from toolchain import cache, versions
from toolchain.progress import note

PACKAGE = "axe-core"
SCRIPT = "axe.min.js"
DEFAULT_REGISTRY = "https://registry.npmjs.org"


class AxeError(RuntimeError):
    """axe-core could not be fetched or did not match its pin; the message says what to do."""


def ensure(version: str = versions.AXE_CORE_VERSION,
           integrity: str = versions.AXE_CORE_INTEGRITY) -> Path:  # fmt: skip
    """The pinned axe-core script, fetched and checked once."""
    folder = cache.sub_dir(PACKAGE, version)
    script = folder / SCRIPT
    if script.exists():
        return script
    with cache.cache_lock(f"{PACKAGE}-{version}"):
        if script.exists():
            return script
        with tempfile.TemporaryDirectory(prefix="axe-") as tmp:
            tarball = _fetch(version, Path(tmp))
            check_integrity(tarball.read_bytes(), integrity)
            with tarfile.open(tarball) as archive:
                member = archive.extractfile(f"package/{SCRIPT}")
                if member is None:
                    raise AxeError(f"{tarball.name} has no package/{SCRIPT}")
                partial = folder / f"{SCRIPT}.partial"
                partial.write_bytes(member.read())
                partial.replace(script)
    note(f"axe-core {version} cached at {script}")
    return script


def check_integrity(data: bytes, integrity: str) -> None:
    """Refuse data whose SHA-512 is not the registry's `dist.integrity`."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise AxeError(f"unsupported integrity {integrity!r}: pin the registry's sha512 one")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise AxeError(
            f"{PACKAGE} tarball does not match its pinned integrity (got sha512-{actual}): "
            "a registry or mirror served other bytes; check it, or update the pin in "
            "toolchain/versions.py from `npm view axe-core@<version> dist.integrity`"
        )


def _fetch(version: str, into: Path) -> Path:
    registry = (os.environ.get("NPM_CONFIG_REGISTRY") or DEFAULT_REGISTRY).rstrip("/")
    url = f"{registry}/{PACKAGE}/-/{PACKAGE}-{version}.tgz"
    tarball = into / f"{PACKAGE}-{version}.tgz"
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 - a registry URL
            tarball.write_bytes(answer.read())
    except OSError as exc:
        raise AxeError(
            f"cannot download {url} ({exc}): reach the npm registry, or name a mirror in "
            "NPM_CONFIG_REGISTRY"
        ) from exc
    return tarball
