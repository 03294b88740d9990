"""How a client's connections fall across the server's workers, read from ``/proc`` (Linux).

A kept-alive connection stays with the worker that accepted it, and the workers accept at
random. With four client connections and two workers, a round may run with two on each, three
on one or all four on one; each worker is one process, so the spread bounds what the round can
reach whatever the code does. A benchmark prints it beside each round's rate.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

ESTABLISHED = "01"  # the state column of /proc/net/tcp
POLL_S = 0.05


def _established_inodes(port: int) -> set[str]:
    """Socket inodes of established connections whose local port is ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == ESTABLISHED and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def held_by(port: int, workers: Iterable[int]) -> list[int]:
    """How many established connections to ``port`` each worker holds, most first."""
    inodes = _established_inodes(port)
    counts = []
    for pid in workers:
        held = 0
        with contextlib.suppress(OSError):  # the worker is gone
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):  # the descriptor closed meanwhile
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    held += link.startswith("socket:[") and link[8:-1] in inodes
        counts.append(held)
    return sorted(counts, reverse=True)


@contextlib.contextmanager
def spread(port: int, workers: list[int], expected: int) -> Iterator[list[int]]:
    """Around a round: the yielded list ends up holding how the round's connections fell
    across ``workers``, as first seen with ``expected`` of them open (or the most seen, if
    never that many)."""
    found: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        best: list[int] = []
        while not stop.is_set():
            counts = held_by(port, workers)
            if sum(counts) > sum(best):
                best = counts
            if sum(best) >= expected:
                break
            stop.wait(POLL_S)
        found.extend(best)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield found
    finally:
        stop.set()
        watcher.join(timeout=10)
