"""Build everything kind and the e2e suite need without a container registry.

`python -m airgap all` (or `nox -s airgap`) makes a Docker engine available,
installs pinned tools into the cache, and builds the local images.
"""
