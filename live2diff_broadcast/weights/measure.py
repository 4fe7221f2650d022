"""Loading time and peak host memory (resident set) of one component load, logged."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

if sys.platform == "win32":
    import ctypes
    from ctypes import wintypes
else:
    import resource

logger = logging.getLogger(__name__)

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss() -> int:
    """Resident set size of this process in bytes (Linux: /proc; macOS: the lifetime peak;
    Windows: the working set)."""
    if sys.platform == "win32":
        return _windows_working_set()
    else:
        try:
            with open("/proc/self/statm", "rb") as f:
                return int(f.read().split()[1]) * _PAGE
        except OSError:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            return peak if sys.platform == "darwin" else peak * 1024


if sys.platform == "win32":

    class _MemoryCounters(ctypes.Structure):
        """PROCESS_MEMORY_COUNTERS (psapi.h)."""

        _fields_ = [
            ("cb", wintypes.DWORD),
            ("PageFaultCount", wintypes.DWORD),
            *((name, ctypes.c_size_t) for name in (
                "PeakWorkingSetSize", "WorkingSetSize", "QuotaPeakPagedPoolUsage", "QuotaPagedPoolUsage",
                "QuotaPeakNonPagedPoolUsage", "QuotaNonPagedPoolUsage", "PagefileUsage", "PeakPagefileUsage",
            )),
        ]

    def _windows_working_set() -> int:
        """This process's working set in bytes (K32GetProcessMemoryInfo; untested here: no Windows machine)."""
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.GetCurrentProcess.restype = wintypes.HANDLE
        counters = _MemoryCounters()
        counters.cb = ctypes.sizeof(counters)
        if not kernel32.K32GetProcessMemoryInfo(kernel32.GetCurrentProcess(), ctypes.byref(counters), counters.cb):
            raise ctypes.WinError(ctypes.get_last_error())
        return int(counters.WorkingSetSize)


@dataclass
class LoadStats:
    component: str
    seconds: float = 0.0
    rss_before: int = 0
    rss_peak: int = 0
    rss_after: int = 0

    @property
    def peak_increase(self) -> int:
        """Bytes above the RSS at the start, at the highest point seen during the load."""
        return self.rss_peak - self.rss_before


@contextmanager
def measure(component: str, interval_s: float = 0.005) -> Iterator[LoadStats]:
    """Time a block and sample the RSS every ``interval_s`` on a helper thread; log both at the end."""
    stats = LoadStats(component, rss_before=current_rss())
    stats.rss_peak = stats.rss_before
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval_s):
            stats.rss_peak = max(stats.rss_peak, current_rss())

    sampler = threading.Thread(target=sample, name=f"rss-{component}", daemon=True)
    started = time.perf_counter()
    sampler.start()
    try:
        yield stats
    finally:
        done.set()
        sampler.join()
        stats.seconds = time.perf_counter() - started
        stats.rss_after = current_rss()
        stats.rss_peak = max(stats.rss_peak, stats.rss_after)
        logger.info(
            "loaded %s in %.2f s; host memory peak +%.1f MiB, now +%.1f MiB",
            component, stats.seconds, stats.peak_increase / 2**20, (stats.rss_after - stats.rss_before) / 2**20,
        )
