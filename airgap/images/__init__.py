"""Images the e2e suite runs, and the choice between upstream and local ones.

`image_source()` answers "upstream" when a container registry is reachable
(a quick HTTPS probe of Docker Hub's registry API) and "local" otherwise;
the environment variable TODO_IMAGE_SOURCE=upstream|local overrides the probe.
`image_names(source)` gives the image names for that source. The local images
are built by `airgap.images.build` (`ensure_images()`).
"""

from __future__ import annotations

import os
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass

from airgap import versions

SOURCES = ("upstream", "local")
ENV_VAR = "TODO_IMAGE_SOURCE"
REGISTRY_PROBE_URL = "https://registry-1.docker.io/v2/"


class ImageSourceError(ValueError):
    """TODO_IMAGE_SOURCE holds something other than upstream|local."""


def registry_reachable(url: str = REGISTRY_PROBE_URL, timeout: float = 3.0) -> bool:
    """True if the registry answers HTTPS at all (any HTTP status, e.g. 401, counts)."""
    request = urllib.request.Request(url, method="GET")  # noqa: S310 - fixed https URL
    try:
        with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310
            return True
    except urllib.error.HTTPError:
        return True  # an HTTP answer (Docker Hub says 401 here): reachable
    except (urllib.error.URLError, TimeoutError, ssl.SSLError, OSError):
        return False


def image_source(environ: dict[str, str] | None = None, probe=registry_reachable) -> str:
    """ "upstream" or "local": TODO_IMAGE_SOURCE if set, else whether a registry answers."""
    env = os.environ if environ is None else environ
    override = env.get(ENV_VAR, "").strip().lower()
    if override:
        if override not in SOURCES:
            raise ImageSourceError(
                f"{ENV_VAR}={env[ENV_VAR]!r} is not valid: use 'upstream' (pull public images) "
                "or 'local' (build them here with `python -m airgap all`)"
            )
        return override
    return "upstream" if probe() else "local"


@dataclass(frozen=True)
class ImageNames:
    """Image names the harness uses for one source."""

    source: str
    kind_node: str
    python_base: str
    postgres_repository: str
    postgres_tag: str
    metrics_server: str

    @property
    def postgres(self) -> str:
        return f"{self.postgres_repository}:{self.postgres_tag}"


def image_names(source: str | None = None) -> ImageNames:
    """The image names for `source` ("upstream" | "local"; default: `image_source()`)."""
    source = source or image_source()
    if source == "upstream":
        return ImageNames(
            source=source,
            kind_node=versions.KIND_NODE_UPSTREAM,
            python_base=versions.PYTHON_UPSTREAM,
            postgres_repository=versions.POSTGRES_UPSTREAM_REPOSITORY,
            postgres_tag=versions.POSTGRES_TAG,
            metrics_server=versions.METRICS_SERVER_UPSTREAM,
        )
    if source == "local":
        return ImageNames(
            source=source,
            kind_node=versions.KIND_NODE_LOCAL,
            python_base=versions.PYTHON_LOCAL,
            postgres_repository=versions.POSTGRES_LOCAL_REPOSITORY,
            postgres_tag=versions.POSTGRES_TAG,
            metrics_server=versions.METRICS_SERVER_LOCAL,
        )
    raise ImageSourceError(f"unknown image source {source!r}; use one of {SOURCES}")


def ensure_cni_and_storage_images() -> list[str]:
    """kind's kindnetd/local-path images under kind's exact names (see build.py)."""
    from airgap.images.build import ensure_cni_and_storage_images as ensure

    return ensure()


def ensure_images() -> dict[str, str]:
    """Build every local image (cached); see build.py."""
    from airgap.images.build import ensure_images as ensure

    return ensure()
