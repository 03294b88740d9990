"""``python -m bench`` runs the chosen benchmarks and writes their figures as one JSON list that
a reader can check without knowing the benchmarks: exactly the seven keys, ratios that are
value / baseline, and verdicts that agree with the targets they state."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"name", "value", "unit", "baseline", "ratio", "target", "met"}
TARGET = re.compile(r"^(<=|>=|<|>|==) ([\d,.]+)( x baseline)?")
HOLDS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list:
    tmp = tmp_path_factory.mktemp("bench")
    path = tmp / "all.json"
    env = {**os.environ, "BENCH_RESULTS_DIR": str(tmp / "results")}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--json", str(path), "--only", "geo_lookup,rebalancing",
         "--quick"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "== all benchmarks" in done.stdout
    assert {p.name for p in (tmp / "results").iterdir()} == {"geo_lookup.json", "rebalancing.json"}
    return json.loads(path.read_text())


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def test_a_list_of_rows_with_exactly_the_seven_keys_from_both_benchmarks(rows: list) -> None:
    assert isinstance(rows, list) and rows
    assert all(isinstance(row, dict) and set(row) == KEYS for row in rows)
    assert {row["name"].split(".")[0] for row in rows} == {"geo_lookup", "rebalancing"}
    assert len({row["name"] for row in rows}) == len(rows)


def test_each_key_has_its_type(rows: list) -> None:
    for row in rows:
        assert isinstance(row["name"], str) and isinstance(row["unit"], str), row
        assert _number(row["value"]), row
        for key in ("baseline", "ratio"):
            assert row[key] is None or _number(row[key]), row
        assert row["target"] is None or isinstance(row["target"], str), row
        assert row["met"] is None or isinstance(row["met"], bool), row


def test_ratio_is_value_over_baseline_where_both_are_set(rows: list) -> None:
    for row in rows:
        if row["baseline"]:
            assert row["ratio"] == pytest.approx(row["value"] / row["baseline"], rel=1e-3), row
        else:
            assert row["ratio"] is None, row


def test_met_is_judged_exactly_where_there_is_a_target_and_agrees_with_it(rows: list) -> None:
    judged = 0
    for row in rows:
        assert (row["met"] is None) == (row["target"] is None), row
        match = TARGET.match(row["target"] or "")
        if match is None:
            continue
        comparison, limit, of_baseline = match.groups()
        measured = row["ratio"] if of_baseline else row["value"]
        assert row["met"] == HOLDS[comparison](measured, float(limit.replace(",", ""))), row
        judged += 1
    assert judged >= 8  # geo_lookup's four targets and rebalancing's six


def test_a_benchmark_that_cannot_run_is_one_failed_row_naming_the_error() -> None:
    from bench.__main__ import run_one

    found, ran = run_one("no_such_benchmark", {})
    assert not ran
    (row,) = found
    assert set(row) == KEYS and row["met"] is False and row["unit"] == "error"
    assert row["name"].startswith("no_such_benchmark: FAILED: ModuleNotFoundError")
