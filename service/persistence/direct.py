"""Small statements built once from their SQLAlchemy Core definition and, on PostgreSQL, run
on the session's own psycopg connection.

A one-trip request sends about fifteen small statements. Through SQLAlchemy each one costs
more Python than the database spends on it: building the expression, its cache key, the
execution context, parameter and result processing. Here a statement is built once per
dialect and compiled once; on PostgreSQL each run only fills in its parameters and queues the
compiled text on libpq's pipeline (``pipeline.Pipeline``: a round trip of its own, or the one
``pipelined`` gathers). On SQLite it runs through SQLAlchemy as any statement does. Each
statement keeps one definition.

Values go in and come out through the same type processors SQLAlchemy applies.

Plans: a statement is prepared on its connection at its first run, and PostgreSQL may then
keep a generic plan, which cannot see how many values an ``= ANY(array)`` holds (a 1000-trip
batch's consent lookup took 90 ms instead of 9). A run with more than
``GENERIC_PLAN_MAX_VALUES`` values in a list is therefore never prepared: it is planned for its
values. Forcing custom plans for the whole session instead had PostgreSQL plan each
foreign-key check and each ledger trigger query again for every row written, about a quarter
of its CPU in a 1000-trip batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
from sqlalchemy import ColumnElement, Connection, Table, all_, any_, bindparam, cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable
from sqlalchemy.sql.sqltypes import NullType
from sqlalchemy.types import TypeDecorator

from service.persistence import pipelined_begin
from service.persistence.pipeline import Answer, Pipeline, positional

# A run with a list longer than this is planned for its values (see above).
GENERIC_PLAN_MAX_VALUES = 50
# ``Session.info`` key: this transaction asked for generic plans (``plan_generically``).
_GENERIC_PLANS = "greenpoints.generic_plans"
# ``Session.info`` keys: the session's dialect, and its transaction with that transaction's
# connection (``_dialect``, ``_connection``).
_DIALECT = "greenpoints.dialect"
_CONNECTION = "greenpoints.connection"
# ``Session.info`` key: the session's open ``Pipeline`` (``pipelined``).
_PIPELINE = "greenpoints.pipeline"

Build = Callable[[str], Executable]  # the statement for a dialect ("postgresql", "sqlite")
Processor = Callable[[Any], Any]
Fetched = TypeVar("Fetched")
Queued = TypeVar("Queued")


class _ArrayLiteral(TypeDecorator[Any]):
    """A list of strings, integers or dates sent as one PostgreSQL array literal
    (``{"a","b"}``) and cast in SQL. psycopg adapts a list element by element; and untyped,
    the literal is cast once, as a constant, where a VARCHAR parameter would be converted
    again for every row the query checks (a thousand-id lookup took a second)."""

    impl = NullType
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else array_literal(value)


def one_of_param(dialect: str, column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """``column IN :name`` for a list given when the statement runs: ``= ANY(array)`` on
    PostgreSQL (one parameter however many values), an expanding IN elsewhere."""
    if dialect != "postgresql":
        return column.in_(bindparam(name, expanding=True))
    if _as_literal(column):
        return column == any_(cast(bindparam(name, type_=_ArrayLiteral()), ARRAY(column.type)))
    # Timestamps and the like: each element through the column type's own processing.
    return column == any_(bindparam(name, type_=ARRAY(column.type)))


def none_of_param(dialect: str, column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """``column NOT IN :name``, as ``one_of_param``: ``<> ALL(array)`` on PostgreSQL. The
    literal goes as a parameter of unknown type cast to the array's, so PostgreSQL reads it
    once, as a constant, and looks each row up in a hash of its values (2,000 rows against
    900 values: 0.3 ms; cast from ``text`` instead, the array was read again for every row:
    456 ms)."""
    if dialect != "postgresql":
        return column.not_in(bindparam(name, expanding=True))
    if not _as_literal(column):
        raise TypeError(f"no array literal for {column}")
    return column != all_(cast(bindparam(name, type_=_ArrayLiteral()), ARRAY(column.type)))


def _as_literal(column: ColumnElement[Any]) -> bool:
    """Whether the column's values have an array literal (``array_literal``)."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return False
    if issubclass(python_type, dt.datetime) or issubclass(python_type, bool):
        return False
    return issubclass(python_type, (str, int, dt.date))


@dataclasses.dataclass(frozen=True)
class _Compiled:
    defaults: dict[str, Any]
    processors: dict[str, Processor]
    # The text with ``$1``-style placeholders, and the parameter each stands for (a
    # ``Pipeline`` takes them in order).
    query: bytes
    order: tuple[str, ...]

    @classmethod
    def of(cls, statement: Executable, dialect: Dialect, **options: Any) -> _Compiled:
        compiled = statement.compile(dialect=dialect, **options)  # type: ignore[attr-defined]
        defaults, processors = {}, {}
        for bind, name in compiled.bind_names.items():
            if not bind.required:
                defaults[name] = bind.effective_value
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors[name] = processor
        query, order = positional(compiled.string.encode())
        return cls(defaults, processors, query, order)  # type: ignore[arg-type]

    def send(self, pipeline: Pipeline, given: Mapping[str, Any]) -> Answer:
        """Queue a run in ``pipeline``; a run with a long list is never prepared (see the
        module's docstring)."""
        values = self.parameters(given)
        return pipeline.send(self.query, [values[name] for name in self.order],
                             prepare=_preparable(given))  # fmt: skip

    def parameters(self, given: Mapping[str, Any]) -> dict[str, Any]:
        values = {**self.defaults, **given}
        for name, processor in self.processors.items():
            if name in values:
                values[name] = processor(values[name])
        return values


@dataclasses.dataclass(frozen=True)
class _Results:
    """The result processors of a statement's columns, where there are any (they may depend
    on the type the database reports, so they are made from the first result)."""

    processors: tuple[tuple[int, Processor], ...]

    @classmethod
    def of(cls, statement: Executable, dialect: Dialect, description: Sequence[Any]) -> _Results:
        processors = []
        columns = getattr(statement, "selected_columns", ())
        for index, (column, reported) in enumerate(zip(columns, description, strict=True)):
            impl = column.type.dialect_impl(dialect)
            processor = impl.result_processor(dialect, reported.type_code)
            if processor is not None:
                processors.append((index, processor))
        return cls(tuple(processors))

    def apply(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        if not self.processors:
            return rows
        processed = []
        for row in rows:
            values = list(row)
            for index, processor in self.processors:
                values[index] = processor(values[index])
            processed.append(tuple(values))
        return processed


class Statement:
    """One statement, built by ``build`` for each dialect the first time it runs there."""

    def __init__(self, build: Build) -> None:
        self._build = build
        self._built: dict[str, Executable] = {}
        self._compiled: _Compiled | None = None
        self._results: _Results | None = None
        self._names: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def rows(self, session: Session, **params: Any) -> list[tuple[Any, ...]]:
        """Every row of the result."""
        return self._run(session, params)[1]

    def mappings(self, session: Session, **params: Any) -> list[dict[str, Any]]:
        """Every row of the result, by column name."""
        names, rows = self._run(session, params)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def send(self, session: Session, **params: Any) -> Sent:
        """Send the statement now and read its rows later: inside ``pipelined``, statements
        sent one after another cost one round trip in all, when the pipeline is left (read the
        rows after that; read before, they wait for everything sent so far). Elsewhere it runs
        at once, in a round trip of its own."""
        if not is_postgres(session):
            ran = self._run(session, params)
            return Sent(lambda: ran)
        compiled = self._postgres(session)
        answer = _in_round_trip(session, lambda pipeline: compiled.send(pipeline, params))
        return Sent(_read(session, lambda: self._processed(session, answer)))

    def _run(
        self, session: Session, params: Mapping[str, Any]
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        if is_postgres(session):
            return self.send(session, **params).read()
        session.flush()  # as on PostgreSQL: the read sees the session's pending objects
        result = _connection(session).execute(self._for(session), params)
        return list(result.keys()), [tuple(row) for row in result]

    def _processed(
        self, session: Session, answer: Answer
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The column names, and the rows through the columns' result processors."""
        rows = answer.rows()
        if self._results is None:  # the statement's columns never change
            description = answer.columns()
            self._names = tuple(c.name for c in description)
            self._results = _Results.of(self._for(session), _dialect(session), description)
        return list(self._names), self._results.apply(rows)

    def scalars(self, session: Session, **params: Any) -> list[Any]:
        """The first column of every row."""
        return [row[0] for row in self.rows(session, **params)]

    def _for(self, session: Session) -> Executable:
        name = _dialect(session).name
        built = self._built.get(name)
        if built is None:
            with self._lock:
                built = self._built.setdefault(name, self._build(name))
        return built

    def _postgres(self, session: Session) -> _Compiled:
        if self._compiled is None:
            dialect = _dialect(session)
            compiled = _Compiled.of(self._for(session), dialect)
            with self._lock:
                self._compiled = self._compiled or compiled
        return self._compiled


def _preparable(params: Mapping[str, Any]) -> bool:
    """Whether a run with these parameters may use a prepared statement: not with a long
    list."""
    for value in params.values():
        if isinstance(value, (list, tuple, set)) and len(value) > GENERIC_PLAN_MAX_VALUES:
            return False
    return True


def _read(session: Session, read: Callable[[], Fetched]) -> Callable[[], Fetched]:
    """``read``, its database errors raised as SQLAlchemy's."""

    def guarded() -> Fetched:
        try:
            return read()
        except psycopg.Error as error:
            raise _as_sqlalchemy(error, _dialect(session)) from error

    return guarded


class Sent:
    """A statement sent (``Statement.send``) whose rows are read once, when asked for."""

    def __init__(self, read: Callable[[], tuple[list[str], list[tuple[Any, ...]]]]) -> None:
        self._read = read

    def read(self) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The column names and the rows."""
        return self._read()

    def rows(self) -> list[tuple[Any, ...]]:
        return self._read()[1]

    def mappings(self) -> list[dict[str, Any]]:
        names, rows = self._read()
        return [dict(zip(names, row, strict=True)) for row in rows]


def insert(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys) in one statement; any conflict is an error."""
    if rows:
        _Insert.of(table, "", rows).run(session, rows)


def insert_new(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]], key: str
) -> set[Any]:
    """Insert those of ``rows`` whose ``key`` is not taken (ON CONFLICT DO NOTHING); returns
    the keys inserted."""
    return send_new(session, table, rows, key)()


def send_new(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]], key: str
) -> Callable[[], set[Any]]:
    """``insert_new`` sent now: inside ``pipelined``, the statements sent after it go in the
    same round trip. Call what it returns for the keys inserted."""
    if not rows:
        return set
    read = _Insert.of(table, key, rows).send(session, rows)
    return lambda: set(read())


# PostgreSQL's protocol caps a statement's parameters at 65,535; row counts up to this many
# keep their compiled statement (a small batch writes up to ``bulk.FEW_ROWS`` rows at once).
_MAX_PARAMETERS = 65_535
_KEPT_ROW_COUNTS = 64


class _Insert:
    """A multi-row INSERT into one table for one set of columns, compiled once per row count.

    All rows go in one statement (up to PostgreSQL's limit on parameters), not one statement a
    row: the ledger's balance trigger checks each statement, so a transaction's entries must
    arrive together, and one statement costs PostgreSQL less than several."""

    def __init__(self, table: Table, key: str, columns: tuple[str, ...]) -> None:
        self.table, self.key, self.columns = table, key, columns
        self._by_count: dict[int, _Compiled] = {}

    @classmethod
    def of(cls, table: Table, key: str, rows: Sequence[Mapping[str, Any]]) -> _Insert:
        columns = tuple(rows[0])
        made = _INSERTS.get((table.name, key, columns))
        if made is None:
            made = _INSERTS.setdefault((table.name, key, columns), cls(table, key, columns))
        return made

    def _statement(self, dialect: str, count: int = 0) -> Any:
        """The INSERT; with ``count``, of that many rows whose parameters are named
        ``<column>_<row>``."""
        # inline: no RETURNING of a generated primary key nobody reads.
        statement = (postgresql if dialect == "postgresql" else sqlite).insert(self.table).inline()
        if count:
            statement = statement.values(
                [
                    {c: bindparam(f"{c}_{i}", type_=self.table.c[c].type) for c in self.columns}
                    for i in range(count)
                ]
            )
        if self.key:
            statement = statement.on_conflict_do_nothing().returning(self.table.c[self.key])
        return statement

    def _compiled(self, dialect: Dialect, count: int) -> _Compiled:
        compiled = self._by_count.get(count)
        if compiled is None:
            compiled = _Compiled.of(self._statement(dialect.name, count), dialect)
            if count <= _KEPT_ROW_COUNTS:
                self._by_count[count] = compiled
        return compiled

    def run(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """The keys inserted (with a key), else nothing."""
        return self.send(session, rows)()

    def send(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> Callable[[], list[Any]]:
        """Send the rows now; what it returns reads the keys inserted (with a key)."""
        if not is_postgres(session):
            session.flush()
            result = _connection(session).execute(self._statement("sqlite"), list(rows))
            keys = list(result.scalars()) if self.key else []
            return lambda: keys
        dialect = _dialect(session)
        per_statement = max(1, _MAX_PARAMETERS // len(self.columns))
        reads = []

        def send(pipeline: Pipeline) -> None:
            for start in range(0, len(rows), per_statement):
                chunk = rows[start : start + per_statement]
                compiled = self._compiled(dialect, len(chunk))
                named = {f"{c}_{i}": v for i, row in enumerate(chunk) for c, v in row.items()}
                reads.append(_read(session, self._keys_of(compiled.send(pipeline, named))))

        _in_round_trip(session, send)
        if len(reads) == 1:
            return reads[0]
        return lambda: [key for read in reads for key in read()]

    def _keys_of(self, answer: Answer) -> Callable[[], list[Any]]:
        """What reads the keys an INSERT sent in a pipeline returned (none without a key:
        then nothing waits for its answer, which the round trip's end checks)."""
        if not self.key:
            return list
        return lambda: [row[0] for row in answer.rows()]


# Compiled INSERTs by (table, conflict key or "", columns).
_INSERTS: dict[tuple[str, str, tuple[str, ...]], _Insert] = {}


def is_postgres(session: Session) -> bool:
    return _dialect(session).name == "postgresql"


def _dialect(session: Session) -> Dialect:
    """The dialect of the session's bind, looked up once per session."""
    dialect = session.info.get(_DIALECT)
    if dialect is None:
        dialect = session.info[_DIALECT] = session.get_bind().dialect
    return dialect  # type: ignore[no-any-return]


def _connection(session: Session) -> Connection:
    """``session.connection()``, looked up once per transaction: a one-trip request sends
    about fifteen statements, and each lookup walks SQLAlchemy's transaction state (about 5 %
    of a one-trip request's instructions). A transaction no longer active goes through
    SQLAlchemy again, which raises as it would."""
    transaction = session.get_transaction()
    known = session.info.get(_CONNECTION)
    if known is not None and known[0] is transaction and transaction.is_active:  # type: ignore[union-attr]
        return known[1]  # type: ignore[no-any-return]
    connection = session.connection()
    session.info[_CONNECTION] = (session.get_transaction(), connection)
    return connection


@contextlib.contextmanager
def pipelined(session: Session) -> Iterator[None]:
    """On PostgreSQL, the statements sent inside go in one round trip (``pipeline.Pipeline``):
    writes are sent without waiting for their answers, and a read waits once for everything
    before it. A failed statement fails the transaction, raised when its answer is read or on
    leaving, at the latest. Only this module's statements and ``bulk``'s writes go inside:
    SQLAlchemy and psycopg's cursors cannot use the connection meanwhile, and COPY cannot run
    in one (``bulk`` sends INSERTs there instead). Inside another, it adds to that one: leaving
    it waits for nothing, the outermost does. When the transaction has not
    begun yet, its BEGIN goes first in this pipeline's round trip (``pipelined_begin``), then
    any setting asked for meanwhile (``plan_generically``)."""
    if not is_postgres(session):
        yield
        return
    session.flush()
    outer = _pipeline(session)
    if outer is not None:  # inside another: that one's end waits for everything
        _send_settings(session, outer)
        yield
        return
    connection = _connection(session)
    driver = connection.connection.driver_connection
    begin = pipelined_begin.own_begin(driver, connection.connection.info)  # type: ignore[arg-type]
    try:
        with Pipeline(driver) as pipeline:  # type: ignore[arg-type]
            session.info[_PIPELINE] = pipeline
            try:
                if begin is not None:
                    pipeline.send(begin.encode(), prepare=False)
                _send_settings(session, pipeline)
                yield
            finally:
                del session.info[_PIPELINE]
    except psycopg.Error as error:
        raise _as_sqlalchemy(error, connection.dialect) from error


def plan_generically(session: Session) -> None:
    """On PostgreSQL, the prepared statements of the session's transaction run on generic
    plans from its next ``pipelined`` round trip on (a ``SET LOCAL`` sent there, after BEGIN).

    For a transaction whose lists hold a few values. PostgreSQL plans a prepared statement for
    each run's values as long as that looks cheaper than its generic plan, which assumes ten
    values in an ``= ANY(array)``: with one value it always does, and a one-trip request spent
    about a third of PostgreSQL's statement time planning. A statement run with a long list is
    never prepared (``GENERIC_PLAN_MAX_VALUES``), so it is planned for its values whatever this
    says."""
    if is_postgres(session):
        session.info[_GENERIC_PLANS] = True


def _send_settings(session: Session, pipeline: Pipeline) -> None:
    """Queue the transaction settings asked for since the last round trip."""
    if session.info.pop(_GENERIC_PLANS, False):
        pipeline.send(b"SET LOCAL plan_cache_mode = force_generic_plan", prepare=False)


def commit_sent(session: Session) -> None:
    """Inside ``pipelined`` on PostgreSQL: COMMIT, sent with the statements before it, so the
    pipeline's one round trip carries them all (psycopg's own ``commit`` would wait for its
    answer, and leaving the pipeline would then wait once more). It must be the transaction's
    last statement: the session's own commit then finds the transaction over and sends
    nothing. Should a statement before it fail, the database skips the COMMIT, the error is
    raised on leaving the pipeline, and the session rolls the transaction back as usual."""
    pipeline = _pipeline(session)
    if pipeline is None:
        raise RuntimeError("commit_sent belongs inside pipelined")
    pipeline.send(b"COMMIT", prepare=False)


def pipelining(session: Session) -> bool:
    """Whether statements sent on the session now go in a pipeline (``pipelined``)."""
    return _pipeline(session) is not None


def _pipeline(session: Session) -> Pipeline | None:
    return session.info.get(_PIPELINE)  # type: ignore[no-any-return]


def send_text(session: Session, query: bytes, params: Sequence[Any]) -> None:
    """On PostgreSQL, a statement written with ``%s`` placeholders: inside ``pipelined``,
    queued there (its error raised as the round trip ends), else run at once."""
    _in_round_trip(session, lambda pipeline: pipeline.send(positional(query)[0], params))


def _in_round_trip(session: Session, send: Callable[[Pipeline], Queued]) -> Queued:
    """``send`` on the session's open pipeline, or on a pipeline of its own (a round trip now).
    An open one was entered through ``pipelined``, which flushed the session then. Entering
    ``pipelined`` again for each statement queued (about forty times a one-trip request)
    cost 4 % of the request's instructions (``bench.instructions --singles``)."""
    outer = _pipeline(session)
    if outer is not None:
        _send_settings(session, outer)
        return send(outer)
    with pipelined(session):
        return send(_pipeline(session))  # type: ignore[arg-type]


def _as_sqlalchemy(error: psycopg.Error, dialect: Dialect) -> DBAPIError:
    return DBAPIError.instance(None, None, error, psycopg.Error, dialect=dialect)


@contextlib.contextmanager
def driver_cursor(session: Session) -> Iterator[Any]:
    """A psycopg cursor on the session's own connection (its pending ORM work flushed). A
    database error leaves it as SQLAlchemy's would (``IntegrityError``, ``OperationalError``
    with the driver's error as ``orig``), so callers handle both paths alike."""
    if _pipeline(session) is not None:
        raise RuntimeError("a psycopg cursor cannot run while the session's pipeline is open")
    session.flush()
    connection = _connection(session)
    with connection.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
        try:
            yield cursor
        except psycopg.Error as error:
            raise _as_sqlalchemy(error, connection.dialect) from error


def array_literal(values: Iterable[str | int | dt.date]) -> str:
    """A PostgreSQL array literal (``{"a","b"}``) of strings, integers or dates, for a text
    parameter cast to the array type. psycopg adapts a list element by element in Python,
    about eight times the cost of this for a thousand ids."""
    values = list(values)
    try:
        joined = '","'.join(values)  # type: ignore[arg-type]
    except TypeError:
        pass  # not all strings
    else:
        # Ids hold no quote or backslash: then nothing needs escaping, and one join will do.
        if values and joined.count('"') == 2 * (len(values) - 1) and "\\" not in joined:
            return '{"' + joined + '"}'
    parts = []
    for value in values:
        if isinstance(value, str):
            parts.append('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"')
        elif isinstance(value, int) and not isinstance(value, bool):
            parts.append(str(value))
        elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            parts.append(value.isoformat())
        else:
            raise TypeError(f"no array literal for {type(value).__name__}")
    return "{" + ",".join(parts) + "}"
