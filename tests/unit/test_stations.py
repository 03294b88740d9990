import csv
import itertools
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import pytest

import methodologies
from methodologies.stations import (
    NoRoute,
    StationNetwork,
    StationPath,
    StationTableError,
    UnknownStation,
    great_circle_km,
)

SHANGHAI = Path(methodologies.__file__).parent / "data" / "stations" / "shanghai.csv"

HEADER = ["line_id", "seq", "station_id", "name", "lat", "lng", "km_to_next"]

# A small synthetic network, distances chosen so every expected metre can be added up by hand.
#
#   line A:  west -1.000- hub -2.500- east -3.000- far_east
#   line B:  north -1.200- hub -0.800- south -1.100- far_east
#
# hub and far_east are interchanges. The header is line 1 of the file, so the rows below are
# lines 2 to 9.
ROWS = [
    ["A", "1", "west", "West", "31.2000", "121.4000", "1.000"],  # line 2
    ["A", "2", "hub", "Hub", "31.2000", "121.4100", "2.500"],  # line 3
    ["A", "3", "east", "East", "31.2000", "121.4300", "3.000"],  # line 4
    ["A", "4", "far_east", "Far East", "31.2000", "121.4600", ""],  # line 5
    ["B", "1", "north", "North", "31.2100", "121.4100", "1.200"],  # line 6
    ["B", "2", "hub", "Hub", "31.2000", "121.4100", "0.800"],  # line 7
    ["B", "3", "south", "South", "31.1930", "121.4100", "1.100"],  # line 8
    ["B", "4", "far_east", "Far East", "31.2000", "121.4600", ""],  # line 9
]


def write_table(path, rows, header=HEADER):
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def as_dicts(rows, header=HEADER):
    return [dict(zip(header, row, strict=True)) for row in rows]


@pytest.fixture
def network(tmp_path):
    return StationNetwork.from_csv(write_table(tmp_path / "synthetic.csv", ROWS))


def test_a_trip_on_one_line_adds_its_segments(network):
    assert network.path("west", "east") == StationPath(
        entry="west",
        exit="east",
        distance_m=3500,  # 1.000 + 2.500 km
        stations=("west", "hub", "east"),
        lines=("A",),
    )


def test_a_transfer_at_an_interchange_costs_nothing(network):
    assert network.path("north", "east") == StationPath(
        entry="north",
        exit="east",
        distance_m=3700,  # 1.200 on B, then 2.500 on A
        stations=("north", "hub", "east"),
        lines=("B", "A"),
    )


def test_a_transfer_is_taken_when_it_is_shorter_than_staying_on_the_line(network):
    # Staying on A would be 1.000 + 2.500 + 3.000 = 6.500 km.
    route = network.path("west", "far_east")
    assert route.distance_m == 2900  # 1.000 on A, then 0.800 + 1.100 on B
    assert route.stations == ("west", "hub", "south", "far_east")
    assert route.lines == ("A", "B")


def test_the_route_is_the_same_both_ways(network):
    there = network.path("west", "far_east")
    back = network.path("far_east", "west")
    assert back.distance_m == there.distance_m
    assert back.stations == tuple(reversed(there.stations))
    assert back.lines == ("B", "A")


def test_entry_equal_to_exit_is_zero_metres_at_one_station(network):
    assert network.path("hub", "hub") == StationPath(
        entry="hub", exit="hub", distance_m=0, stations=("hub",), lines=()
    )


def test_stations_are_found_by_id_or_exact_name(network):
    by_name = network.path("West", "Far East")
    assert by_name == network.path("west", "far_east")
    assert by_name.entry == "west"
    assert by_name.exit == "far_east"
    assert network.path("North", "east").distance_m == 3700


def test_an_unknown_station_is_named(network):
    with pytest.raises(UnknownStation, match="Nowhere") as excinfo:
        network.path("west", "Nowhere")
    assert excinfo.value.station == "Nowhere"
    assert isinstance(excinfo.value, KeyError)


def test_a_name_must_match_exactly(network):
    with pytest.raises(UnknownStation, match="far east"):
        network.path("west", "far east")


def test_a_name_shared_by_two_stations_asks_for_the_id():
    rows = [
        ["A", "1", "park_a", "Park", "31.2000", "121.4000", "1.000"],
        ["A", "2", "park_b", "Park", "31.2100", "121.4000", ""],
    ]
    network = StationNetwork.from_rows(as_dicts(rows))
    with pytest.raises(UnknownStation, match="park_a, park_b"):
        network.path("Park", "park_b")
    assert network.path("park_a", "park_b").distance_m == 1000


def test_the_stations_mapping_has_names_coordinates_and_lines(network):
    hub = network.stations["hub"]
    assert (hub.name, hub.lat, hub.lng, hub.lines) == ("Hub", 31.2, 121.41, ("A", "B"))
    assert set(network.stations) == {"west", "hub", "east", "far_east", "north", "south"}
    with pytest.raises(TypeError):
        network.stations["x"] = hub


def test_distance_is_rounded_down_to_whole_metres():
    rows = [
        ["A", "1", "p", "P", "31.2000", "121.4000", "1.2345"],
        ["A", "2", "q", "Q", "31.2100", "121.4000", "0.0009"],
        ["A", "3", "r", "R", "31.2100", "121.4000", ""],
    ]
    network = StationNetwork.from_rows(as_dicts(rows))
    assert network.path("p", "q").distance_m == 1234
    assert network.path("q", "r").distance_m == 0
    # The exact total (1.2354 km) is rounded once, not each segment.
    assert network.path("p", "r").distance_m == 1235


def test_distances_are_summed_exactly_not_in_float():
    # In float, 0.7 + 0.1 is 0.7999999999999999 and would round down to 799 m.
    rows = [
        ["A", "1", "p", "P", "31.2000", "121.4000", "0.7"],
        ["A", "2", "q", "Q", "31.2060", "121.4000", "0.1"],
        ["A", "3", "r", "R", "31.2070", "121.4000", ""],
    ]
    assert StationNetwork.from_rows(as_dicts(rows)).path("p", "r").distance_m == 800


def test_lines_sharing_track_are_named_with_the_fewest_changes():
    rows = [
        ["X", "1", "p", "P", "31.2000", "121.4000", "1.000"],
        ["X", "2", "q", "Q", "31.2100", "121.4000", "2.000"],
        ["X", "3", "r", "R", "31.2200", "121.4000", ""],
        ["Y", "1", "q", "Q", "31.2100", "121.4000", "2.000"],
        ["Y", "2", "r", "R", "31.2200", "121.4000", "3.000"],
        ["Y", "3", "s", "S", "31.2300", "121.4000", ""],
    ]
    network = StationNetwork.from_rows(as_dicts(rows))
    assert network.path("q", "s").lines == ("Y",)
    assert network.path("p", "r").lines == ("X",)
    assert network.path("p", "s").lines == ("X", "Y")
    assert network.path("p", "s").distance_m == 6000


def test_rows_may_come_in_any_order(network):
    shuffled = StationNetwork.from_rows(as_dicts(list(reversed(ROWS))))
    assert shuffled.path("west", "far_east") == network.path("west", "far_east")


def test_stations_on_unconnected_lines_have_no_route():
    rows = [
        ["A", "1", "p", "P", "31.2000", "121.4000", "1.000"],
        ["A", "2", "q", "Q", "31.2100", "121.4000", ""],
        ["B", "1", "r", "R", "31.3000", "121.4000", "1.000"],
        ["B", "2", "s", "S", "31.3100", "121.4000", ""],
    ]
    with pytest.raises(NoRoute, match="'p' and 's'"):
        StationNetwork.from_rows(as_dicts(rows)).path("p", "s")


def replace(line, column, value):
    """ROWS with one cell changed; `line` is the file line (ROWS[0] is line 2)."""
    rows = [list(row) for row in ROWS]
    rows[line - 2][HEADER.index(column)] = value
    return rows


BAD_ROWS = {
    "non-numeric distance": (replace(3, "km_to_next", "2.5km"), 3, "km_to_next"),
    "negative distance": (replace(2, "km_to_next", "-1.000"), 2, "km_to_next"),
    "zero distance": (replace(6, "km_to_next", "0.000"), 6, "km_to_next"),
    "not-a-number distance": (replace(6, "km_to_next", "NaN"), 6, "km_to_next"),
    "duplicate line and seq": (replace(4, "seq", "2"), 4, "seq"),
    "gap in seq": (replace(5, "seq", "5"), 5, "seq"),
    "seq not a whole number": (replace(4, "seq", "3.0"), 4, "seq"),
    "distance on the last station": (replace(5, "km_to_next", "0.500"), 5, "km_to_next"),
    "no distance before the last station": (replace(7, "km_to_next", ""), 7, "km_to_next"),
    "interchange 445 m away on another line": (replace(7, "lat", "31.2040"), 7, "lat/lng"),
    "interchange named differently": (replace(7, "name", "Hub Central"), 7, "name"),
    "non-numeric latitude": (replace(8, "lat", "north"), 8, "lat"),
    "longitude out of range": (replace(8, "lng", "221.41"), 8, "lng"),
    "empty station id": (replace(4, "station_id", ""), 4, "station_id"),
    "station following itself": (
        [ROWS[0], ["A", "2", "west", "West", "31.2000", "121.4000", "2.500"], *ROWS[2:]],
        3,
        "station_id",
    ),
    "short row": ([*ROWS[:2], ROWS[2][:6], *ROWS[3:]], 4, "km_to_next"),
    "long row": ([*ROWS[:2], [*ROWS[2], "x"], *ROWS[3:]], 4, "#8"),
}


@pytest.mark.parametrize("rows, line, column", BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_a_bad_row_names_the_file_the_line_and_the_column(tmp_path, rows, line, column):
    path = write_table(tmp_path / "operator.csv", rows)
    with pytest.raises(StationTableError) as excinfo:
        StationNetwork.from_csv(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}: line {line}, column '{column}': "), message
    assert (excinfo.value.source, excinfo.value.line, excinfo.value.column) == (
        str(path),
        line,
        column,
    )


def test_a_missing_column_in_the_header_is_named(tmp_path):
    header = HEADER[:-1]
    path = write_table(tmp_path / "operator.csv", [row[:-1] for row in ROWS], header=header)
    with pytest.raises(StationTableError, match=r"line 1, column 'km_to_next': missing column"):
        StationNetwork.from_csv(path)


def test_a_row_missing_a_column_is_named():
    rows = as_dicts(ROWS)
    del rows[3]["lng"]
    with pytest.raises(StationTableError) as excinfo:
        StationNetwork.from_rows(rows, source="operator feed")
    assert str(excinfo.value) == "operator feed: line 5, column 'lng': missing column"


def test_an_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(StationTableError, match=r"empty\.csv: line 1"):
        StationNetwork.from_csv(path)


def test_a_header_without_rows_is_refused(tmp_path):
    with pytest.raises(StationTableError, match="no stations"):
        StationNetwork.from_csv(write_table(tmp_path / "header_only.csv", []))


def test_interchange_platforms_within_300_m_are_one_station(tmp_path):
    rows = replace(7, "lat", "31.2020")  # about 222 m north of line A's platform
    network = StationNetwork.from_csv(write_table(tmp_path / "operator.csv", rows))
    assert network.stations["hub"].lat == 31.2  # the first row's position is kept
    assert network.path("west", "far_east").distance_m == 2900


def shanghai_km(line_id, station_id):
    with SHANGHAI.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if (row["line_id"], row["station_id"]) == (line_id, station_id):
                return Decimal(row["km_to_next"])
    raise AssertionError(f"{station_id} not on line {line_id}")


def test_the_shipped_shanghai_table_loads():
    network = StationNetwork.from_csv(SHANGHAI)
    assert len(network.stations) == 15
    assert network.stations["peoples_square"].name == "People's Square"
    assert network.stations["peoples_square"].lines == ("1", "2")


def test_peoples_square_to_lujiazui_rides_line_2_only():
    route = StationNetwork.from_csv(SHANGHAI).path("People's Square", "Lujiazui")
    assert route.lines == ("2",)
    assert route.stations == ("peoples_square", "east_nanjing_road", "lujiazui")
    km = shanghai_km("2", "peoples_square") + shanghai_km("2", "east_nanjing_road")
    assert route.distance_m == int((km * 1000).to_integral_value(rounding=ROUND_FLOOR))


def test_shanghai_railway_station_to_lujiazui_changes_at_peoples_square():
    route = StationNetwork.from_csv(SHANGHAI).path("shanghai_railway_station", "lujiazui")
    assert route.lines == ("1", "2")
    assert route.stations[3] == "peoples_square"


def test_shanghai_distances_follow_the_documented_derivation():
    # README: great-circle distance between the coordinates, times 1.05, to 3 decimals.
    with SHANGHAI.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    checked = 0
    for here, there in itertools.pairwise(rows):
        if here["line_id"] != there["line_id"]:
            assert here["km_to_next"] == ""
            continue
        gc = great_circle_km(
            float(here["lat"]), float(here["lng"]), float(there["lat"]), float(there["lng"])
        )
        assert abs(Decimal(here["km_to_next"]) - Decimal(gc * 1.05)) <= Decimal("0.0005")
        checked += 1
    assert rows[-1]["km_to_next"] == ""
    assert checked == 14  # 8 segments on Line 1, 6 on Line 2
