"""Many rows in few statements: PostgreSQL COPY where the rows are new, one UPDATE over
``unnest`` arrays where counters move; plain multi-row statements on SQLite.

SQLAlchemy's executemany processes every parameter of every row in Python (type processors,
JSON encoding), which costs more than the database's own work for a thousand-trip batch. On
PostgreSQL these helpers hand rows to psycopg's COPY instead; values must already be what the
column stores (aware datetimes, JSON as dicts or lists).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import operator
from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import postgres, sql
from psycopg.adapt import Buffer, Dumper
from psycopg.errors import UniqueViolation
from psycopg.pq import Format
from sqlalchemy import Table, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.persistence import direct
from service.persistence.database import json_bytes
from service.persistence.direct import array_literal, driver_cursor, is_postgres
from service.persistence.models import with_zone

# Up to this many rows a multi-row INSERT costs fewer round trips than COPY (and a savepoint).
FEW_ROWS = 50


def insert_for(session: Session, table: Table) -> Any:
    """An INSERT in the session's dialect, so that ON CONFLICT clauses can be added to it (both
    PostgreSQL and SQLite have them, with the same shape)."""
    return (postgresql if is_postgres(session) else sqlite).insert(table)


def _names(columns: Sequence[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)


class _JsonDumper(Dumper):
    """A JSON column's dict or list as orjson's UTF-8 (JSON's binary form is its text),
    handed to COPY as it is. Registered on the COPY's cursor only."""

    oid = postgres.types["json"].oid
    format = Format.BINARY

    def dump(self, obj: Any) -> Buffer | None:
        return json_bytes(obj)


def _copy(
    cursor: Any,
    target: str,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """COPY the rows' ``columns`` into ``target`` in COPY's binary format. Every dict and list
    goes as JSON: the service's JSON columns hold nothing else (their models say so), and no
    other column takes either.

    Binary, because text cost both sides more for the same rows: psycopg wrote each float,
    integer and timestamp as text and escaped every string, and PostgreSQL parsed them back.
    Three 1000-trip batches ran 2,011 million instructions in the service's process with text,
    1,798 million with binary (``bench.instructions``). Each value is dumped for its column's
    type, so an integer goes as ``integer`` or ``bigint`` as the column is. A timestamp without
    a zone is refused, as ``UtcDateTime`` refuses it elsewhere."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(target), _names(columns)
    )
    values_of = operator.itemgetter(*columns)
    types = _column_types(cursor, table.name, columns)
    for container in (dict, list):
        cursor.adapters.register_dumper(container, _JsonDumper)
    try:
        with cursor.copy(statement) as copy:
            copy.set_types(types)
            if len(columns) > 1:
                for row in rows:
                    copy.write_row(values_of(row))
            else:
                for row in rows:
                    copy.write_row((values_of(row),))
    except TypeError:
        # psycopg's own words for a timestamp without a zone are about subtracting them: refuse
        # it as ``UtcDateTime`` does.
        for row in rows:
            for column in columns:
                if isinstance(value := row[column], dt.datetime):
                    with_zone(value)
        raise


# Object ids below this are PostgreSQL's own, the same in every database.
_FIRST_NORMAL_OID = 16384
_BUILT_IN_TYPES: dict[tuple[str, tuple[str, ...]], list[int]] = {}


def _column_types(cursor: Any, table: str, columns: Sequence[str]) -> list[int]:
    """The type of each of ``table``'s ``columns``, as binary COPY needs them, from the
    catalogue; kept for the process when all are built-in types."""
    key = (table, tuple(columns))
    found = _BUILT_IN_TYPES.get(key)
    if found is not None:
        return found
    cursor.execute(
        "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass "
        "AND attnum > 0 AND NOT attisdropped",
        (table,),
    )
    oids = dict(cursor.fetchall())
    found = [int(oids[c]) for c in columns]
    if max(found) < _FIRST_NORMAL_OID:
        _BUILT_IN_TYPES[key] = found
    return found


def writes_together(session: Session, rows: int) -> contextlib.AbstractContextManager[None]:
    """Around statements that write ``rows`` rows in all: when they are few, one pipeline
    (their round trips cost more than they do); when many, nothing (COPY, their cheaper path,
    cannot run in a pipeline). Only statements of this module and ``direct`` go inside."""
    return direct.pipelined(session) if rows <= FEW_ROWS else contextlib.nullcontext()


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert new rows (any conflict is an error)."""
    if not rows:
        return
    # No COPY in a pipeline.
    if not is_postgres(session) or len(rows) <= FEW_ROWS or direct.pipelining(session):
        direct.insert(session, table, rows)
        return
    with driver_cursor(session) as cursor:
        _copy(cursor, table.name, table, list(rows[0]), rows)


def insert_missing(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]], key: str
) -> set[Any]:
    """Insert the rows whose keys are not taken yet (in key order); returns the keys inserted.

    On PostgreSQL the rows are copied straight in under a savepoint, the common case when the
    caller has looked for them already; only if one was stored meanwhile (a unique violation)
    are they copied into a staging table and inserted from there with ON CONFLICT DO NOTHING.
    """
    if not rows:
        return set()
    ordered = sorted(rows, key=lambda r: r[key])
    columns = list(ordered[0])
    # No COPY in a pipeline.
    if not is_postgres(session) or len(rows) <= FEW_ROWS or direct.pipelining(session):
        return direct.insert_new(session, table, ordered, key)
    with driver_cursor(session) as cursor:
        # A savepoint by name: psycopg's ``transaction()`` on a connection that has not run
        # a statement yet would open and commit a transaction of its own, apart from the
        # session's (the first statement opens the session's).
        cursor.execute("SAVEPOINT insert_missing")
        try:
            _copy(cursor, table.name, table, columns, ordered)
        except UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT insert_missing")
            return _insert_staged(cursor, table, columns, ordered, key)
        cursor.execute("RELEASE SAVEPOINT insert_missing")
        return {row[key] for row in ordered}


def _insert_staged(
    cursor: Any, table: Table, columns: list[str], rows: Sequence[Mapping[str, Any]], key: str
) -> set[Any]:
    stage = f"staged_{table.name}"
    cursor.execute(
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        ).format(sql.Identifier(stage), sql.Identifier(table.name))
    )
    cursor.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(stage)))
    _copy(cursor, stage, table, columns, rows)
    cursor.execute(
        sql.SQL(
            "INSERT INTO {table} ({names}) SELECT {names} FROM {stage} ORDER BY {key} "
            "ON CONFLICT DO NOTHING RETURNING {key}"
        ).format(
            table=sql.Identifier(table.name),
            names=_names(columns),
            stage=sql.Identifier(stage),
            key=sql.Identifier(key),
        )
    )
    return {row[0] for row in cursor.fetchall()}


def add_to(
    session: Session, table: Table, key: str, column: str, deltas: Mapping[Any, int]
) -> None:
    """``column += delta`` for the row of each key, in one statement on PostgreSQL."""
    if not deltas:
        return
    keys = sorted(deltas)
    if not is_postgres(session):
        session.flush()
        session.connection().execute(
            update(table)
            .where(table.c[key] == bindparam("k"))
            .values({column: table.c[column] + bindparam("d")}),
            [{"k": k, "d": deltas[k]} for k in keys],
        )
        return
    direct.send_text(
        session,
        _add_to_statement(table.name, column, key),
        (array_literal(keys), array_literal(deltas[k] for k in keys)),
    )


@functools.lru_cache(maxsize=64)
def _add_to_statement(table: str, column: str, key: str) -> bytes:
    """``add_to``'s text, composed once per target (composing and quoting it each time
    cost about 20 microseconds, and a one-trip request runs it)."""
    return (
        sql.SQL(
            "UPDATE {table} AS t SET {column} = t.{column} + d.delta "
            "FROM unnest(%s::text[], %s::bigint[]) AS d(key, delta) WHERE t.{key} = d.key"
        )
        .format(table=sql.Identifier(table), column=sql.Identifier(column), key=sql.Identifier(key))
        .as_bytes(None)
    )


def put_totals(
    session: Session,
    table: Table,
    keys: tuple[str, str],
    column: str,
    totals: Mapping[tuple[Any, Any], int],
    key_types: tuple[str, str],
) -> None:
    """Set ``column`` to the given total for each two-part key, inserting rows that are new."""
    if not totals:
        return
    ordered = sorted(totals)
    if not is_postgres(session):
        session.flush()
        statement = sqlite.insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=list(keys), set_={column: statement.excluded[column]}
        )
        rows = [{keys[0]: a, keys[1]: b, column: totals[(a, b)]} for a, b in ordered]
        session.connection().execute(statement, rows)
        return
    direct.send_text(
        session,
        _put_totals_statement(table.name, keys, column, key_types),
        (
            array_literal(a for a, _ in ordered),
            array_literal(b for _, b in ordered),
            array_literal(totals[k] for k in ordered),
        ),
    )


@functools.lru_cache(maxsize=64)
def _put_totals_statement(
    table: str, keys: tuple[str, str], column: str, key_types: tuple[str, str]
) -> bytes:
    """``put_totals``'s text, composed once per target, as ``_add_to_statement``."""
    return (
        sql.SQL(
            "INSERT INTO {table} ({a}, {b}, {column}) "
            "SELECT * FROM unnest(%s::{ta}[], %s::{tb}[], %s::bigint[]) "
            "ON CONFLICT ({a}, {b}) DO UPDATE SET {column} = EXCLUDED.{column}"
        )
        .format(
            table=sql.Identifier(table),
            a=sql.Identifier(keys[0]),
            b=sql.Identifier(keys[1]),
            column=sql.Identifier(column),
            ta=sql.SQL(key_types[0]),
            tb=sql.SQL(key_types[1]),
        )
        .as_bytes(None)
    )
