from service.kv.ratelimit import RateLimiter
from service.kv.store import InProcessStore, StoreUnavailable


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_values_expire():
    clock = Clock()
    store = InProcessStore(clock=clock)
    assert store.set("k", b"v", ttl_s=10)
    assert store.get("k") == b"v"
    clock.now += 10
    assert store.get("k") is None


def test_set_only_if_absent_keeps_the_first_value():
    store = InProcessStore(clock=Clock())
    assert store.set("k", b"first", ttl_s=10, only_if_absent=True)
    assert not store.set("k", b"second", ttl_s=10, only_if_absent=True)
    assert store.get("k") == b"first"


def test_counter_keeps_the_expiry_of_its_first_increment():
    clock = Clock()
    store = InProcessStore(clock=clock)
    assert [store.incr("c", ttl_s=5) for _ in range(3)] == [1, 2, 3]
    clock.now += 4
    assert store.incr("c", ttl_s=5) == 4
    clock.now += 1
    assert store.incr("c", ttl_s=5) == 1


class DownStore:
    kind = "redis"

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise StoreUnavailable("down")

        return fail


def test_rate_limiter_falls_back_to_process_counts_when_the_store_is_down():
    limiter = RateLimiter(DownStore(), clock=lambda: 120.0)
    assert limiter.record("client", 60) == 1
    assert limiter.record("client", 60) == 2
    assert limiter.count("client", 60) == 2


def test_rate_limiter_windows_are_separate():
    clock = Clock()
    limiter = RateLimiter(InProcessStore(), clock=clock)
    limiter.record("client", 60)
    clock.now += 60
    assert limiter.count("client", 60) == 0
