"""psycopg's placeholders turned into PostgreSQL's own (``pipeline.positional``)."""

from service.persistence.pipeline import positional


def test_named_placeholders_take_one_number_each_however_often_they_appear():
    query = b"SELECT %(a)s::int WHERE %(b)s::text = %(a)s::text"
    assert positional(query) == (b"SELECT $1::int WHERE $2::text = $1::text", ("a", "b"))


def test_unnamed_placeholders_are_numbered_in_order():
    assert positional(b"SELECT %s::text[], %s::int[]") == (
        b"SELECT $1::text[], $2::int[]",
        (0, 1),
    )


def test_an_escaped_percent_is_a_percent_again():
    assert positional(b"SELECT 'a%%' LIKE %(p)s") == (b"SELECT 'a%' LIKE $1", ("p",))


def test_a_query_without_placeholders_is_unchanged():
    assert positional(b"COMMIT") == (b"COMMIT", ())
