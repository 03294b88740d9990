"""The pool's check of a pooled PostgreSQL connection (``service.persistence.liveness``)."""

from __future__ import annotations

import socket
from unittest import mock

import psycopg
import pytest
from psycopg import pq

from service.persistence.liveness import ping_only_in_doubt


@pytest.fixture
def connection():
    """A psycopg connection whose socket is one end of a local pair: writing to the other end
    is the server saying something."""
    ours, server = socket.socketpair()
    fake = mock.create_autospec(psycopg.Connection, instance=True)
    fake.closed, fake.broken = False, False
    fake.info.transaction_status = pq.TransactionStatus.IDLE
    fake.fileno.return_value = ours.fileno()
    yield fake, server
    ours.close()
    server.close()


def _ended_mid_exchange(_connection) -> bool:
    """The dialect's ping on a connection the server ended: its query fails, then turning
    autocommit off again fails as the exchange was not read to its end."""
    try:
        raise psycopg.OperationalError("terminating connection due to administrator command")
    finally:
        raise psycopg.ProgrammingError("can't change 'autocommit' now: connection in "
                                       "transaction status ACTIVE")  # fmt: skip


def test_a_quiet_connection_is_alive_without_asking(connection):
    fake, _ = connection
    full_ping = mock.Mock(side_effect=AssertionError("asked the server"))
    assert ping_only_in_doubt(full_ping)(fake) is True


def test_a_connection_the_server_spoke_on_is_asked(connection):
    fake, server = connection
    server.send(b"E")  # the server's last words
    full_ping = mock.Mock(return_value=True)
    assert ping_only_in_doubt(full_ping)(fake) is True
    full_ping.assert_called_once_with(fake)


def test_a_ping_that_fails_mid_exchange_reports_the_connection_dead(connection):
    fake, server = connection
    server.close()
    assert ping_only_in_doubt(_ended_mid_exchange)(fake) is False


def test_a_programming_error_of_a_live_connection_is_not_taken_for_a_dead_one(connection):
    fake, server = connection
    server.send(b"N")
    refused = mock.Mock(side_effect=psycopg.ProgrammingError("something else"))
    with pytest.raises(psycopg.ProgrammingError):
        ping_only_in_doubt(refused)(fake)
