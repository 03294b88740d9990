"""Methodologies in the service: published over HTTP, checked at start-up, recomputed."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from click.testing import CliRunner

from methodologies.calculate import TripFacts, calculate
from methodologies.loader import MethodologyError
from methodologies.registry import SHIPPED
from service.app import create_app
from service.cli import main
from service.persistence.ledger_models import LedgerTransaction
from service.usecases import crediting, ledger_ops
from tests.factories import open_rider


def test_every_version_is_published_with_its_source(client):
    body = client.get("/v1/methodologies").get_json()
    assert body["city"] == "shanghai"
    assert len(body["methodologies"]) == 9
    cycling = next(m for m in body["methodologies"] if m["id"] == "sh-cycling-2025")
    assert cycling["factors"]["reduction_g"] == "98"
    assert cycling["source"]["quote"] == "每骑行一公里，可减少98克"
    assert cycling["in_use_for"] == ["bike"]
    ebike = client.get("/v1/methodologies/mt-ebike-2022-metro-city").get_json()
    only = ebike["methodologies"][0]
    assert (only["factors"]["baseline_g"], only["factors"]["project_g"]) == ("61.03", "7.02")
    assert only["pollutants_g"] == {"co": "0.336", "hc": "0.029", "nox": "0.024", "pm": "0.009"}
    missing = client.get("/v1/methodologies/nope")
    assert missing.status_code == 404 and missing.content_type == "application/problem+json"


def test_a_broken_file_stops_start_up_naming_file_and_field(tmp_path, database_url):
    broken = tmp_path / "methodologies"
    shutil.copytree(SHIPPED, broken)
    path = broken / "sh-bus-2025-v1.toml"
    path.write_text(path.read_text().replace("reduction = 422", "reduction = -422"))
    with pytest.raises(MethodologyError, match=r"sh-bus-2025-v1.toml: factors.reduction"):
        create_app({"database_url": database_url, "var_dir": tmp_path, "methodologies_dir": broken})


# -- recompute --------------------------------------------------------------------------------

OCT_30 = dt.datetime(2026, 10, 30, 1, 0, tzinfo=dt.UTC)
NOV_03 = dt.datetime(2026, 11, 3, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def versions_dir(tmp_path):
    directory = tmp_path / "methodologies"
    shutil.copytree(SHIPPED, directory)
    return directory


def _publish_v2(directory, factor):
    """A revised cycling factor from 1 Nov 2026: v1 is closed the day v2 starts."""
    v1 = directory / "sh-cycling-2025-v1.toml"
    original = v1.read_text()
    closed = "valid_from = 2025-01-01\nvalid_to = 2026-11-01"
    v1.write_text(original.replace("valid_from = 2025-01-01", closed))
    v2 = (
        original.replace("version = 1", "version = 2")
        .replace("valid_from = 2025-01-01", "valid_from = 2026-11-01")
        .replace("reduction = 98", f"reduction = {factor}")
    )
    (directory / "sh-cycling-2025-v2.toml").write_text(v2)


def _ride(svc, account_id, ended_at, distance_m):
    context = svc.methodologies
    local_day = ended_at.astimezone(context.city.zone).date()
    result = calculate(context.registry, context.city, TripFacts("bike", local_day, distance_m))
    trip, _ = crediting.record_accepted_trip(svc.db, svc.policy, facts={
        "operator_id": "op_test", "operator_trip_id": f"t-{ended_at:%m%d}-{distance_m}",
        "account_id": account_id, "mode": "bike", "distance_m": distance_m,
        "started_at": ended_at - dt.timedelta(minutes=15), "ended_at": ended_at,
        "co2_g": result.co2_g, "pollutants_mg": result.pollutants_mg, "receipt": result.receipt,
    })  # fmt: skip
    return trip


def _cli(database_url, tmp_path, directory, *args):
    env = {"DATABASE_URL": database_url, "GREENPOINTS_VAR_DIR": str(tmp_path / "var"),
           "METHODOLOGIES_DIR": str(directory)}  # fmt: skip
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_recompute_shows_the_diff_and_applies_it_once(make_app, database_url, tmp_path,
                                                      versions_dir):  # fmt: skip
    svc = make_app(methodologies_dir=versions_dir).extensions["greenpoints"]
    _, account_id = open_rider(svc)
    october = _ride(svc, account_id, OCT_30, 5000)  # 98 x 5 = 490 g under v1
    november = _ride(svc, account_id, NOV_03, 5000)  # 490 g under v1, before v2 existed
    assert (october.co2_g, november.co2_g) == (490, 490)

    _publish_v2(versions_dir, 95)  # 95 x 5 = 475 g
    args = ("methodologies", "recompute", "--id", "sh-cycling-2025",
            "--from", "2026-10-01", "--to", "2026-11-30")  # fmt: skip
    dry = _cli(database_url, tmp_path, versions_dir, *args)
    assert (
        f"{november.uid}\t2026-11-03\tsh-cycling-2025@1 -> @2\t490 g -> 475 g\t-15 g, -15 points"
        in dry
    )
    assert october.uid not in dry  # still under v1: nothing changes
    assert "examined 2 trips; 1 would change" in dry
    assert "total -15 g, -15 points" in dry

    applied = _cli(database_url, tmp_path, versions_dir, *args, "--apply")
    assert "posted -15 points" in applied
    again = _cli(database_url, tmp_path, versions_dir, *args, "--apply")
    assert "examined 2 trips; 0 applied" in again

    with svc.db.transaction() as session:
        adjustments = session.query(LedgerTransaction).filter_by(kind="adjustment").all()
        assert [t.id for t in adjustments] == [f"debit:recompute:{november.uid}:sh-cycling-2025@2"]
        from service.persistence.rider_models import Trip

        updated = session.get(Trip, november.uid)
        assert (updated.co2_g, updated.points, updated.methodology_version) == (475, 475, 2)
        assert updated.receipt["supersedes"]["co2_g"] == 490
        assert updated.receipt["formula"] == "95 g/pkm x 5 pkm = 475 g"
    assert ledger_ops.verify(svc.db, svc.policy) == ([], [])


def test_recompute_upwards_credits_the_difference(make_app, database_url, tmp_path,
                                                  versions_dir):  # fmt: skip
    svc = make_app(methodologies_dir=versions_dir).extensions["greenpoints"]
    _, account_id = open_rider(svc)
    trip = _ride(svc, account_id, NOV_03, 2350)  # 98 x 2.35 = 230.3 -> 230 g
    _publish_v2(versions_dir, 100)  # 100 x 2.35 = 235 g
    args = ("methodologies", "recompute", "--id", "sh-cycling-2025",
            "--from", "2026-11-01", "--to", "2026-11-30", "--apply")  # fmt: skip
    output = _cli(database_url, tmp_path, versions_dir, *args)
    assert "230 g -> 235 g\t+5 g, +5 points, posted +5 points" in output
    _cli(database_url, tmp_path, versions_dir, *args)
    with svc.db.transaction() as session:
        credits = session.query(LedgerTransaction).filter_by(trip_uid=trip.uid).all()
        assert sorted(t.id for t in credits) == [
            f"credit:recompute:{trip.uid}:sh-cycling-2025@2",
            f"credit:trip:{trip.uid}",
        ]
    assert ledger_ops.verify(svc.db, svc.policy) == ([], [])
