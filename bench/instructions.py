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

With ``--singles N`` it counts N one-trip requests instead, sent one after another after the
same two batches and ``WARM_SINGLES`` one-trip requests uncounted: the figure per request for
the single-trip path, whose latency depends on its CPU.

    python -m bench.instructions [--batches 3] [--riders 2000] [--singles 300]
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
WARM_SINGLES = 50
CHILD_TIMEOUT_S = 1800
CHILD_FLAG = "--counted-child"
ROOT = Path(__file__).resolve().parents[1]
_TOTAL = re.compile(rb"^totals: (\d+)", re.MULTILINE)  # ("summary" is 0: counting starts off)


def _counting(switch: str) -> None:
    """Switch callgrind's counting for this process on or off."""
    subprocess.run(["callgrind_control", "-i", switch, str(os.getpid())],
                   check=True, capture_output=True, timeout=120)  # fmt: skip


def _send(client: Any, bodies: list[bytes], headers: dict[str, str]) -> list[bytes]:
    """The answers to ``bodies``, one request each, unread: reading them is the client's work,
    so it is left outside the counted stretch (``_credited``)."""
    return [client.post("/v1/trips", data=body, headers=headers).get_data() for body in bodies]


def _credited(answers: list[bytes]) -> int:
    """The trips the answers say were credited."""
    credited = 0
    for answer in answers:
        results = json.loads(answer).get("results", ())
        credited += sum(1 for r in results if r.get("status") == "credited")
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
    warm = _credited(_send(client, trips.bodies(WARM_BATCHES, BATCH, "w"), headers))
    analyze(os.environ["DATABASE_URL"])  # as autovacuum keeps a live database
    if spec["singles"]:
        warm += _credited(_send(client, trips.bodies(WARM_SINGLES, 1, "ws"), headers))
        counted_bodies = trips.bodies(spec["singles"], 1, "s")
    else:
        counted_bodies = trips.bodies(spec["batches"], BATCH, "b")
    settle_garbage_collector()  # as ``greenpoints serve`` does
    _counting("on")
    answers = _send(client, counted_bodies, headers)
    _counting("off")
    counted = _credited(answers)
    Path(spec_path).with_suffix(".out").write_text(json.dumps([warm, counted]))


def run(*, batches: int = 3, riders: int = 2000, singles: int = 0) -> list[dict[str, object]]:
    """The figures, after printing them and writing ``bench/results/instructions.json``."""
    valgrind = shutil.which("valgrind")
    if valgrind is None or shutil.which("callgrind_control") is None:
        raise BenchError("valgrind is needed: apt-get install valgrind")
    if batches < 1 or singles < 0:
        raise BenchError("--batches must be at least 1, --singles at least 0")
    from tests.servers import fresh_postgres_database

    with (
        tempfile.TemporaryDirectory() as workdir,
        fresh_postgres_database(postgres_admin_url()) as url,
    ):
        prepared = prepare(url, Path(workdir), riders)
        spec = Path(workdir) / "spec.json"
        spec.write_text(json.dumps({"token": prepared.token, "refs": prepared.refs,
                                    "batches": batches, "singles": singles}))  # fmt: skip
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
    expected = singles or batches * BATCH
    warm_expected = WARM_BATCHES * BATCH + (WARM_SINGLES if singles else 0)
    if warm != warm_expected or credited != expected:
        raise BenchError(f"credited {warm} warm-up and {credited} counted trips, not all")
    if total is None:
        raise BenchError("callgrind wrote no total")
    instructions = int(total.group(1))
    what = f"{singles} one-trip requests" if singles else f"{batches} batches of {BATCH} trips"
    print(f"{what}: {instructions:,} instructions in the service's process while they were "
          f"answered")  # fmt: skip
    name, unit = (("ingest_single_instructions_per_request", "instructions/request") if singles
                  else ("ingest_batch_instructions_per_trip", "instructions/trip"))  # fmt: skip
    rows: list[dict[str, object]] = [
        {"name": name, "value": round(instructions / expected), "unit": unit, "baseline": None,
         "ratio": None, "target": None, "met": None},
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
    parser.add_argument(
        "--singles", type=int, default=0, help="count this many one-trip requests, not batches"
    )
    run_from_command_line(run, parser)


if __name__ == "__main__":
    main()
