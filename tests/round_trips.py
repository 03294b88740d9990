"""A TCP relay on 127.0.0.1 that counts round trips between a client and a server: each time
the server answers after the client has sent something, one round trip. It lets a test pin how
many times a request waits for PostgreSQL, which the database's own statistics cannot tell."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

POLL_S = 0.05


class RoundTripRelay:
    """Relays connections from its own port to ``(host, port)``; ``round_trips`` counts the
    server's answers that followed something sent by a client, over all connections."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._count_lock = threading.Lock()
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self.round_trips = 0

    def start(self) -> None:
        self._spawn(self._accept)

    def stop(self) -> None:
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        self._listener.settimeout(POLL_S)
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            self._spawn(self._relay, client)

    def _relay(self, client: socket.socket) -> None:
        try:
            with client, socket.create_connection(self._target) as server:
                self._pass_on(client, server)
        except OSError:
            return  # either side went away: the driver sees that for itself

    def _pass_on(self, client: socket.socket, server: socket.socket) -> None:
        client_spoke = False
        while not self._stopped.is_set():
            ready, _, _ = select.select([client, server], [], [], POLL_S)
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                if sock is client:
                    server.sendall(data)
                    client_spoke = True
                    continue
                if client_spoke:
                    with self._count_lock:
                        self.round_trips += 1
                    client_spoke = False
                client.sendall(data)


@contextlib.contextmanager
def round_trip_relay(host: str, port: int) -> Iterator[RoundTripRelay]:
    relay = RoundTripRelay(host, port)
    relay.start()
    try:
        yield relay
    finally:
        relay.stop()
