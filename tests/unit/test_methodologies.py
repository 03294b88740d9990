"""The published figures (METHODOLOGIES.md) as worked examples, and the loader's strictness."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import pytest

from methodologies.calculate import NoQuantity, TripFacts, calculate
from methodologies.cities import load_cities
from methodologies.distance import (
    DETOUR_RULES,
    MIN_RATIO,
    DistanceRejected,
    judge_distance,
    plausible_band,
)
from methodologies.loader import MethodologyError, load_directory
from methodologies.registry import SHIPPED, NoMethodology, Registry

DAY = dt.date(2026, 11, 2)
REGISTRY = Registry.shipped()
CITIES = load_cities()


def co2(city, mode, **facts):
    return calculate(REGISTRY, CITIES[city], TripFacts(mode=mode, local_date=DAY, **facts))


def test_shared_bike_5km_in_a_metro_city_is_243_g():
    result = co2("metro_city", "bike", distance_m=5000)
    assert result.co2_g == 243  # 48.65 x 5 = 243.25
    assert result.receipt["exact_g"] == "243.25"
    assert result.receipt["formula"] == "48.65 g/pkm x 5 pkm = 243.25 g"
    assert result.receipt["methodology"]["id"] == "mt-bike-2022-metro-city"


def test_shared_bike_5km_co_pollutants():
    result = co2("metro_city", "bike", distance_m=5000)
    # CO 1.28 g, HC 0.11 g, NOx 0.095 g, PM 0.035 g
    assert result.pollutants_mg == {"co": 1280, "hc": 110, "nox": 95, "pm": 35}


def test_shared_ebike_4_2km_in_a_no_metro_city_is_249_g():
    result = co2("no_metro_city", "ebike", distance_m=4200)
    assert result.co2_g == 249  # (66.32 - 7.02) x 4.2 = 249.06
    assert result.receipt["formula"] == "(66.32 - 7.02) g/pkm x 4.2 pkm = 249.06 g"
    assert result.receipt["factors"]["baseline_g"] == "66.32"


def test_one_shanghai_bus_ride_is_422_g():
    result = co2("shanghai", "bus")
    assert result.co2_g == 422
    assert result.receipt["quantity"] == {"value": "1", "unit": "ride", "basis": "per_ride",
                                          "inputs": {}}  # fmt: skip


def test_12_3km_on_shanghai_rail_is_1193_g():
    assert co2("shanghai", "metro", distance_m=12300).co2_g == 1193  # 97 x 12.3 = 1193.1


def test_shenzhen_metro_10km_is_468_g():
    assert co2("shenzhen", "metro", distance_m=10000).co2_g == 468  # 46.8 x 10


def test_shanghai_cycling_uses_the_city_factor():
    assert co2("shanghai", "bike", distance_m=2350).co2_g == 230  # 98 x 2.35 = 230.3


def test_rounding_is_down_once_at_the_end():
    # 48.65 g x 0.999 km = 48.60135 g: rounded once, down, to 48 (not per step).
    assert co2("metro_city", "bike", distance_m=999).co2_g == 48


def test_receipt_names_source_inputs_and_rule():
    receipt = co2("shanghai", "metro", distance_m=12300, straight_line_m=9000).receipt
    assert receipt["methodology"]["version"] == 1
    assert "上海碳普惠平台" in receipt["methodology"]["source"]
    assert receipt["quantity"]["inputs"]["straight_line_m"] == 9000
    assert receipt["quantity"]["basis"] == "reported"
    assert receipt["rounding"].startswith("down to the whole gram")
    assert (receipt["city"], receipt["mode"], receipt["trip_date"]) == (
        "shanghai", "metro", "2026-11-02"
    )  # fmt: skip


def test_modes_a_city_does_not_credit():
    with pytest.raises(NoMethodology) as caught:
        co2("metro_city", "metro", distance_m=1000)
    assert caught.value.reason == "no_methodology_for_mode"


def test_every_published_row_is_shipped():
    shipped = {(m.id, m.mode, m.unit, m.factors.reduction) for m in REGISTRY.all()}
    assert shipped == {
        ("sh-rail-2025", "metro", "g_per_pkm", Decimal("97")),
        ("sh-bus-2025", "bus", "g_per_ride", Decimal("422")),
        ("sh-cycling-2025", "bike", "g_per_pkm", Decimal("98")),
        ("sz-transit-2021-metro", "metro", "g_per_pkm", Decimal("46.8")),
        ("sz-transit-2021-bus", "bus", "g_per_pkm", Decimal("26.9")),
        ("mt-bike-2022-metro-city", "bike", "g_per_pkm", Decimal("48.65")),
        ("mt-bike-2022-no-metro-city", "bike", "g_per_pkm", Decimal("53.94")),
        ("mt-ebike-2022-metro-city", "ebike", "g_per_pkm", Decimal("54.01")),
        ("mt-ebike-2022-no-metro-city", "ebike", "g_per_pkm", Decimal("59.30")),
    }
    ebike = REGISTRY.get("mt-ebike-2022-no-metro-city", 1)
    assert ebike.pollutants == {
        "co": Decimal("0.373"), "hc": Decimal("0.032"), "nox": Decimal("0.027"),
        "pm": Decimal("0.010"),
    }  # fmt: skip


# -- versions and dates ----------------------------------------------------------------------


def _write(directory: Path, name: str, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")


CYCLING = (SHIPPED / "sh-cycling-2025-v1.toml").read_text(encoding="utf-8")


def test_a_trip_gets_the_version_valid_on_its_date(tmp_path):
    first = CYCLING.replace(
        "valid_from = 2025-01-01", "valid_from = 2025-01-01\nvalid_to = 2026-11-01"
    )
    second = (CYCLING.replace("version = 1", "version = 2")
              .replace("valid_from = 2025-01-01", "valid_from = 2026-11-01")
              .replace("reduction = 98", "reduction = 95"))  # fmt: skip
    _write(tmp_path, "a.toml", first)
    _write(tmp_path, "b.toml", second)
    registry = Registry.from_directories(tmp_path)
    shanghai = CITIES["shanghai"]
    before = calculate(registry, shanghai, TripFacts("bike", dt.date(2026, 10, 31), 1000))
    after = calculate(registry, shanghai, TripFacts("bike", dt.date(2026, 11, 1), 1000))
    assert (before.co2_g, before.methodology.version) == (98, 1)
    assert (after.co2_g, after.methodology.version) == (95, 2)
    with pytest.raises(NoMethodology) as caught:
        calculate(registry, shanghai, TripFacts("bike", dt.date(2024, 12, 31), 1000))
    assert caught.value.reason == "no_methodology_for_date"


def test_a_registry_with_other_factors_under_the_same_version_gets_its_own_receipt(tmp_path):
    # Receipt parts are built once per methodology version and shared; a registry loaded from
    # other files (the same id and version, another factor) must still show its own.
    _write(tmp_path, "a.toml", CYCLING.replace("reduction = 98", "reduction = 95"))
    other = Registry.from_directories(tmp_path)
    shanghai = CITIES["shanghai"]
    facts = TripFacts("bike", DAY, distance_m=2350)
    shipped_first = calculate(REGISTRY, shanghai, facts)
    from_other = calculate(other, shanghai, facts)
    shipped_again = calculate(REGISTRY, shanghai, facts)
    assert shipped_first.receipt["formula"] == "98 g/pkm x 2.35 pkm = 230.3 g"
    assert from_other.receipt["factors"]["reduction_g"] == "95"
    assert from_other.receipt["formula"] == "95 g/pkm x 2.35 pkm = 223.25 g"
    assert from_other.co2_g == 223
    assert shipped_again.receipt == shipped_first.receipt


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("[factors]\nreduction = 98", "[factors]\nreducton = 98"), "factors.reducton"),
        (("reduction = 98", "reduction = -98"), "factors.reduction"),
        (('unit = "g_per_pkm"', 'unit = "g_per_mile"'), "unit"),
        (('mode = "bike"', 'mode = "plane"'), "mode"),
        (('status = "active"', 'status = "retired"'), "valid_to"),
        (("version = 1", "version = 0"), "version"),
        (("id = ", 'colour = "green"\nid = '), "colour"),
        (("citation = ", "cite = "), "source.cite"),
    ],
)
def test_bad_files_are_refused_naming_file_and_field(tmp_path, change, field):
    _write(tmp_path, "broken.toml", CYCLING.replace(*change))
    with pytest.raises(MethodologyError) as caught:
        load_directory(tmp_path)
    assert caught.value.file == "broken.toml"
    assert caught.value.field == field
    assert str(caught.value).startswith(f"broken.toml: {field}:")


def test_overlapping_versions_are_refused(tmp_path):
    _write(tmp_path, "v1.toml", CYCLING)
    _write(tmp_path, "v2.toml", CYCLING.replace("version = 1", "version = 2")
           .replace("valid_from = 2025-01-01", "valid_from = 2026-06-01"))  # fmt: skip
    with pytest.raises(MethodologyError) as caught:
        Registry.from_directories(tmp_path)
    assert (caught.value.file, caught.value.field) == ("v2.toml", "valid_from")
    assert "overlaps sh-cycling-2025@1" in str(caught.value)


def test_baseline_minus_project_must_equal_the_reduction(tmp_path):
    text = (SHIPPED / "mt-ebike-2022-metro-city-v1.toml").read_text(encoding="utf-8")
    _write(tmp_path, "e.toml", text.replace("reduction = 54.01", "reduction = 55"))
    with pytest.raises(MethodologyError, match=r"e.toml: factors.reduction: .*54.01"):
        load_directory(tmp_path)


# -- distance plausibility --------------------------------------------------------------------


def test_reported_distance_within_the_band_is_used():
    assert plausible_band("bike", 2000) == (1600, 4300)
    judged = judge_distance("bike", 2350, 2000)
    assert (judged.distance_m, judged.basis) == (2350, "reported")


@pytest.mark.parametrize("mode", sorted(DETOUR_RULES))
def test_the_band_is_the_published_formula_rounded_down(mode):
    """straight x 0.95 - slack and straight x max_detour + slack, in exact decimals, each
    rounded down to the metre, for every straight line up to 60 km in steps of 7 m."""
    rule = DETOUR_RULES[mode]
    for straight_m in range(0, 60_000, 7):
        straight = Decimal(straight_m)
        low = max(Decimal(0), straight * MIN_RATIO - rule.slack_m)
        high = straight * rule.max_detour + rule.slack_m
        expected = (int(low.to_integral_value(ROUND_FLOOR)),
                    int(high.to_integral_value(ROUND_FLOOR)))  # fmt: skip
        assert plausible_band(mode, straight_m) == expected, straight_m
    assert plausible_band("bike", 1221) == (859, 2742)  # 1159.95 - 300; 2442 + 300


@pytest.mark.parametrize(
    ("reported", "reason"),
    [(1500, "distance_shorter_than_straight_line"), (4400, "distance_implausible_detour"),
     (0, "distance_not_positive")],
)  # fmt: skip
def test_reported_distance_outside_the_band_is_refused(reported, reason):
    with pytest.raises(DistanceRejected) as caught:
        judge_distance("bike", reported, 2000)
    assert caught.value.reason == reason


def test_without_a_reported_distance_the_straight_line_is_used():
    judged = judge_distance("bike", None, 1800)
    assert (judged.distance_m, judged.basis) == (1800, "straight_line")
    with pytest.raises(DistanceRejected):
        judge_distance("bike", None, None)


def test_metro_from_stations_without_a_table_has_no_quantity():
    with pytest.raises(NoQuantity) as caught:
        co2("shanghai", "metro", entry_station="a", exit_station="b")
    assert caught.value.reason == "no_station_table"


def test_metro_by_stations_uses_the_network_distance():
    from methodologies.context import load_context

    context = load_context("shanghai")
    path = context.stations.path("peoples_square", "lujiazui")
    result = calculate(
        context.registry,
        context.city,
        TripFacts("metro", DAY, entry_station="People's Square", exit_station="Lujiazui"),
        context.stations,
    )
    assert result.receipt["quantity"]["basis"] == "station_table"
    assert result.receipt["quantity"]["inputs"]["network_distance_m"] == path.distance_m
    assert result.co2_g == 97 * path.distance_m // 1000
