"""Planner aggregates over the API: k-anonymous maps, flows and totals in every format, attempts
to recover a suppressed count by differencing, and roll-ups that match a rebuild from raw
trips."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from zoneinfo import ZoneInfo

import geopandas
import h3
import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import update

from geo.coords import great_circle_m
from service.auth.clients import create_client
from service.cli import main
from service.persistence.planner_models import PlannerCell
from service.persistence.rider_models import Trip
from service.planner.atoms import rider_bit
from service.usecases import consents
from tests.factories import open_rider

SHANGHAI = ZoneInfo("Asia/Shanghai")
P = h3.latlng_to_cell(31.2304, 121.4737, 9)
R = next(c for c in sorted(h3.cell_to_children(h3.cell_to_parent(P, 8), 9)) if c != P)
Q = h3.latlng_to_cell(31.2414, 121.4737, 9)  # about 1.2 km north
Z = h3.latlng_to_cell(31.2304, 121.4867, 9)  # east
W = h3.latlng_to_cell(31.2194, 121.4737, 9)  # south
# Riders per route: P -> Q 20, P -> Z 12, P -> W 2, R -> Q 3 (all bikes, one hour, one day).
ROUTES = [(P, Q, 20), (P, Z, 12), (P, W, 2), (R, Q, 3)]


def _centre(cell):
    lat, lng = h3.cell_to_latlng(cell)
    return {"lat": round(lat, 6), "lng": round(lng, 6)}


@pytest.fixture
def city(make_app):
    """A city where the routes above were ridden yesterday-but-one at 08:10 local time."""

    def build(**settings):
        app = make_app(**settings)
        svc = app.extensions["greenpoints"]
        client = app.test_client()
        operator = create_client(svc.db, kind="operator", name="bikes")
        op_token = svc.tokens.issue_access_token(client_id=operator.client_id, kind="operator",
                                                 scopes=("trips:write",))  # fmt: skip
        planner = create_client(svc.db, kind="planner", name="city planning")
        plan_token = svc.tokens.issue_access_token(client_id=planner.client_id, kind="planner",
                                                   scopes=("aggregates:read",))  # fmt: skip
        day = (dt.datetime.now(SHANGHAI) - dt.timedelta(days=2)).date()
        start = dt.datetime.combine(day, dt.time(8, 10), SHANGHAI)
        trips, bits = [], set()
        for origin, destination, riders in ROUTES:
            for _ in range(riders):
                while True:  # riders with distinct bitmap bits, so counts are exact
                    user_id, account_id = open_rider(svc)
                    if rider_bit(account_id) not in bits:
                        bits.add(rider_bit(account_id))
                        break
                ref = f"r-{user_id}"
                consents.grant(svc.db, user_id, operator.client_id, rider_ref=ref,
                               scenarios=["bike"])  # fmt: skip
                straight = great_circle_m(*reversed(h3.cell_to_latlng(origin)),
                                          *reversed(h3.cell_to_latlng(destination)))  # fmt: skip
                began = start + dt.timedelta(seconds=len(trips))
                trips.append({
                    "trip_id": f"t-{len(trips)}", "mode": "bike", "rider_ref": ref,
                    "vehicle_id": f"B-{len(trips)}", "start_time": began.isoformat(),
                    "end_time": (began + dt.timedelta(minutes=8)).isoformat(),
                    "start": _centre(origin), "end": _centre(destination),
                    "distance_m": round(straight * 1.3),
                })  # fmt: skip
        answer = client.post("/v1/trips", headers={"Authorization": f"Bearer {op_token}"},
                             json={"trips": trips}).get_json()  # fmt: skip
        assert [r["status"] for r in answer["results"]] == ["credited"] * len(trips), answer
        headers = {"Authorization": f"Bearer {plan_token}"}
        month = day.strftime("%Y-%m")

        def get(path, **params):
            got = client.get(path, headers=headers, query_string={"from": month, **params})
            assert got.status_code == 200, got.get_json()
            return got

        return app, svc, get, answer, start, headers

    return build


def _cells(get, **params):
    features = get("/v1/aggregates/cells", **params).get_json()["features"]
    return {f["properties"]["cell"]: f["properties"] for f in features}


def test_small_groups_are_suppressed_everywhere_and_in_every_format(city):
    _, _, get, _, _, _ = city()
    cells = _cells(get, res=9)
    assert cells[P]["trips"] == 34 and not cells[P]["suppressed"]
    assert cells[P]["riders"] == 30  # 34 riders, published rounded to tens
    assert cells[R] == {"cell": R, "suppressed": True, "value": None}  # 3 riders
    parent = _cells(get, res=8)[h3.cell_to_parent(P, 8)]
    assert parent["trips"] == 34  # R's 3 trips are in no figure
    for res in (5, 6, 7):
        assert _cells(get, res=res)[h3.cell_to_parent(P, res)]["trips"] == 34

    rows = list(csv.DictReader(io.StringIO(get("/v1/aggregates/cells", res=9,
                                               format="csv").get_data(as_text=True))))  # fmt: skip
    by_cell = {row["cell"]: row for row in rows}
    assert by_cell[R]["suppressed"] == "True" and by_cell[R]["trips"] == ""
    assert by_cell[P]["trips"] == "34"
    frame = geopandas.read_parquet(io.BytesIO(get("/v1/aggregates/cells", res=9,
                                                  format="parquet").get_data()))  # fmt: skip
    assert frame.crs.to_epsg() == 4326
    suppressed = frame[frame["suppressed"]]
    assert list(suppressed["cell"]) == [R] and suppressed["trips"].isna().all()
    assert int(frame[frame["cell"] == P]["trips"].iloc[0]) == 34
    ring = get("/v1/aggregates/cells", res=9).get_json()["features"][0]["geometry"]
    assert ring["type"] == "Polygon" and ring["coordinates"][0][0] == ring["coordinates"][0][-1]


def test_flows_and_ends_show_only_what_leaves_no_small_remainder(city):
    _, _, get, _, _, _ = city()
    p8, q8 = h3.cell_to_parent(P, 8), h3.cell_to_parent(Q, 8)
    flows = get("/v1/aggregates/od", res=8).get_json()["flows"]
    # P -> Z (12 riders) could be shown, but P -> W (2) alone would then be P's remainder: Z
    # stays hidden with it (14 riders together). R's flow is in no figure.
    assert [(f["origin"], f["destination"], f["trips"]) for f in flows] == [(p8, q8, 20)]
    ends = _cells(get, res=8, metric="ends")
    assert ends[q8]["ends"] == 20 and ends[q8]["value"] == 20
    assert h3.cell_to_parent(Z, 8) not in ends and h3.cell_to_parent(W, 8) not in ends


def test_differencing_attacks_recover_nothing_below_k(city):
    """An attacker combines every query shape; every difference is zero or a group of at
    least k riders."""
    _, _, get, _, start, _ = city()
    k = 10
    summary = get("/v1/aggregates/summary").get_json()
    assert summary["trips"] == 34 and summary["modes"]["bike"]["share"] == 1.0
    local = start.astimezone(SHANGHAI)
    day_type = "weekend" if local.isoweekday() >= 6 else "weekday"
    shapes = [{}, {"hour": local.hour}, {"day_type": day_type}, {"mode": "bike"},
              {"hour": local.hour, "day_type": day_type, "mode": "bike"}]  # fmt: skip
    for shape in shapes:
        total = get("/v1/aggregates/summary", **shape).get_json()["trips"]
        for res in range(5, 10):
            cells = _cells(get, res=res, **shape)
            published = sum(c["trips"] for c in cells.values() if not c["suppressed"])
            assert total - published == 0, (shape, res)  # summary minus map
            if res > 5:  # parent minus its children
                coarser = _cells(get, res=res - 1, **shape)
                for parent, figures in coarser.items():
                    children = sum(c["trips"] for cell, c in cells.items() if not c["suppressed"]
                                   and h3.cell_to_parent(cell, res - 1) == parent)  # fmt: skip
                    assert figures.get("trips", 0) - children == 0
        for res in range(5, 9):  # a cell's starts minus its outgoing flows: 0 or >= k riders
            flows = get("/v1/aggregates/od", res=res, **shape).get_json()["flows"]
            for cell, figures in _cells(get, res=res, **shape).items():
                out = sum(f["trips"] for f in flows if f["origin"] == cell)
                remainder = figures.get("trips", 0) - out
                assert remainder == 0 or remainder >= k
    for empty in ({"hour": (local.hour + 1) % 24}, {"mode": "ebike"}):
        assert get("/v1/aggregates/summary", **empty).get_json()["trips"] == 0
        assert all(c["suppressed"] for c in _cells(get, res=9, **empty).values())
    # No published number anywhere equals a small group's size.
    for res in range(5, 10):
        for figures in _cells(get, res=res, metric="ends").values():
            assert figures.get("trips") not in (2, 3) and figures.get("ends") not in (2, 3)


def test_k_is_configurable(city):
    _, _, get, _, _, _ = city(planner_k=3)
    cells = _cells(get, res=9)
    assert cells[R]["trips"] == 3 and not cells[R]["suppressed"]
    assert _cells(get, res=8)[h3.cell_to_parent(P, 8)]["trips"] == 37


def test_roll_ups_rebuilt_from_raw_trips_equal_the_maintained_ones(city, database_url, tmp_path):
    app, svc, get, answer, _, _ = city()
    env = {"DATABASE_URL": database_url, "GREENPOINTS_VAR_DIR": str(tmp_path / "var")}

    def rebuild(*args):
        return CliRunner().invoke(main, ["aggregates", "rebuild", *args], env=env)

    checked = rebuild("--check")
    assert checked.exit_code == 0, checked.output
    assert "roll-ups match the raw trips" in checked.output
    # A reversal takes its trip out of the roll-ups; they still match a rebuild.
    admin = create_client(svc.db, kind="admin", name="fraud desk")
    token = svc.tokens.issue_access_token(client_id=admin.client_id, kind="admin",
                                          scopes=("admin",))  # fmt: skip
    first = answer["results"][0]["trip_uid"]
    reversed_ = app.test_client().post(f"/v1/admin/trips/{first}/reversal",
                                       headers={"Authorization": f"Bearer {token}"},
                                       json={"reason": "gps_spoofing"})  # fmt: skip
    assert reversed_.status_code == 200
    assert _cells(get, res=9)[P]["trips"] == 33
    assert rebuild("--check").exit_code == 0
    # A damaged roll-up is caught, and a rebuild mends it.
    with svc.db.transaction() as session:
        session.execute(update(PlannerCell).where(PlannerCell.cell == P)
                        .values(starts=PlannerCell.starts + 5))  # fmt: skip
    damaged = rebuild("--check")
    assert damaged.exit_code == 1 and "DIFFERS" in damaged.output
    assert rebuild().exit_code == 1  # it differed, and is replaced
    assert rebuild("--check").exit_code == 0
    assert _cells(get, res=9)[P]["trips"] == 33


def test_bad_queries_name_the_field(city):
    app, _, _, _, _, headers = city()
    client = app.test_client()
    for params, field in (({"res": 10}, "res"), ({"from": "2026-13"}, "from"),
                          ({"from": "2026-05", "to": "2026-04"}, "to"), ({"hour": 24}, "hour"),
                          ({"format": "xlsx"}, "format")):  # fmt: skip
        got = client.get("/v1/aggregates/cells", headers=headers, query_string=params)
        assert got.status_code == 422 and field in got.get_json()["errors"], (params, got.json)
    assert client.get("/v1/aggregates/od", headers=headers,
                      query_string={"res": 9}).status_code == 422  # fmt: skip


def test_the_reductions_report_can_be_verified_from_its_evidence(city):
    app, svc, _, answer, start, headers = city()
    client = app.test_client()
    period = start.strftime("%Y-%m")
    report = client.get("/v1/reports/reductions", headers=headers,
                        query_string={"period": period}).get_json()  # fmt: skip
    credited = [r for r in answer["results"] if r["status"] == "credited"]
    assert report["trips"] == len(credited) == 37
    assert report["co2_g"] == sum(r["co2_g"] for r in credited)
    (line,) = report["methodologies"]
    assert (line["methodology_id"], line["trips"]) == ("sh-cycling-2025", 37)

    evidence = client.get("/v1/reports/reductions/evidence", headers=headers,
                          query_string={"period": period}).get_data(as_text=True)  # fmt: skip
    header, *lines = evidence.splitlines(keepends=True)
    assert header.startswith("trip_uid,methodology_id")
    assert hashlib.sha256("".join(lines).encode()).hexdigest() == report["digest"]
    assert line["digest"] == report["digest"]  # one methodology: the same lines
    # Each line's receipt hash is the trip's own receipt, canonical.
    with svc.db.reading() as session:
        trip = session.get(Trip, credited[0]["trip_uid"])
        receipt = hashlib.sha256(orjson.dumps(trip.receipt, option=orjson.OPT_SORT_KEYS))
    assert f"{trip.uid},sh-cycling-2025,1,{trip.co2_g},{receipt.hexdigest()}\n" in lines
    # 98 g per km (Shanghai cycling), rounded down to whole grams.
    assert trip.co2_g == int(98 * trip.distance_m / 1000)
    empty = client.get("/v1/reports/reductions", headers=headers,
                       query_string={"period": "2020-01"}).get_json()  # fmt: skip
    assert (empty["trips"], empty["methodologies"]) == (0, [])
    assert client.get("/v1/reports/reductions", headers=headers,
                      query_string={"period": "2026-1"}).status_code == 422  # fmt: skip
