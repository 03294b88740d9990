"""The README's main command: ``greenpoints demo`` on a fresh directory, checked over the API.

The demo prints its totals and leaves the service running; the test then asks the service
itself (as the city admin, as each operator and as each rider) and expects the same numbers.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections import Counter

import pytest
import requests

from tests.e2e.conftest import (
    GREENPOINTS,
    HTTP_TIMEOUT_S,
    cli_fields,
    run_service,
    running_demo,
)

RIDERS, DAYS = 300, 3
# Trips a day of the 300 riders at least: 85% commute on weekdays, 35% ride out at weekends,
# each there and back (the shares in mock_clients.travel; these floors leave a margin).
WEEKDAY_FLOOR, WEEKEND_FLOOR = 400, 100
REJECTION_FAULTS = ("no_consent", "no_ride_zone", "too_short", "outside_service_area",
                    "unknown_station", "missing_line")  # fmt: skip


def _token(base_url, client):
    answer = requests.post(f"{base_url}/v1/oauth/token", timeout=HTTP_TIMEOUT_S,
                           data={"grant_type": "client_credentials", **client})  # fmt: skip
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _all(base_url, path, headers, **params):
    items, cursor = [], None
    for _ in range(1000):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{base_url}{path}", headers=headers, params=query,
                            timeout=HTTP_TIMEOUT_S).json()  # fmt: skip
        items += page["trips"]
        cursor = page["next_cursor"]
        if not cursor:
            return items
    raise AssertionError("too many pages")


@pytest.fixture
def demo_left_running(tmp_path):
    with running_demo(tmp_path, days=DAYS, riders=RIDERS) as demo:
        yield demo


def test_the_demo_runs_and_its_printed_totals_match_the_api(demo_left_running):
    base_url, var_dir, summary_path, printed, env = demo_left_running
    summary = json.loads(summary_path.read_text())
    assert "= ledger issuance" in printed and ": yes" in printed
    assert f"trips sent {summary['trips_sent']}:" in printed
    assert "rebalancing hellobike (next 1 h):" in printed
    assert f"planner map: {base_url}/planner" in printed
    assert summary["reconciled"]
    assert summary["surprises"] == []
    weekdays = sum(dt.date.fromisoformat(day).isoweekday() <= 5 for day in summary["days"])
    assert len(summary["days"]) == DAYS
    floor = WEEKDAY_FLOOR * weekdays + WEEKEND_FLOOR * (DAYS - weekdays)
    assert summary["expectations_met"] == summary["trips_sent"] > floor

    # The simulated operators' bad trips were rejected with the reason they were made for.
    for fault in REJECTION_FAULTS:
        assert summary["rejected_by_reason"].get(fault, 0) >= summary["expected"].get(fault, 0)
    assert summary["expected"]["no_consent"] > 0 and summary["expected"]["too_short"] > 0
    assert (
        summary["failures_by_error"].get("invalid_trip", 0)
        == summary["expected"].get("invalid_trip", 0)
        > 0
    )

    # The bike operators publish GBFS feeds: their fleet where trips left it, and the zones.
    for key in ("hellobike", "meituan-ebike"):
        feed = var_dir / "gbfs" / key
        vehicles = json.loads((feed / "vehicle_status.json").read_text())["data"]["vehicles"]
        assert len(vehicles) > 100
        assert all(121.4 < v["lon"] < 121.6 and 31.1 < v["lat"] < 31.3 for v in vehicles)
        zones = json.loads((feed / "geofencing_zones.json").read_text())
        assert len(zones["data"]["geofencing_zones"]["features"]) == 35

    credentials = json.loads((var_dir / "credentials.json").read_text())
    admin = _token(base_url, credentials.pop("admin"))
    planner = _token(base_url, credentials.pop("planner"))
    summary_map = requests.get(f"{base_url}/v1/aggregates/summary", headers=planner,
                               timeout=HTTP_TIMEOUT_S).json()  # fmt: skip
    # The planner sees at most what was credited: only groups of at least k riders count.
    assert 0 < summary_map["trips"] <= summary["statuses"]["credited"]
    ledger = requests.get(f"{base_url}/v1/admin/ledger/totals", headers=admin,
                          timeout=HTTP_TIMEOUT_S).json()  # fmt: skip
    assert ledger == summary["ledger"]
    assert ledger["issued"] == summary["credited_points"] == summary["receipts_points"] > 0
    held = sum(ledger["riders"].values())
    assert ledger["issued"] == held + ledger["redeemed"] + ledger["donated"] + ledger["penalties"]

    # Each operator's own view: credited trips with receipts, rejections with reasons.
    credited_points, credited_trips, reasons = 0, 0, Counter()
    for key, client in credentials.items():
        operator = _token(base_url, client)
        if key in ("hellobike", "meituan-ebike"):  # their fleet snapshots reached the service
            plan = requests.get(f"{base_url}/v1/rebalancing/recommendations", headers=operator,
                                timeout=HTTP_TIMEOUT_S).json()  # fmt: skip
            assert plan["surplus_vehicles"] > 100
        for trip in _all(base_url, "/v1/trips", operator, status="credited", limit=500):
            assert trip["receipt"]["methodology"]["id"]
            credited_points += trip["points"]
            credited_trips += 1
        for trip in _all(base_url, "/v1/trips", operator, status="rejected", limit=500):
            reasons.update(trip["reasons"])
    assert credited_points == summary["credited_points"]
    assert credited_trips == summary["statuses"]["credited"]
    assert dict(reasons) == summary["rejected_by_reason"]

    # Every rider's account adds up to the same grams per mode (tokens from the demo's
    # development identity provider, whose key lives in the demo's own directory).
    env = {**env, "GREENPOINTS_VAR_DIR": str(var_dir)}
    user_ids = [f"demo-rider-{i:05d}" for i in range(RIDERS)]
    minted = subprocess.run([GREENPOINTS, "tokens", "rider", *user_ids], env=env, check=True,
                            capture_output=True, text=True, timeout=120).stdout.split()  # fmt: skip
    by_mode = Counter()
    session = requests.Session()
    for token in minted:
        account = session.get(f"{base_url}/v1/me/account", timeout=HTTP_TIMEOUT_S,
                              headers={"Authorization": f"Bearer {token}"}).json()  # fmt: skip
        by_mode.update(account["totals"]["by_mode"])
    assert {k: v for k, v in by_mode.items() if v} == summary["co2_g_by_mode"]


def test_the_demo_clients_drive_a_running_service_at_a_given_rate(tmp_path):
    from mock_clients.city import load

    with run_service(tmp_path, f"sqlite:///{tmp_path / 'gp.db'}", None,
                     STATION_TABLE=str(load().station_table)) as service:  # fmt: skip
        admin = cli_fields(service.cli("clients", "create", "--kind", "admin", "--name", "city"))
        done = subprocess.run(
            [GREENPOINTS, "demo", "--url", service.base_url, "--client-id", admin["client_id"],
             "--client-secret", admin["client_secret"], "--days", "2", "--riders", "60",
             "--rate", "100", "--exit", "--summary-json", str(tmp_path / "summary.json")],
            env=service.env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["reconciled"] and summary["surprises"] == []
    assert summary["statuses"]["credited"] > 0
