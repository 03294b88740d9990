"""geo.rebalancing: the balance formula, truck moves checked against hand-solved instances, a
brute-force enumeration and networkx on the full graph, and the published rider incentives."""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import pytest

from geo import rebalancing
from geo.coords import M_PER_DEG_LAT, great_circle_m, is_cell_at
from geo.rebalancing import (
    Move,
    UnitState,
    balance_of,
    greedy_moves,
    incentives,
    plan_moves,
)

LNG0, LAT0 = 121.4737, 31.2304  # People's Square, Shanghai

Unit = tuple[str, float, float, int]


def north(name: str, metres: float, balance: int) -> Unit:
    """A unit ``metres`` north of People's Square: units on one meridian are exactly that far
    apart along the great circle."""
    return (name, LNG0, LAT0 + metres / M_PER_DEG_LAT, balance)


def vehicle_metres(moves: list[Move]) -> int:
    return sum(m.vehicles * m.distance_m for m in moves)


def moved(moves: list[Move]) -> int:
    return sum(m.vehicles for m in moves)


def distance(a: Unit, b: Unit) -> int:
    return round(great_circle_m(a[1], a[2], b[1], b[2]))


def dense_reference(units: list[Unit], truck_capacity: int) -> tuple[int, int]:
    """(vehicles moved, vehicle-metres) of networkx's min-cost maximum flow on the full graph."""
    graph = nx.DiGraph()
    for name, _, _, balance in units:
        if balance > 0:
            graph.add_edge("source", name, capacity=balance, weight=0)
        elif balance < 0:
            graph.add_edge(name, "sink", capacity=-balance, weight=0)
    for a, b in itertools.product(units, units):
        if a[3] > 0 and b[3] < 0:
            graph.add_edge(a[0], b[0], capacity=truck_capacity, weight=distance(a, b))
    if "source" not in graph or "sink" not in graph:
        return 0, 0
    flow = nx.max_flow_min_cost(graph, "source", "sink")
    return sum(flow["source"].values()), nx.cost_of_flow(graph, flow)


def brute_force_cost(units: list[Unit]) -> int:
    """Least vehicle-metres by trying every pairing of single vehicles (no truck limit)."""
    givers = [u for u in units for _ in range(max(0, u[3]))]
    takers = [u for u in units for _ in range(max(0, -u[3]))]
    if len(givers) > len(takers):
        givers, takers = takers, givers
    return min(
        sum(distance(a, b) for a, b in zip(givers, chosen, strict=True))
        for chosen in set(itertools.permutations(takers, len(givers)))
    )


def random_units(rng: np.random.Generator, count: int, spread: int) -> list[Unit]:
    """``count`` units within about 5 km of People's Square, balances in [-spread, spread]."""
    east = rng.uniform(-5_000, 5_000, count)
    south = rng.uniform(-5_000, 5_000, count)
    balances = rng.integers(-spread, spread + 1, count)
    per_lng = M_PER_DEG_LAT * math.cos(math.radians(LAT0))
    return [
        (f"u{i}", LNG0 + east[i] / per_lng, LAT0 + south[i] / M_PER_DEG_LAT, int(balances[i]))
        for i in range(count)
    ]


def check_feasible(units: list[Unit], moves: list[Move], truck_capacity: int) -> None:
    """Moves go from surplus to deficit units, within balances and one truck each."""
    balance = {u[0]: u[3] for u in units}
    for move in moves:
        assert balance[move.from_unit] > 0 and balance[move.to_unit] < 0
        assert 0 < move.vehicles <= truck_capacity
    for unit, b in balance.items():
        out = sum(m.vehicles for m in moves if m.from_unit == unit)
        into = sum(m.vehicles for m in moves if m.to_unit == unit)
        assert out <= max(0, b) and into <= max(0, -b)
    pairs = [(m.from_unit, m.to_unit) for m in moves]
    assert pairs == sorted(pairs) and len(set(pairs)) == len(pairs)


# balance_of


def state(
    supply: int = 10, demand: float = 20.0, turnover: float = 0.0, inbound: int = 2
) -> UnitState:
    return UnitState("cell", LNG0, LAT0, supply, demand, turnover, inbound)


def test_balance_without_turnover_needs_one_vehicle_per_trip():
    # needed = ceil(1.2 * 20 / max(1, 0)) = 24; balance = 10 + 2 - 24
    assert balance_of(state(), window_hours=6) == -12


def test_balance_with_turnover_lets_a_vehicle_serve_several_trips():
    # 6 trips a day over 12 hours = 3 trips per vehicle; needed = ceil(24 / 3) = 8
    assert balance_of(state(turnover=6.0), window_hours=12) == 4
    # 6 trips a day over 6 hours = 1.5; needed = ceil(24 / 1.5) = 16
    assert balance_of(state(turnover=6.0), window_hours=6) == -4


def test_balance_never_counts_fewer_than_one_trip_per_vehicle():
    # 1 trip a day over 4 hours would be 1/6 trip per vehicle; the floor of 1 keeps needed at 24
    assert balance_of(state(turnover=1.0), window_hours=4) == -12


def test_balance_rounds_needed_vehicles_up_but_not_on_float_noise():
    assert balance_of(state(supply=0, inbound=0, demand=3.0), window_hours=6) == -4  # ceil(3.6)
    # 5.6 trips a day over 6 hours = 1.4; 1.2 * 3.5 / 1.4 is 3.000000000000001 in floating
    # point: still 3 vehicles, not 4
    assert balance_of(state(supply=0, inbound=0, demand=3.5, turnover=5.6), 6) == -3
    assert balance_of(state(supply=3, inbound=0, demand=0.0), window_hours=6) == 3


def test_balance_rejects_nonsense():
    with pytest.raises(ValueError):
        balance_of(state(), window_hours=0)
    with pytest.raises(ValueError):
        balance_of(state(demand=-1.0), window_hours=6)


# plan_moves on instances solved by hand

# On one line (metres): deficit A at 0, surplus S at 2,000, deficit B at 3,000, surplus T at
# 10,000. Nearest pair first sends S->B (1,000) and is left with T->A (10,000): 11,000. The best
# plan is S->A (2,000) and T->B (7,000): 9,000.
LINE = [north("A", 0, -1), north("S", 2_000, 1), north("B", 3_000, -1), north("T", 10_000, 1)]


def test_plan_moves_finds_the_optimum_on_a_line():
    assert plan_moves(LINE, truck_capacity=10) == [
        Move("S", "A", 1, 2_000),
        Move("T", "B", 1, 7_000),
    ]


def test_greedy_is_worse_than_the_optimum_on_the_line():
    greedy = greedy_moves(LINE, truck_capacity=10)
    assert greedy == [Move("S", "B", 1, 1_000), Move("T", "A", 1, 10_000)]
    assert vehicle_metres(greedy) == 11_000 > vehicle_metres(plan_moves(LINE, 10)) == 9_000


def test_greedy_takes_the_nearest_pair_first():
    units = [north("S", 0, 1), north("far", 5_000, -1), north("near", 1_000, -1)]
    assert greedy_moves(units, truck_capacity=5) == [Move("S", "near", 1, 1_000)]


def test_one_truck_load_per_move():
    # S (+5) at 0, C (-5) at 1,000, D (-5) at 4,000; trucks take 3: 3 to C, the other 2 to D
    units = [north("S", 0, 5), north("C", 1_000, -5), north("D", 4_000, -5)]
    assert plan_moves(units, truck_capacity=3) == [
        Move("S", "C", 3, 1_000),
        Move("S", "D", 2, 4_000),
    ]


def test_full_graph_fallback_when_truck_loads_block_the_nearest_arcs(monkeypatch):
    monkeypatch.setattr(rebalancing, "FULL_GRAPH_ARCS", 0)  # a large fleet's candidate arcs
    # With one neighbour, S1 (+4) only reaches D1 (-3) and S2 (+2) only D2 (-2); with trucks of 2
    # that carries 4 of the 5 needed. S1 alone cannot fill D1, so S2 -> D1 must be added too.
    units = [north("S1", 0, 4), north("D1", 1_000, -3), north("D2", 10_000, -2)]
    units.append(north("S2", 12_000, 2))
    moves = plan_moves(units, truck_capacity=2, neighbours=1)
    assert moves == [
        Move("S1", "D1", 2, 1_000),
        Move("S1", "D2", 1, 10_000),
        Move("S2", "D1", 1, 11_000),
        Move("S2", "D2", 1, 2_000),
    ]
    assert vehicle_metres(moves) == 25_000


def test_nothing_to_move_without_both_sides():
    assert plan_moves([north("a", 0, 3), north("b", 500, 0)], truck_capacity=5) == []
    assert greedy_moves([north("a", 0, -3)], truck_capacity=5) == []


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError):
        plan_moves(LINE, truck_capacity=0)
    with pytest.raises(ValueError):
        plan_moves([*LINE, north("A", 50, 1)], truck_capacity=5)


# plan_moves on random instances, against independent solutions


@pytest.mark.parametrize("seed", range(12))
def test_plan_moves_matches_brute_force_on_tiny_instances(seed):
    rng = np.random.default_rng(seed)
    units = random_units(rng, count=int(rng.integers(4, 7)), spread=2)
    moves = plan_moves(units, truck_capacity=100)
    surplus = sum(u[3] for u in units if u[3] > 0)
    deficit = -sum(u[3] for u in units if u[3] < 0)
    assert moved(moves) == min(surplus, deficit)
    if surplus and deficit:
        assert vehicle_metres(moves) == brute_force_cost(units)


@pytest.mark.parametrize("seed", range(30))
def test_plan_moves_matches_networkx_on_the_full_graph(seed):
    rng = np.random.default_rng(1_000 + seed)
    units = random_units(rng, count=int(rng.integers(6, 9)), spread=6)
    truck = int(rng.integers(1, 7))
    moves = plan_moves(units, truck_capacity=truck)
    check_feasible(units, moves, truck)
    assert (moved(moves), vehicle_metres(moves)) == dense_reference(units, truck)


@pytest.mark.parametrize("seed", range(30))
def test_sparse_candidates_still_move_everything_the_full_graph_can(seed, monkeypatch):
    monkeypatch.setattr(rebalancing, "FULL_GRAPH_ARCS", 0)
    rng = np.random.default_rng(2_000 + seed)
    units = random_units(rng, count=int(rng.integers(8, 15)), spread=8)
    truck = int(rng.integers(1, 5))
    moves = plan_moves(units, truck_capacity=truck, neighbours=int(rng.integers(1, 3)))
    check_feasible(units, moves, truck)
    best_moved, best_cost = dense_reference(units, truck)
    assert moved(moves) == best_moved
    assert vehicle_metres(moves) >= best_cost


def test_total_moved_is_the_smaller_side_with_roomy_trucks():
    rng = np.random.default_rng(7)
    units = random_units(rng, count=60, spread=9)
    moves = plan_moves(units, truck_capacity=20, neighbours=3)
    check_feasible(units, moves, 20)
    surplus = sum(u[3] for u in units if u[3] > 0)
    deficit = -sum(u[3] for u in units if u[3] < 0)
    assert surplus != deficit
    assert moved(moves) == min(surplus, deficit)
    assert plan_moves(units, truck_capacity=20, neighbours=3) == moves


@pytest.mark.parametrize("seed", range(10))
def test_greedy_is_feasible_and_never_beats_the_optimum(seed):
    rng = np.random.default_rng(3_000 + seed)
    units = random_units(rng, count=12, spread=5)
    optimal = plan_moves(units, truck_capacity=4)
    greedy = greedy_moves(units, truck_capacity=4)
    check_feasible(units, greedy, 4)
    assert moved(greedy) == moved(optimal)
    assert vehicle_metres(greedy) >= vehicle_metres(optimal)


# incentives


def test_incentives_follow_the_published_formula():
    bonuses = incentives({"plenty": 3, "short": -4, "even": 0, "flooded": 50, "empty": -50})
    assert bonuses == {
        "plenty": (60, 0),
        "short": (0, 80),
        "even": (0, 0),
        "flooded": (200, 0),
        "empty": (0, 200),
    }


def test_incentives_take_the_rate_and_cap():
    assert incentives({"a": 4, "b": -2}, points_per_vehicle=5, cap=15) == {
        "a": (15, 0),
        "b": (0, 10),
    }
    with pytest.raises(ValueError):
        incentives({"a": 1}, cap=-1)


def test_only_h3_cells_of_the_unit_resolution_are_units():
    cell = "8928308280fffff"  # resolution 9
    assert is_cell_at(cell, 9)
    assert not is_cell_at(cell, 8)
    for spelling in ("a", "", "0x" + cell, " " + cell, cell.upper(), "f" * 24, "\x00"):
        assert not is_cell_at(spelling, 9), spelling
