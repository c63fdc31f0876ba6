"""Keep numba's on-disk cache of a kernel honest about the modules it reads constants from.

Numba's cache checks only the kernel file's own timestamp, yet the constants a kernel takes
from other modules (the vocabulary's codes and flag bits) are folded into the cached machine
code. When such a module changes, the kernel file's timestamp is refreshed, so numba compiles
again instead of loading code built for the old constants.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


def refresh_if_stale(kernel_file: str, *dependencies: str) -> None:
    kernel = Path(kernel_file)
    digest = hashlib.sha256(b"".join(Path(d).read_bytes() for d in dependencies)).hexdigest()
    stamp = kernel.parent / "__pycache__" / f"{kernel.stem}.deps"
    try:
        if stamp.exists() and stamp.read_text() == digest:
            return
        os.utime(kernel)  # invalidates numba's cache of every function of the kernel file
        stamp.parent.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # a read-only install: it cannot have been edited either
        pass
