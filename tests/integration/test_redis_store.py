"""The Redis store against real servers: the shared one, and a private one we stop and freeze."""

from __future__ import annotations

import time

import pytest

from service.kv.store import RedisStore, StoreUnavailable


@pytest.fixture
def store(redis_url, redis_prefix):
    store = RedisStore(redis_url, prefix=redis_prefix)
    yield store
    store.close()


def test_basic_operations_on_real_redis(store):
    assert store.ping()
    assert store.set("k", b"v", ttl_s=5)
    assert store.get("k") == b"v"
    assert not store.set("k", b"w", ttl_s=5, only_if_absent=True)
    store.delete("k")
    assert store.get("k") is None


def test_counter_expires_with_its_window(store):
    assert [store.incr("c", ttl_s=0.3) for _ in range(3)] == [1, 2, 3]
    time.sleep(0.4)
    assert store.incr("c", ttl_s=0.3) == 1


def _timed(call):
    started = time.monotonic()
    try:
        result = call()
    except StoreUnavailable:
        result = StoreUnavailable
    return result, time.monotonic() - started


def test_frozen_redis_costs_one_bounded_wait_then_fails_fast(private_redis):
    store = RedisStore(private_redis.url, timeout_s=0.25, retries=1, cooldown_s=2.0)
    assert store.ping()
    private_redis.freeze()
    result, first = _timed(lambda: store.get("k"))
    assert result is StoreUnavailable
    assert first < 1.0
    result, second = _timed(lambda: store.get("k"))
    assert result is StoreUnavailable
    assert second < 0.05  # circuit open: no network wait at all
    private_redis.thaw()
    time.sleep(2.1)
    assert store.ping()
    store.close()


def test_stopped_redis_is_unavailable_quickly(private_redis):
    store = RedisStore(private_redis.url, timeout_s=0.25, retries=1, cooldown_s=0.5)
    assert store.ping()
    private_redis.stop()
    result, elapsed = _timed(lambda: store.incr("c", ttl_s=5))
    assert result is StoreUnavailable
    assert elapsed < 1.0
    private_redis.start()
    time.sleep(0.6)
    assert store.ping()
    store.close()
