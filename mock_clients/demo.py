"""``greenpoints demo``: the whole system working, from one command.

By default it runs its own service on the embedded database (SQLite under ``var/demo``, no
Redis), loads the demo city, simulates ``--days`` days of ``--riders`` riders over HTTP with a
progress bar, prints a summary, and leaves the service running. With ``--url`` and an admin
client it drives any running service instead, and ``--rate`` makes it a steady load generator.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
import requests

from mock_clients import city as cities
from mock_clients.http import ClientCredentials
from mock_clients.local_service import LocalService, mint_rider_tokens
from mock_clients.report import render
from mock_clients.simulation import Settings, Simulation

DEMO_SETTINGS = {
    # Riders may spend what they earn within the demo: points mature when the job runs.
    "FRAUD_WINDOW_HOURS": "0",
    # The operators post a whole day at once, many batches a minute.
    "INGEST_REQUESTS_PER_MINUTE": "100000",
}


@click.command("demo")
@click.option("--days", type=click.IntRange(1, 28), default=7, show_default=True,
              help="simulated days, ending yesterday")  # fmt: skip
@click.option("--riders", type=click.IntRange(10, 100_000), default=3000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True, help="the same seed, the same city")
@click.option("--exit", "exit_after", is_flag=True, help="stop after the summary")
@click.option("--port", type=int, default=8000, show_default=True, help="where our service serves")
@click.option("--url", default=None, help="drive this running service instead of starting one")
@click.option("--client-id", envvar="GREENPOINTS_ADMIN_CLIENT_ID", help="admin client (--url)")
@click.option("--client-secret", envvar="GREENPOINTS_ADMIN_CLIENT_SECRET", help="its secret")
@click.option("--rate", type=float, default=None, help="at most this many trips a second")
@click.option("--summary-json", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="also write the summary here as JSON")  # fmt: skip
def demo(
    days: int,
    riders: int,
    seed: int,
    exit_after: bool,
    port: int,
    url: str | None,
    client_id: str | None,
    client_secret: str | None,
    rate: float | None,
    summary_json: Path | None,
) -> None:
    """Run the demo city: a service, operators and riders over HTTP, then a summary."""
    city = cities.load()
    service: LocalService | None = None
    var_dir = Path(os.environ.get("GREENPOINTS_VAR_DIR") or "var").resolve() / "demo"
    feeds_dir = var_dir / "gbfs"
    if url is None:
        settings = {**DEMO_SETTINGS, "STATION_TABLE": str(city.station_table),
                    "TRIP_MAX_AGE_DAYS": str(max(30, days + 2))}  # fmt: skip
        service = LocalService(var_dir, settings, port)
        click.echo(f"starting greenpoints on {service.base_url} (SQLite in {var_dir})")
        service.start()
        url = service.base_url
        client_id, client_secret = service.admin_credentials()
    elif not (client_id and client_secret):
        raise click.UsageError("--url needs an admin client: --client-id and --client-secret")
    try:
        simulation = Simulation(
            city,
            url,
            ClientCredentials(url, client_id, client_secret),  # type: ignore[arg-type]
            Settings(days=days, riders=riders, seed=seed, rate=rate),
            rider_tokens=service.rider_tokens if service else _tokens_here,
            mature=service.mature if service else None,
        )
        click.echo(f"setting up the demo city: zones, operators, licences, {riders} riders")
        simulation.set_up()
        with click.progressbar(range(days), label="simulating days", show_pos=True) as bar:
            for index in bar:
                simulation.run_day(index)
        summary = simulation.summarise()
        click.echo(render(summary))
        for key, plan in simulation.rebalance().items():
            click.echo(
                f"rebalancing {key} (next {plan['window_hours']} h): {len(plan['moves'])} truck "
                f"moves, {plan['moved_vehicles']} vehicles, {plan['vehicle_metres'] / 1000:.1f} "
                f"vehicle-km; surplus {plan['surplus_vehicles']}, deficit "
                f"{plan['deficit_vehicles']}"
            )
        feeds = simulation.publish_feeds(feeds_dir)
        click.echo(f"operators' GBFS feeds: {len(feeds)} files in {feeds_dir}")
        if summary_json is not None:
            summary_json.write_text(json.dumps(summary.as_json(), indent=1), encoding="utf-8")
        if not summary.reconciled or summary.surprises:
            click.echo("the totals do not reconcile or answers were unexpected", err=True)
            sys.exit(1)
        if service is None or exit_after:
            return
        credentials = service.var_dir / "credentials.json"
        credentials.write_text(json.dumps(simulation.credentials(), indent=1), encoding="utf-8")
        click.echo(f"\nAPI: {url}/v1 (OpenAPI: {url}/v1/openapi.json)")
        if requests.get(f"{url}/planner", timeout=10).status_code == 200:
            click.echo(f"planner map: {url}/planner (sign in with the planner client below)")
        click.echo(f"client credentials of the city admin and the operators: {credentials}")
        click.echo("serving until Ctrl-C")
        service.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if service is not None:
            service.stop()


def _tokens_here(user_ids: list[str]) -> list[str]:
    """Rider tokens from this machine's development identity provider (GREENPOINTS_VAR_DIR
    must be the served one's)."""
    return mint_rider_tokens(dict(os.environ), user_ids)
