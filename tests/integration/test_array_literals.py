"""``bulk.array_literal``: what PostgreSQL reads back from it is exactly what was given."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from service.persistence import bulk
from service.persistence.database import create_database_engine

AWKWARD = ["plain", 'a "quoted" one', "back\\slash", "comma, brace } { and space ", "",
           "NULL", "雨天 bike", "tab\tand\nnewline", "\\\"", "trp_0123456789abcdef"]  # fmt: skip
# Nothing to escape (the one-join path), though much a literal could trip on.
UNQUOTED = ["trp_0123456789abcdef", "comma, brace } { and space ", "", "NULL", "雨天",
            "tab\tand\nnewline", "{}", "'single'"]  # fmt: skip


@pytest.mark.parametrize(
    "given",
    [AWKWARD, UNQUOTED, [""], ["a", 'one " quote'], ['"', '"'], ["trp_1", "trp_2"]],
    ids=["awkward", "unquoted", "one-empty", "one-quote", "only-quotes", "ids"],
)
def test_strings_integers_and_dates_read_back_as_given(postgres_url, given):
    days = [dt.date(2026, 11, 21), dt.date(1999, 1, 1)]
    numbers = [0, -7, 2**40]
    engine = create_database_engine(postgres_url)
    with engine.connect() as session:
        strings = (
            session.execute(
                text("SELECT unnest(CAST(:p AS text[]))"), {"p": bulk.array_literal(given)}
            )
            .scalars()
            .all()
        )
        read_days = (
            session.execute(
                text("SELECT unnest(CAST(:p AS date[]))"), {"p": bulk.array_literal(days)}
            )
            .scalars()
            .all()
        )
        read_numbers = (
            session.execute(
                text("SELECT unnest(CAST(:p AS bigint[]))"), {"p": bulk.array_literal(numbers)}
            )
            .scalars()
            .all()
        )
    engine.dispose()
    assert (strings, read_days, read_numbers) == (given, days, numbers)


def test_other_values_are_refused_rather_than_guessed():
    with pytest.raises(TypeError):
        bulk.array_literal([dt.datetime(2026, 11, 21, tzinfo=dt.UTC)])
    with pytest.raises(TypeError):
        bulk.array_literal([True])
