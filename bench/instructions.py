"""Instructions the service's own process runs to ingest 1000-trip batches, counted by
valgrind's callgrind: a figure that holds still on a machine whose speed does not.

On this kind of shared 2-core machine the same code's CPU per batch moved by 40 % within one
session, more than any single change left to try. The instructions the process answering the
batches runs repeat within a fraction of a per cent (two runs each of eight versions here
differed by 0.02-0.31 %), so two versions of the code can be told apart in a few runs. The
count covers this process only: Flask, validation, the methodology, the ledger's Python, and
psycopg's and libpq's side of each statement. PostgreSQL's own work is not in it. A count is
not a time: valgrind runs without some of the CPU's own speed-ups (its SHA instructions, for
one), so compare counts with counts, never with seconds.

The run: a fresh migrated database with ``--riders`` riders (``bench.riders``), then a child
process under ``valgrind --tool=callgrind`` builds the app and sends batches through it in
process (Flask's test client): two to warm up, uncounted, then ``--batches`` with the counting
switched on around them only (``callgrind_control``). Every trip must be credited.

    python -m bench.instructions [--batches 3] [--riders 2000]
    # needs valgrind (Debian's package); TEST_POSTGRES_URL, else PostgreSQL on 127.0.0.1
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.database import analyze, postgres_admin_url
from bench.report import BenchError, report, run_from_command_line
from bench.riders import Trips, prepare

BATCH = 1000
WARM_BATCHES = 2
CHILD_TIMEOUT_S = 1800
CHILD_FLAG = "--counted-child"
ROOT = Path(__file__).resolve().parents[1]
_TOTAL = re.compile(rb"^totals: (\d+)", re.MULTILINE)  # ("summary" is 0: counting starts off)


def _counting(switch: str) -> None:
    """Switch callgrind's counting for this process on or off."""
    subprocess.run(["callgrind_control", "-i", switch, str(os.getpid())],
                   check=True, capture_output=True, timeout=120)  # fmt: skip


def _send(client: Any, bodies: list[bytes], headers: dict[str, str]) -> int:
    """The trips credited answering ``bodies``, one request each."""
    credited = 0
    for body in bodies:
        answer = client.post("/v1/trips", data=body, headers=headers).get_json()
        credited += sum(1 for r in answer.get("results", ()) if r.get("status") == "credited")
    return credited


def _child(spec_path: str) -> None:
    """Under valgrind: the warm-up batches, then the counted ones; writes how many trips of
    each were credited next to the spec."""
    from service.app import create_app
    from service.serve import settle_garbage_collector

    spec = json.loads(Path(spec_path).read_text())
    client = create_app().test_client()
    headers = {"Authorization": f"Bearer {spec['token']}", "Content-Type": "application/json"}
    trips = Trips(spec["refs"])
    warm = _send(client, trips.bodies(WARM_BATCHES, BATCH, "w"), headers)
    analyze(os.environ["DATABASE_URL"])  # as autovacuum keeps a live database
    counted_bodies = trips.bodies(spec["batches"], BATCH, "b")
    settle_garbage_collector()  # as ``greenpoints serve`` does
    _counting("on")
    counted = _send(client, counted_bodies, headers)
    _counting("off")
    Path(spec_path).with_suffix(".out").write_text(json.dumps([warm, counted]))


def run(*, batches: int = 3, riders: int = 2000) -> list[dict[str, object]]:
    """The figures, after printing them and writing ``bench/results/instructions.json``."""
    valgrind = shutil.which("valgrind")
    if valgrind is None or shutil.which("callgrind_control") is None:
        raise BenchError("valgrind is needed: apt-get install valgrind")
    if batches < 1:
        raise BenchError("--batches must be at least 1")
    from tests.servers import fresh_postgres_database

    with (
        tempfile.TemporaryDirectory() as workdir,
        fresh_postgres_database(postgres_admin_url()) as url,
    ):
        prepared = prepare(url, Path(workdir), riders)
        spec = Path(workdir) / "spec.json"
        spec.write_text(json.dumps({"token": prepared.token, "refs": prepared.refs,
                                    "batches": batches}))  # fmt: skip
        counts = Path(workdir) / "callgrind.out"
        child = subprocess.run(
            [valgrind, "--tool=callgrind", "--instr-atstart=no",
             f"--callgrind-out-file={counts}", sys.executable, "-m", "bench.instructions",
             CHILD_FLAG, str(spec)],
            cwd=ROOT, env={**prepared.env, "PYTHONHASHSEED": "0"}, capture_output=True,
            timeout=CHILD_TIMEOUT_S,
        )  # fmt: skip
        if child.returncode != 0:
            raise BenchError(f"the counted process failed: {child.stderr.decode()[-1500:]}")
        warm, credited = json.loads(spec.with_suffix(".out").read_text())
        total = _TOTAL.search(counts.read_bytes())
    expected = batches * BATCH
    if warm != WARM_BATCHES * BATCH or credited != expected:
        raise BenchError(f"credited {warm} warm-up and {credited} counted trips, not all")
    if total is None:
        raise BenchError("callgrind wrote no total")
    instructions = int(total.group(1))
    print(f"{batches} batches of {BATCH} trips: {instructions:,} instructions in the service's "
          f"process while they were answered")  # fmt: skip
    rows: list[dict[str, object]] = [
        {"name": "ingest_batch_instructions_per_trip", "value": round(instructions / expected),
         "unit": "instructions/trip", "baseline": None, "ratio": None, "target": None,
         "met": None},
    ]  # fmt: skip
    report("instructions", rows)
    return rows


def main() -> None:
    if sys.argv[1:2] == [CHILD_FLAG]:  # the process valgrind runs
        _child(sys.argv[2])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=3, help="counted 1000-trip batches")
    parser.add_argument("--riders", type=int, default=2000)
    run_from_command_line(run, parser)


if __name__ == "__main__":
    main()
