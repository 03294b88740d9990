"""``FlatLoader`` takes a shortcut for plain floats and strings; it must agree with the schema."""

from urllib.parse import parse_qsl

import marshmallow as ma
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.api.parking import ParkingQuerySchema
from service.api.schemas import FlatLoader, query_pairs

SCHEMA = ParkingQuerySchema()
LOADER = FlatLoader(SCHEMA)

QUERIES = [
    {"lat": "31.2", "lng": "121.4"},
    {"lat": "31.2", "lng": "121.4", "accuracy_m": "8", "vehicle_type": "bike"},
    {"lat": "-90", "lng": "180"},
    {"lat": "90.0001", "lng": "0"},
    {"lat": "nan", "lng": "0"},
    {"lat": "inf", "lng": "0"},
    {"lat": "1e400", "lng": "0"},
    {"lat": "abc", "lng": ""},
    {"lat": " 12 ", "lng": "1_0"},
    {"lat": "0", "lng": "0", "accuracy_m": "-1"},
    {"lat": "0", "lng": "0", "vehicle_type": "x" * 65},
    {"lng": "0"},
]


@pytest.mark.parametrize("query", QUERIES)
def test_the_shortcut_answers_as_the_schema_does(query):
    try:
        expected = SCHEMA.load(query)
    except ma.ValidationError as exc:
        with pytest.raises(ma.ValidationError) as raised:
            LOADER.load(query)
        assert raised.value.messages == exc.messages
    else:
        assert LOADER.load(query) == {"vehicle_type": None, "accuracy_m": 0.0, **expected}


QUERY_TEXT = st.text(alphabet="ab=&%+20x\u00e9", max_size=24)


@given(QUERY_TEXT)
def test_query_pairs_read_a_query_as_parse_qsl_does(text):
    # The WSGI environ holds the query as latin-1 decoded bytes of the URL.
    query_string = text.encode("utf-8").decode("latin-1")
    assert query_pairs(query_string) == dict(parse_qsl(text))
