"""How every benchmark reports: a table on stdout and ``bench/results/<name>.json``, a list of
``{"name", "value", "unit", "baseline", "ratio", "target", "met"}``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def report(name: str, rows: list[dict[str, Any]]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(rows, indent=2) + "\n")
    header = f"{'name':44} {'value':>14} {'unit':12} {'baseline':>14} {'ratio':>7}  target"
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.3f}"
        verdict = {None: "", True: " met", False: " NOT MET"}[row["met"]]
        print(
            f"{row['name']:44} {_text(row['value']):>14} {row['unit']:12} "
            f"{_text(row['baseline']):>14} {ratio:>7}  {_text(row['target'])}{verdict}"
        )
