"""The hash of ``_cclock.c`` that setup.py compiles into the extension (``SOURCE_HASH``), so that the
import (``_impl.py``) can tell a build of this source from a stale one left in place.

Why: an in-place ``_cclock*.so`` built from an older ``_cclock.c`` loads without complaint and runs
the old code (last session its old coarse-timer loop silently broke WebSocket heartbeats). No
imports beyond the standard library: setup.py loads this file by path, before the package exists.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

SOURCE = Path(__file__).with_name("_cclock.c")
REBUILD = ".venv/bin/python setup.py -q build_ext --inplace"  # or: .venv/bin/pip install -e .


def source_hash(path: Path = SOURCE) -> str:
    """First 16 hex digits of the SHA-256 of the C source's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def mismatch(built: str | None, path: Path = SOURCE) -> str | None:
    """Why a module built with hash ``built`` is not a build of the source at ``path`` (None: it is,
    or the source is not there to compare, as in an installed wheel, which ships no .c)."""
    if not path.exists():
        return None
    want = source_hash(path)
    if built is None:
        return f"it has no SOURCE_HASH: built before the hash was embedded, from an older _cclock.c (source is {want})"
    if built != want:
        return f"it was built from _cclock.c {built}, the source is now {want}"
    return None
