"""Giving freed memory back to the system after the big moments of a console's life.

A first sync of a large cluster parses hundreds of megabytes of JSON pages and throws most of it away; glibc
keeps the freed arenas mapped, so the console's RSS stays at the sync's peak (450–690 MB on the `large`
scenario, depending on how the frees fell). `malloc_trim(0)` hands the free pages back; it is called once the
synced model is frozen and after the full collections that run while the keyboard rests, never on a key's
path. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from typing import Any

_trim: Any = None
_looked = False


def _malloc_trim() -> Any:
    global _trim, _looked
    if not _looked:
        _looked = True
        try:
            name = ctypes.util.find_library("c")
            libc = ctypes.CDLL(name) if name else None
            fn = getattr(libc, "malloc_trim", None)
            if fn is not None:
                fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
                _trim = fn
        except OSError:
            _trim = None
    return _trim


def trim() -> float | None:
    """Return free heap pages to the system; the seconds it took, or None where there is no malloc_trim."""
    fn = _malloc_trim()
    if fn is None:
        return None
    t0 = time.perf_counter()
    fn(0)
    return time.perf_counter() - t0
