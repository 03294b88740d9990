"""Every benchmark in one command, so the figures the README quotes come from one run:

    python -m bench --json PATH [--only geo_lookup,rebalancing] [--quick] [--aggregates-trips N]

Runs the benchmarks in sequence, each writing its own ``bench/results/<name>.json`` and table
as when run alone, then prints one combined table (each figure's name prefixed by its
benchmark's) and writes the combined list to PATH (after each benchmark, so a long run that is
cut short keeps what it measured). ``aggregates_pg`` loads 1,000,000 trips here rather than its
own default of 10 million (about 15 minutes of loading on a 2-core machine); the figure names
say how many. ``--quick`` shrinks every benchmark (sizes, seconds, rounds) for a smoke run whose
figures mean little. A benchmark that cannot run (``wrk`` missing, PostgreSQL not answering)
becomes one row with ``met: false`` and the error in its name; the exit status is non-zero only
then, and targets not met are listed at the end.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench.database import DEFAULT_POSTGRES, DEFAULT_REDIS
from bench.report import KEYS, print_table

BENCHMARKS = (
    "geo_lookup",
    "parking_http",
    "account_http",
    "ingest_http",
    "ingest_sql",
    "rebalancing",
    "recommendations_pg",
    "neighbours_pg",
    "aggregates_pg",
)
AGGREGATES_TRIPS = 1_000_000
QUICK_AGGREGATES_TRIPS = 50_000
_SHORT_HTTP = {"seconds": 1, "rounds": 1, "warm_up_s": 1, "settle_rounds": 1}
QUICK: dict[str, dict[str, Any]] = {
    "geo_lookup": {"zones": 2_000, "single": 2_000, "batch": 10_000, "rounds": 2},
    "parking_http": {**_SHORT_HTTP, "zones": 1_000},
    "account_http": {**_SHORT_HTTP, "riders": 200, "trips_per_rider": 3},
    "ingest_http": {"batches": 2, "rounds": 1, "single_seconds": 2, "riders": 200,
                    "floor_rounds": 1},
    "ingest_sql": {"requests": 50},
    "rebalancing": {"cells": 500, "vehicles": 2_500, "rounds": 1},
    "recommendations_pg": {"cells": 500, "vehicles": 2_500, "on_trip": 50,
                           "weekly_window_trips": 4_000, "last_week_trips": 5_000, "rounds": 1},
    "neighbours_pg": {"riders": 900, "history": 30, "rounds": 2},
    "aggregates_pg": {"rounds": 2},
}  # fmt: skip


def _options(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """The keyword options ``run`` gets for this benchmark in this run."""
    options = dict(QUICK[name]) if args.quick else {}
    if name == "aggregates_pg":
        options["trips"] = args.aggregates_trips or (
            QUICK_AGGREGATES_TRIPS if args.quick else AGGREGATES_TRIPS
        )
    return options


def _label(name: str, options: dict[str, Any]) -> str:
    """The prefix of a benchmark's figure names; the trip count where it is not the default."""
    return f"{name}[{options['trips']:,} trips]" if "trips" in options else name


def _failure(label: str, error: BaseException) -> dict[str, Any]:
    message = " ".join(f"{type(error).__name__}: {error}".split())[:200]
    return {"name": f"{label}: FAILED: {message}", "value": None, "unit": "error",
            "baseline": None, "ratio": None, "target": "runs to the end", "met": False}  # fmt: skip


def run_one(name: str, options: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The benchmark's rows with prefixed names, and whether it ran to the end."""
    label = _label(name, options)
    try:
        module = importlib.import_module(f"bench.{name}")
        rows = module.run(**options)
        return [{**{key: row[key] for key in KEYS}, "name": f"{label}.{row['name']}"}
                for row in rows], True  # fmt: skip
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit and pytest's skip are failures to run, too
        traceback.print_exc()
        return [_failure(label, exc)], False


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Every benchmark, one table, one JSON list."
    )
    parser.add_argument("--json", required=True, type=Path, metavar="PATH",
                        help="where to write the combined figures")  # fmt: skip
    parser.add_argument("--only", help=f"comma-separated, of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--aggregates-trips", type=int, metavar="N",
                        help=f"trips for aggregates_pg (default {AGGREGATES_TRIPS:,}; "
                             f"{QUICK_AGGREGATES_TRIPS:,} with --quick)")  # fmt: skip
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(unknown)}")
    args.names = [name for name in BENCHMARKS if name in chosen]
    return args


def _summary(rows: list[dict[str, Any]], seconds: dict[str, float], quick: bool) -> None:
    print(f"\n== all benchmarks{' (--quick: small sizes, indicative only)' if quick else ''} ==")
    print_table(rows)
    print("time: " + ", ".join(f"{name} {s:.1f} s" for name, s in seconds.items()))
    unmet = [row["name"] for row in rows if row["met"] is False and row["unit"] != "error"]
    failed = [row["name"] for row in rows if row["unit"] == "error"]
    print("targets not met: " + ("; ".join(unmet) if unmet else "none"))
    if failed:
        print("benchmarks that failed to run:\n  " + "\n  ".join(failed))


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    os.environ.setdefault("TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    os.environ.setdefault("TEST_REDIS_URL", DEFAULT_REDIS)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    seconds: dict[str, float] = {}
    all_ran = True
    for name in args.names:
        print(f"\n== {name} ==", flush=True)
        started = time.perf_counter()
        found, ran = run_one(name, _options(name, args))
        seconds[name] = time.perf_counter() - started
        rows += found
        all_ran = all_ran and ran
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
        sys.stdout.flush()
    _summary(rows, seconds, args.quick)
    return 0 if all_ran else 1


if __name__ == "__main__":
    sys.exit(main())
