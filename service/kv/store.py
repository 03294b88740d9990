"""Key-value stores behind one interface, so correctness never depends on Redis being there.

``RedisStore`` bounds every call: a short socket timeout, a bounded number of retries, and a
circuit breaker that, once Redis has failed, answers ``StoreUnavailable`` at once for a cool-down
period instead of letting every request wait out its own timeout. A hung (SIGSTOPped) or stopped
Redis therefore costs at most one timeout per process per cool-down, never a hung request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)


class StoreUnavailable(RuntimeError):
    """The store could not answer in time; callers fall back or degrade."""


class KeyValueStore(Protocol):
    """What the service needs from Redis; every method may raise ``StoreUnavailable``."""

    kind: str

    def ping(self) -> bool: ...

    def get(self, key: str) -> bytes | None: ...

    def set(
        self, key: str, value: bytes, ttl_s: float, *, only_if_absent: bool = False
    ) -> bool: ...

    def delete(self, key: str) -> None: ...

    def incr(self, key: str, ttl_s: float) -> int:
        """Add one to a counter, starting its time-to-live when it is created."""
        ...


class InProcessStore:
    """A thread-safe dict with expiry: the single-process stand-in for Redis."""

    kind = "in-process"
    _PURGE_ABOVE = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._data: dict[str, tuple[bytes | int, float]] = {}

    def ping(self) -> bool:
        return True

    def _live(self, key: str) -> bytes | int | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires <= self._clock():
            del self._data[key]
            return None
        return value

    def _purge(self) -> None:
        if len(self._data) > self._PURGE_ABOVE:
            now = self._clock()
            for key in [k for k, (_, exp) in self._data.items() if exp <= now]:
                del self._data[key]

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._live(key)
        if isinstance(value, int):
            return str(value).encode()
        return value

    def set(self, key: str, value: bytes, ttl_s: float, *, only_if_absent: bool = False) -> bool:
        with self._lock:
            if only_if_absent and self._live(key) is not None:
                return False
            self._purge()
            self._data[key] = (value, self._clock() + ttl_s)
            return True

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def incr(self, key: str, ttl_s: float) -> int:
        with self._lock:
            current = self._live(key)
            if current is None:
                self._purge()
                self._data[key] = (1, self._clock() + ttl_s)
                return 1
            count = int(current) + 1
            self._data[key] = (count, self._data[key][1])
            return count


class RedisStore:
    """Redis with bounded waits and a circuit breaker; keys are namespaced by ``prefix``."""

    kind = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "gp:",
        timeout_s: float = 0.25,
        retries: int = 1,
        cooldown_s: float = 2.0,
    ) -> None:
        self._prefix = prefix
        self._cooldown_s = cooldown_s
        self._open_until = 0.0
        self._lock = threading.Lock()
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), retries),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
            health_check_interval=0,
        )

    def _call(self, method: str, *args: object, **kwargs: object) -> object:
        if time.monotonic() < self._open_until:
            raise StoreUnavailable("redis circuit open")
        try:
            return getattr(self._client, method)(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            with self._lock:
                self._open_until = time.monotonic() + self._cooldown_s
            # A half-read reply would poison the connection; start the next try afresh.
            self._client.connection_pool.disconnect()
            log.warning("redis unavailable (%s); cooling down %.1fs", exc, self._cooldown_s)
            raise StoreUnavailable(str(exc)) from exc

    def ping(self) -> bool:
        try:
            return bool(self._call("ping"))
        except StoreUnavailable:
            return False

    def get(self, key: str) -> bytes | None:
        return self._call("get", self._prefix + key)  # type: ignore[return-value]

    def set(self, key: str, value: bytes, ttl_s: float, *, only_if_absent: bool = False) -> bool:
        done = self._call("set", self._prefix + key, value, px=int(ttl_s * 1000), nx=only_if_absent)
        return bool(done)

    def delete(self, key: str) -> None:
        self._call("delete", self._prefix + key)

    def incr(self, key: str, ttl_s: float) -> int:
        full = self._prefix + key
        pipe_result = self._call("eval", _INCR_WITH_TTL, 1, full, int(ttl_s * 1000))
        return int(pipe_result)  # type: ignore[arg-type]

    def run_script(self, script: str, keys: list[str], args: list[object]) -> object:
        """A Lua script over prefixed ``keys``: several commands, atomically, one round trip."""
        return self._call("eval", script, len(keys), *(self._prefix + k for k in keys), *args)

    def hash_items(self, key: str) -> dict[bytes, bytes]:
        return self._call("hgetall", self._prefix + key)  # type: ignore[return-value]

    def set_members(self, key: str) -> set[bytes]:
        return self._call("smembers", self._prefix + key)  # type: ignore[return-value]

    def close(self) -> None:
        self._client.close()


# One round trip, atomic: the counter and its expiry are created together.
_INCR_WITH_TTL = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""


def create_store(
    redis_url: str | None,
    *,
    prefix: str = "gp:",
    timeout_s: float = 0.25,
    retries: int = 1,
    cooldown_s: float = 2.0,
) -> KeyValueStore:
    """Redis when a URL is given, otherwise the in-process store. Never connects here."""
    if not redis_url:
        return InProcessStore()
    return RedisStore(
        redis_url, prefix=prefix, timeout_s=timeout_s, retries=retries, cooldown_s=cooldown_s
    )
