"""Whether a pooled PostgreSQL connection is still alive, without a round trip when it surely is.

The pool checks each connection it hands out (pre-ping), since a restarted server leaves dead
connections behind. The usual check is a query, one round trip on every
checkout: on a one-trip request that is one of about a dozen, on an account read one of three.
A server that ends a connection, whether it restarts, terminates the backend or times the
session out, sends its last words and closes the socket, so the socket turns readable. An idle
connection that nothing has reached since its last exchange is therefore alive as far as any
query could tell, and needs no query. Anything else (the socket readable, an error on it, a
transaction left open, the driver calling it broken) goes to the usual query, which decides.
"""

from __future__ import annotations

import select
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import pq
from sqlalchemy import Engine

Ping = Callable[[Any], bool]


def nothing_arrived(connection: psycopg.Connection) -> bool:
    """True when the connection is idle and open, and no byte nor hang-up has reached its
    socket since its last exchange."""
    if connection.closed or connection.broken:
        return False
    if connection.info.transaction_status != pq.TransactionStatus.IDLE:
        return False
    poller = select.poll()  # not select.select: a busy process's descriptors pass 1024
    poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
    return not poller.poll(0)


def ping_only_in_doubt(full_ping: Ping) -> Ping:
    """A pre-ping that asks the server only when the socket says something happened."""

    def ping(dbapi_connection: Any) -> bool:
        if not isinstance(dbapi_connection, psycopg.Connection):
            return full_ping(dbapi_connection)
        if nothing_arrived(dbapi_connection):
            return True
        try:
            return full_ping(dbapi_connection)
        except psycopg.ProgrammingError as exc:
            # The dialect's ping turns autocommit on, runs its query and turns it off again.
            # When the server has ended the connection, the query can fail before the end of
            # the exchange is read, and turning autocommit off then fails too, hiding the
            # disconnect behind an error the pool does not take for one.
            if isinstance(exc.__context__, psycopg.OperationalError):
                return False  # the pool replaces the connection
            raise

    return ping


def ping_psycopg_only_in_doubt(engine: Engine) -> None:
    """Give an engine on psycopg the pre-ping above (other drivers keep their own)."""
    if engine.dialect.driver == "psycopg":
        engine.dialect.do_ping = ping_only_in_doubt(engine.dialect.do_ping)  # type: ignore[method-assign]
