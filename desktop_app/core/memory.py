"""Giving memory back to the system once the app is idle again (Qt-free).

A capture passes several full-screen pictures through the process (the frozen screen,
its crop, the PNG, the panel's thumbnail): tens of megabytes that Python and Qt free
afterwards but that glibc's allocator keeps in its heap and arenas for reuse, so the
resident size of a tray app that did one capture stayed ~35 MiB above where it started.
``release_free_memory`` asks the allocator to hand its free pages back
(``malloc_trim(0)``); on other C libraries it only collects garbage.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from collections.abc import Callable
from functools import cache

__all__ = ["release_free_memory", "resident_kib"]


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the C library this process already uses
        trim = libc.malloc_trim  # glibc only: musl has none
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """Collects garbage, then returns the allocator's free pages to the system. True when
    the allocator could be asked (glibc), False when only the garbage was collected."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def resident_kib() -> int | None:
    """This process's resident set size in KiB (Linux), else None."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None
