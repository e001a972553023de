"""Peak resident memory of a process tree, sampled in a thread."""

from __future__ import annotations

import resource
import threading
import time

import psutil

SAMPLE_SECONDS = 0.25


def tree_rss(pid: int) -> int:
    """RSS of a process and all its descendants now (0 once it has exited)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # exited between listing and sampling
    return total


class PeakRss:
    """``with PeakRss(pid) as peak: ...`` then ``peak.bytes`` is the largest sum seen."""

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS) -> None:
        self.pid = pid
        self.interval = interval
        self.bytes = 0
        self.current = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.current = tree_rss(self.pid)
            self.bytes = max(self.bytes, self.current)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def children_cpu_seconds() -> float:
    """User + system CPU of every child process waited for so far (with their own waited-for
    children): the difference around one child is that tree's CPU time, which other load
    on the machine inflates far less than wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def gib(n_bytes: int) -> float:
    return round(n_bytes / 1024**3, 3)
