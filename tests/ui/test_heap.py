"""Free heap pages handed back to the system (console/ui/heap.py)."""

from __future__ import annotations


def test_the_heap_trim_gives_pages_back_or_says_it_cannot() -> None:
    """`console.ui.heap.trim` runs glibc's malloc_trim where there is one (seconds taken), else None."""
    import ctypes.util

    from console.ui import heap

    took = heap.trim()
    if ctypes.util.find_library("c") and hasattr(ctypes.CDLL(ctypes.util.find_library("c")), "malloc_trim"):
        assert took is not None and took >= 0
    else:
        assert took is None
