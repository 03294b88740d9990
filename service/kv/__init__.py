"""A small key-value interface: Redis when configured, an in-process twin otherwise."""

from service.kv.store import (
    InProcessStore,
    KeyValueStore,
    RedisStore,
    StoreUnavailable,
    create_store,
)

__all__ = ["InProcessStore", "KeyValueStore", "RedisStore", "StoreUnavailable", "create_store"]
