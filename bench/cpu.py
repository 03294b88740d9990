"""Where the machine's time went during a benchmark phase: CPU seconds of the server's workers,
of PostgreSQL's processes and of the benchmark's own process (the load generator), read from
``/proc``. On a small shared machine wall-clock rounds swing with whatever else runs; CPU
seconds per unit of work say which side to make cheaper."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable
from pathlib import Path

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float | None:
    """User plus system CPU seconds of a process and its threads; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces or parentheses: the fields start after the last ')'.
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S  # utime, stime


def _cpu_by_pid(pids: Iterable[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        seconds = _cpu_of(pid)
        if seconds is not None:
            found[pid] = seconds
    return found


def postgres_pids() -> list[int]:
    """Every PostgreSQL process on this machine (backends and background workers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue  # gone meanwhile
    return pids


@dataclasses.dataclass(frozen=True)
class Spent:
    """CPU seconds of each side over one phase, and the phase's wall-clock seconds."""

    workers: float
    postgres: float
    client: float
    wall: float

    def per(self, units: float, scale: float = 1000.0) -> Spent:
        """Each figure per unit of work, times ``scale`` (milliseconds by default)."""
        return Spent(*(scale * value / units for value in dataclasses.astuple(self)))


class Meter:
    """Measures one phase: ``with Meter(worker_pids) as meter: ...`` then ``meter.spent``.

    PostgreSQL processes are listed at both ends, so a backend that starts during the phase
    counts whole; one that exits during it is lost (the service's pooled connections and the
    floor's one connection outlive their phases)."""

    def __init__(self, workers: Iterable[int] = ()) -> None:
        self.workers = list(workers)
        self.spent = Spent(0.0, 0.0, 0.0, 0.0)

    def __enter__(self) -> Meter:
        self._workers = _cpu_by_pid(self.workers)
        self._postgres = _cpu_by_pid(postgres_pids())
        self._client = time.process_time()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        wall = time.perf_counter() - self._wall
        client = time.process_time() - self._client
        workers = _grown(self._workers, _cpu_by_pid(self.workers))
        postgres = _grown(self._postgres, _cpu_by_pid(postgres_pids()))
        self.spent = Spent(workers, postgres, client, wall)


def _grown(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
