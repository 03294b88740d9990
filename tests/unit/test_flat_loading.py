"""``load_flat`` takes a shortcut for plain floats and strings; it must agree with the schema."""

import marshmallow as ma
import pytest

from service.api.parking import ParkingQuerySchema
from service.api.schemas import load_flat

SCHEMA = ParkingQuerySchema()

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
            load_flat(SCHEMA, query)
        assert raised.value.messages == exc.messages
    else:
        assert load_flat(SCHEMA, query) == {"vehicle_type": None, "accuracy_m": 0.0, **expected}
