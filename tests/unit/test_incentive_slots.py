"""Incentive-map slots: ``slot_of`` and the batch path's ``slots_of`` give the UTC quarter hour
a moment falls in (the calendar rule, written out here), whatever the moments' zones, and on
the slots' edges."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from service.usecases.rebalancing import slot_of, slots_of

ZONES = st.sampled_from([
    dt.UTC,
    dt.timezone(dt.timedelta(hours=8)),
    dt.timezone(dt.timedelta(hours=-5, minutes=-30)),
])  # fmt: skip
MOMENTS = st.builds(
    lambda naive, zone: naive.replace(tzinfo=dt.UTC).astimezone(zone),
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1)),
    ZONES,
)


def quarter_hour(moment: dt.datetime) -> dt.datetime:
    utc = moment.astimezone(dt.UTC)
    return utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)


@given(st.lists(MOMENTS, max_size=30))
def test_the_distinct_slots_of_many_moments_are_those_of_each_in_order(moments):
    assert [slot_of(m) for m in moments] == [quarter_hour(m) for m in moments]
    assert slots_of(moments) == sorted({quarter_hour(m) for m in moments})


def test_a_slot_starts_on_its_quarter_hour_and_takes_in_the_microsecond_before_the_next():
    start = dt.datetime(2026, 12, 5, 9, 15, tzinfo=dt.UTC)
    last = start + dt.timedelta(minutes=15, microseconds=-1)
    in_shanghai = (start + dt.timedelta(minutes=15)).astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert slots_of([last, start, in_shanghai]) == [start, start + dt.timedelta(minutes=15)]
    assert all(s.tzinfo is dt.UTC for s in slots_of([in_shanghai]))
    assert slots_of([]) == []
