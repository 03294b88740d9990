"""Index changes a live database takes without pausing its writers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from alembic import op


@contextlib.contextmanager
def index_changes() -> Iterator[bool]:
    """Yields whether indexes change CONCURRENTLY: on PostgreSQL they do, outside the
    migration's transaction (which CONCURRENTLY requires), so a live table keeps taking
    inserts meanwhile; elsewhere they change inside the transaction as usual."""
    if op.get_bind().dialect.name != "postgresql":
        yield False
        return
    with op.get_context().autocommit_block():
        yield True
