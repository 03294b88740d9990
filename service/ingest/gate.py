"""How many big batches one process writes at once.

A 1000-trip batch is judged outside any write transaction, then written in one: trips, ledger
rows, daily totals and balances. Written side by side, such transactions cost PostgreSQL more
CPU per trip than written in turn: on two cores, four at once from two processes (two each)
took more of PostgreSQL's CPU per 1000 trips than one at a time in each process. So each
process writes only a few big batches at once (``INGEST_BATCH_WRITERS``, two by default),
while its other requests go on being read, judged and answered; small batches (single trips)
are not held back by this.

Why two and not one: clients keep their connections, and a process holds the ones it accepted.
When most of them land on one process, that process's writes queue up behind each other and
a core idles, since each write mostly waits on PostgreSQL. With one process holding all four
of a client's connections (``bench.ingest_http`` with its server started with one worker, two
runs each), 4,144-5,235 trips/s with one writer against 6,843-7,890 with two; with two
processes holding two each, no difference beyond the machine's noise.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from service.errors import Unavailable

WAIT_S = 30.0  # past this the request is answered 503 rather than kept waiting


class WriteGate:
    """At most ``slots`` holders at once; a holder waits at most ``wait_s`` for its turn."""

    def __init__(self, slots: int, wait_s: float = WAIT_S) -> None:
        if slots < 1:
            raise ValueError("a write gate needs at least one slot")
        self._slots = threading.BoundedSemaphore(slots)
        self._wait_s = wait_s

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=self._wait_s):
            raise Unavailable("too many trip batches are being written; retry shortly")
        try:
            yield
        finally:
            self._slots.release()
