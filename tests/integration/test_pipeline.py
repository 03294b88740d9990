"""Statements queued on libpq's pipeline without psycopg's cursors (``persistence.pipeline``):
answers as a cursor gives them, errors as psycopg raises them, each statement prepared once
per connection, and a connection left usable whatever happened."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors
from sqlalchemy.engine import make_url

from service.persistence import pipeline as pipeline_module
from service.persistence.pipeline import Pipeline

MOMENT = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
INSERT = b"INSERT INTO notes (id, body, at) VALUES ($1, $2, $3)"
SELECT = b"SELECT id, body, at, ARRAY[id, id + 1] FROM notes WHERE id = ANY($1::int[]) ORDER BY id"


@pytest.fixture
def connection(postgres_url: str) -> Iterator[psycopg.Connection]:
    url = make_url(postgres_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False),
                         prepare_threshold=None) as connection:  # fmt: skip
        connection.execute("CREATE TABLE notes (id int PRIMARY KEY, body json, at timestamptz)")
        connection.commit()
        yield connection


def _prepared(connection: psycopg.Connection) -> list[str]:
    return [row[0] for row in connection.execute(
        "SELECT statement FROM pg_prepared_statements ORDER BY statement"
    )]  # fmt: skip


def test_answers_are_read_as_a_cursor_reads_them(connection):
    with Pipeline(connection) as pipeline:
        pipeline.send(b"BEGIN", prepare=False)
        pipeline.send(INSERT, [1, psycopg.types.json.Json({"a": [1, "二"]}), MOMENT])
        pipeline.send(INSERT, [2, psycopg.types.json.Json([]), None])
        answer = pipeline.send(SELECT, ["{1,2}"])
        pipeline.send(b"COMMIT", prepare=False)
    assert answer.rows() == [(1, {"a": [1, "二"]}, MOMENT, [1, 2]), (2, [], None, [2, 3])]
    assert [column.name for column in answer.columns()] == ["id", "body", "at", "array"]
    cursor_rows = connection.execute(SELECT.replace(b"$1", b"%s"), ["{1,2}"]).fetchall()
    assert answer.rows() == cursor_rows


def test_an_answer_read_before_the_round_trip_ends_sees_everything_sent_before_it(connection):
    with Pipeline(connection) as pipeline:
        pipeline.send(INSERT, [1, None, MOMENT])
        first = pipeline.send(SELECT, ["{1,2}"]).rows()
        pipeline.send(INSERT, [2, None, MOMENT])
        second = pipeline.send(SELECT, ["{1,2}"])
    assert [row[0] for row in first] == [1]
    assert [row[0] for row in second.rows()] == [1, 2]


def test_the_first_error_is_raised_when_the_round_trip_ends_and_the_rest_is_not_run(connection):
    connection.execute("INSERT INTO notes (id) VALUES (1)")
    connection.commit()
    with pytest.raises(errors.UniqueViolation), Pipeline(connection) as pipeline:
        pipeline.send(b"BEGIN", prepare=False)
        pipeline.send(INSERT, [2, None, MOMENT])
        taken = pipeline.send(INSERT, [1, None, MOMENT])
        after = pipeline.send(INSERT, [3, None, MOMENT])
        pipeline.send(b"COMMIT", prepare=False)
    with pytest.raises(errors.UniqueViolation):
        taken.rows()
    with pytest.raises(errors.UniqueViolation):  # not run: it answers with what stopped it
        after.rows()
    connection.rollback()  # the transaction failed: the connection is usable again after it
    assert connection.execute("SELECT array_agg(id) FROM notes").fetchone() == ([1],)


def test_an_error_in_the_caller_still_ends_the_round_trip(connection):
    with pytest.raises(ZeroDivisionError), Pipeline(connection) as pipeline:
        pipeline.send(INSERT, [1, None, MOMENT])
        raise ZeroDivisionError
    assert connection.pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF
    assert connection.execute("SELECT count(*) FROM notes").fetchone() == (1,)


def test_a_statement_is_prepared_once_per_connection_and_outlives_a_rollback(connection):
    for attempt in range(3):
        with Pipeline(connection) as pipeline:
            pipeline.send(b"BEGIN", prepare=False)
            pipeline.send(INSERT, [attempt, None, MOMENT])
            pipeline.send(SELECT, ["{1}"])
        connection.rollback()  # psycopg's rollback: it prepared nothing, so it frees nothing
    assert _prepared(connection) == [INSERT.decode(), SELECT.decode()]
    with Pipeline(connection) as pipeline:
        answer = pipeline.send(SELECT, ["{0}"], prepare=False)  # a run planned for its values
    assert answer.rows() == []
    assert len(_prepared(connection)) == 2


def test_a_statement_that_fails_to_prepare_is_not_taken_for_prepared(connection):
    for _ in range(2):  # the second time prepares it again and fails the same way
        with pytest.raises(errors.UndefinedTable), Pipeline(connection) as pipeline:
            pipeline.send(b"SELECT id FROM missing WHERE id = $1", [1])
    assert _prepared(connection) == []


def test_past_the_cap_statements_go_unprepared(connection, monkeypatch):
    monkeypatch.setattr(pipeline_module, "MAX_PREPARED", 1)
    with Pipeline(connection) as pipeline:
        pipeline.send(INSERT, [1, None, MOMENT])
        answer = pipeline.send(SELECT, ["{1}"])
    assert [row[0] for row in answer.rows()] == [1]
    assert _prepared(connection) == [INSERT.decode()]
