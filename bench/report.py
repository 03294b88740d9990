"""How every benchmark reports: a table on stdout and ``bench/results/<name>.json``, a list of
``{"name", "value", "unit", "baseline", "ratio", "target", "met"}``.

A target is text that starts with its comparison (``"<= 5"``, ``">= 0.8 x baseline"``), so a
reader of the JSON can tell which way it points without knowing the benchmark."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Each benchmark's own results; BENCH_RESULTS_DIR moves them (a test's run must not replace a
# real run's).
RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR") or Path(__file__).parent / "results")
NAME_WIDTH = 64  # longer names (a failed benchmark's error) run over their column
KEYS = ("name", "value", "unit", "baseline", "ratio", "target", "met")
_HOLDS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
}


class BenchError(RuntimeError):
    """A benchmark could not run, or ran but its figures do not count."""


def run_from_command_line(run: Callable[..., Any], parser: Any) -> None:
    """A benchmark's ``main``: its ``run`` with the parsed options; a benchmark that cannot run
    (``BenchError``) exits non-zero saying why, without a traceback."""
    try:
        run(**vars(parser.parse_args()))
    except BenchError as exc:
        sys.exit(str(exc))


def number(value: float) -> str:
    """A limit as people write it: ``5``, ``0.8``, ``1,000,000``."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,}"


def bound(comparison: str, limit: float) -> str:
    """A target's text, e.g. ``bound("<=", 5.0) == "<= 5"``."""
    assert comparison in _HOLDS
    return f"{comparison} {number(limit)}"


def holds(value: float, comparison: str, limit: float) -> bool:
    return _HOLDS[comparison](value, limit)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}" if value == 0 or abs(value) >= 1 else f"{value:.3g}"
    return str(value)


def _ratio(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3f}"


def print_table(rows: list[dict[str, Any]]) -> None:
    """One line a figure: value and unit, the in-run baseline, ratio, target and verdict."""
    width = min(NAME_WIDTH, max([len("name"), *(len(row["name"]) for row in rows)]))
    header = (
        f"{'name':{width}} {'value':>14} {'unit':12} {'baseline':>14} {'ratio':>7}  "
        f"{'target':28} met"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = "" if row["ratio"] is None else _ratio(row["ratio"])
        verdict = {None: "", True: "met", False: "NOT MET"}[row["met"]]
        print(
            f"{row['name']:{width}} {_text(row['value']):>14} {row['unit']:12} "
            f"{_text(row['baseline']):>14} {ratio:>7}  {_text(row['target']):28} {verdict}"
        )


def report(name: str, rows: list[dict[str, Any]]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(rows, indent=2) + "\n")
    print_table(rows)
