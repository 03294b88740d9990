"""One round trip of small statements, queued on libpq's pipeline without psycopg's cursors.

psycopg's pipeline runs each statement through a cursor of its own: the cursor, converting the
query, its prepared-statement bookkeeping and a poll of the socket after every statement cost
about 27 microseconds of Python a statement, where libpq itself needs about 6 (16 small
statements in one pipeline, measured on the development machines). A one-trip request sends
about fifteen statements. Here each statement's parameters are dumped with psycopg's own
adapters (the connection's, so values go as through a cursor), the statement is prepared once
per connection, and it is queued in libpq's buffer; the round trip is one Sync, flushed once,
and each answer is loaded with psycopg's loaders when it is read. Errors are psycopg's own
exceptions: the first failed statement's, raised when the round trip ends, or when the answer
of that statement (or of one after it, left unrun) is read.

Nothing else may use the connection while a ``Pipeline`` is open (``direct.pipelined`` holds
it for one session's statements).
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import weakref
from collections import deque
from collections.abc import Sequence
from functools import lru_cache
from types import TracebackType
from typing import Any, NamedTuple

import psycopg
from psycopg import errors, generators, pq
from psycopg.adapt import PyFormat, Transformer

log = logging.getLogger(__name__)

# Prepared statements kept per connection; past this many, statements go unprepared. The
# service's statements are a few dozen shapes (inserts of up to 64 rows each make the most).
MAX_PREPARED = 256

_FINE = frozenset({pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK})
_PLACEHOLDER = re.compile(rb"%\(([^)]+)\)s|%s|%%")


class Column(NamedTuple):
    """A result column as a cursor's description gives it (the parts read here)."""

    name: str
    type_code: int


class Answer:
    """One statement's answer, read when asked for (at the latest, as the round trip ends)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline: Pipeline | None = pipeline
        self._driver = pipeline.driver
        self._result: pq.abc.PGresult | None = None
        self._error: psycopg.Error | None = None

    def _take(self, results: list[pq.abc.PGresult]) -> psycopg.Error | None:
        """Keep the statement's result; returns its error, if it failed."""
        self._pipeline = None
        for result in results:
            if result.status not in _FINE:
                self._error = _error_of(result, self._driver)
                return self._error
        self._result = results[-1] if results else None
        return None

    def _ready(self) -> pq.abc.PGresult | None:
        if self._pipeline is not None:
            self._pipeline.wait_for(self)
        if self._error is not None:
            raise self._error
        return self._result

    def rows(self) -> list[tuple[Any, ...]]:
        """The rows, loaded as a psycopg cursor loads them."""
        result = self._ready()
        if result is None or not result.ntuples:
            return []
        loader = Transformer(self._driver)
        loader.set_pgresult(result)
        return loader.load_rows(0, result.ntuples, tuple)

    def columns(self) -> list[Column]:
        result = self._ready()
        if result is None:
            return []
        return [Column((result.fname(i) or b"").decode(), result.ftype(i))
                for i in range(result.nfields)]  # fmt: skip


class _Prepared(NamedTuple):
    """A prepared statement sent in this round trip: kept once the server has it."""

    key: tuple[bytes, tuple[int, ...]]
    name: bytes


class _Sync:
    """The round trip's end."""


class Pipeline:
    """The statements of one round trip on ``driver``: ``send`` each, then leave the block."""

    def __init__(self, driver: psycopg.Connection[Any]) -> None:
        self.driver = driver
        self._pgconn = driver.pgconn
        self._dumper = Transformer(driver)
        self._prepared = _prepared_on(driver)
        self._waiting: deque[Answer | _Prepared | _Sync] = deque()
        self._error: psycopg.Error | None = None

    def __enter__(self) -> Pipeline:
        self._pgconn.enter_pipeline_mode()
        return self

    def send(self, query: bytes, params: Sequence[Any] = (), *, prepare: bool = True) -> Answer:
        """Queue ``query`` (``$1``-style placeholders) with ``params``; nothing goes out until
        an answer is read or the round trip ends."""
        values, types, formats = None, (), None
        if params:
            values = self._dumper.dump_sequence(params, [PyFormat.AUTO] * len(params))
            types, formats = tuple(self._dumper.types), self._dumper.formats
        name = self._name_for(query, types) if prepare else None
        if name is None:
            self._pgconn.send_query_params(query, values, param_types=types,
                                           param_formats=formats)  # fmt: skip
        else:
            self._pgconn.send_query_prepared(name, values, param_formats=formats)
        answer = Answer(self)
        self._waiting.append(answer)
        return answer

    def _name_for(self, query: bytes, types: tuple[int, ...]) -> bytes | None:
        """The statement's prepared name on this connection, preparing it in this round trip
        if it is new (None once the connection holds ``MAX_PREPARED``)."""
        key = (query, types)
        name = self._prepared.names.get(key)
        if name is None and len(self._prepared.names) < MAX_PREPARED:
            name = self._prepared.names[key] = b"gp_%d" % next(self._prepared.counter)
            self._pgconn.send_prepare(name, query, param_types=types)
            self._waiting.append(_Prepared(key, name))
        return name

    def wait_for(self, answer: Answer) -> None:
        """Read up to ``answer`` before the round trip ends (a flush request sends what is
        queued and asks the server for its answers so far)."""
        self._pgconn.send_flush_request()
        self.driver.wait(generators.send(self._pgconn))
        self._read_until(answer)

    def _read_until(self, last: Answer | _Sync) -> None:
        """Read the answers in the order sent, up to ``last``; keeps the first error (the
        statements after a failed one are only aborted)."""
        while self._waiting:
            results = self.driver.wait(generators.fetch_many(self._pgconn))
            if not results:
                break
            item = self._waiting.popleft()
            failed = None
            if isinstance(item, Answer):
                failed = item._take(results)
                if isinstance(failed, errors.PipelineAborted) and self._error is not None:
                    item._error = self._error  # it was not run: it answers with the cause
            elif isinstance(item, _Prepared) and results[-1].status != pq.ExecStatus.COMMAND_OK:
                self._prepared.names.pop(item.key, None)
                failed = _error_of(results[-1], self.driver)
            if self._error is None and not isinstance(failed, (type(None), errors.PipelineAborted)):
                self._error = failed
            if item is last:
                return
        raise psycopg.OperationalError("the server sent fewer answers than statements")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        sync = _Sync()
        try:
            self._pgconn.pipeline_sync()
            self._waiting.append(sync)
            self.driver.wait(generators.send(self._pgconn))
            self._read_until(sync)
        except psycopg.Error as ending:
            if error is None:
                raise
            log.warning("error ignored ending a pipeline after another: %s", ending)
        finally:
            if self._pgconn.status != pq.ConnStatus.BAD:
                try:
                    self._pgconn.exit_pipeline_mode()
                except psycopg.OperationalError as leaving:
                    if error is None:
                        raise
                    log.warning("error ignored leaving a pipeline after another: %s", leaving)
        if error is None and self._error is not None:
            raise self._error


def positional(query: bytes) -> tuple[bytes, tuple[str | int, ...]]:
    """``query`` with psycopg's placeholders (``%(name)s`` or ``%s``) as ``$1``-style ones,
    and what each stands for: a name, or the position of a ``%s`` among them. Short texts are
    kept converted (a multi-row INSERT's text may run to a megabyte)."""
    return _positional_kept(query) if len(query) <= _KEPT_QUERY_BYTES else _positional(query)


_KEPT_QUERY_BYTES = 4096


def _positional(query: bytes) -> tuple[bytes, tuple[str | int, ...]]:
    order: list[str | int] = []
    places: dict[str | int, int] = {}
    unnamed = itertools.count()

    def place(match: re.Match[bytes]) -> bytes:
        if match.group(0) == b"%%":
            return b"%"
        key: str | int = match.group(1).decode() if match.group(1) else next(unnamed)
        if key not in places:
            order.append(key)
            places[key] = len(order)
        return b"$%d" % places[key]

    return _PLACEHOLDER.sub(place, query), tuple(order)


_positional_kept = lru_cache(maxsize=256)(_positional)


class _PreparedOn:
    """The statements prepared on one connection."""

    def __init__(self) -> None:
        self.names: dict[tuple[bytes, tuple[int, ...]], bytes] = {}
        self.counter = itertools.count()


_PREPARED: weakref.WeakKeyDictionary[psycopg.Connection[Any], _PreparedOn] = (
    weakref.WeakKeyDictionary()
)
_PREPARED_LOCK = threading.Lock()


def _prepared_on(driver: psycopg.Connection[Any]) -> _PreparedOn:
    found = _PREPARED.get(driver)
    if found is None:
        with _PREPARED_LOCK:
            found = _PREPARED.setdefault(driver, _PreparedOn())
    return found


def _error_of(result: pq.abc.PGresult, driver: psycopg.Connection[Any]) -> psycopg.Error:
    if result.status == pq.ExecStatus.PIPELINE_ABORTED:
        return errors.PipelineAborted("pipeline aborted")
    return errors.error_from_result(result, encoding=driver.info.encoding)
