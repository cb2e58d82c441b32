"""glibc malloc setting for the backend, whose password hashes take 19 MiB each (argon2id;
16 MiB for a scrypt hash of an earlier release).

glibc serves a block of 128 KiB or more from a mapping of its own and unmaps it when
it is freed, but after the first such free it raises that threshold to the block's
size (up to 32 MiB). From then on every hash's buffer comes from, and stays in, the
heap of the thread that hashed. Measured in the image with scrypt: 6 logins one after
another left 32 MiB behind, 4 at once 64 MiB. Setting the threshold to its default value
turns that adjustment off; nothing else about allocation changes.
"""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's default, kept fixed


def unmap_large_blocks_on_free() -> bool:
    """Keep glibc's mmap threshold fixed; False where the C library has no mallopt."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
