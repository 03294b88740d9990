"""Fixed-window counters for rate limits, shared across processes through the store.

When Redis is unavailable the limit is kept per process (the in-process store) instead: looser
across a fleet of processes, but never a failed or hung request.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from service.kv.store import InProcessStore, KeyValueStore, StoreUnavailable


class RateLimiter:
    """Counts events per key in fixed windows and says whether a key is over its limit."""

    def __init__(self, store: KeyValueStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._local = store if isinstance(store, InProcessStore) else InProcessStore()
        self._clock = clock

    def _key(self, name: str, window_s: int) -> str:
        window = int(self._clock() // window_s)
        return f"rl:{name}:{window_s}:{window}"

    def count(self, name: str, window_s: int) -> int:
        """Events recorded for ``name`` in the current window."""
        key = self._key(name, window_s)
        try:
            raw = self._store.get(key)
        except StoreUnavailable:
            raw = self._local.get(key)
        return int(raw) if raw else 0

    def record(self, name: str, window_s: int) -> int:
        """Record one event; returns the count in the current window, this one included."""
        key = self._key(name, window_s)
        try:
            return self._store.incr(key, window_s)
        except StoreUnavailable:
            return self._local.incr(key, window_s)
