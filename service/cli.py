"""The ``greenpoints`` command: database, clients, development tokens, serving."""

from __future__ import annotations

import datetime as dt
import sys
from importlib.metadata import entry_points

import click

from service.settings import Settings


def _settings() -> Settings:
    return Settings.from_env()


PLUGIN_GROUP = "greenpoints.commands"


class _WithPlugins(click.Group):
    """The service's own commands, plus those other installed parts of the project declare
    under the entry-point group ``greenpoints.commands`` (the demo lives in mock_clients,
    which the service itself never imports); they are loaded only when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *entry_points(group=PLUGIN_GROUP).names})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        own = super().get_command(ctx, cmd_name)
        if own is not None:
            return own
        found = entry_points(group=PLUGIN_GROUP, name=cmd_name)
        return next(iter(found)).load() if found else None


@click.group(cls=_WithPlugins)
def main() -> None:
    """greenpoints: green-mobility carbon points service."""


# -- database ------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Bring the database (DATABASE_URL) up to REVISION (default: head)."""
    from service.persistence import migrate

    url = _settings().database_url
    migrate.upgrade(url, revision)
    click.echo(f"database at {migrate.current_revision(url)}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Take the database down to REVISION ("base" empties it)."""
    from service.persistence import migrate

    url = _settings().database_url
    migrate.downgrade(url, revision)
    click.echo(f"database at {migrate.current_revision(url) or 'base'}")


@db.command("current")
def db_current() -> None:
    """Print the revision the database is at."""
    from service.persistence import migrate

    click.echo(migrate.current_revision(_settings().database_url) or "base")


# -- clients -------------------------------------------------------------------------------


@main.group()
def clients() -> None:
    """API clients (operators, planners, admins)."""


@clients.command("create")
@click.option("--kind", type=click.Choice(["operator", "planner", "admin"]), required=True)
@click.option("--name", required=True, help="who the client is, e.g. the operator's name")
def clients_create(kind: str, name: str) -> None:
    """Create a client and print its id and secret (the secret is shown this once)."""
    from service.auth.clients import create_client
    from service.persistence.database import Database

    database = Database.from_url(_settings().database_url)
    created = create_client(database, kind=kind, name=name)
    click.echo(f"client_id={created.client_id}")
    click.echo(f"client_secret={created.secret}")
    click.echo(f"scopes={' '.join(created.scopes)}")
    database.dispose()


@clients.command("list")
def clients_list() -> None:
    """List clients: id, kind, name, and whether revoked."""
    from service.auth.clients import list_clients
    from service.persistence.database import Database

    database = Database.from_url(_settings().database_url)
    for client in list_clients(database):
        state = f"revoked {client.revoked_at.isoformat()}" if client.revoked_at else "active"
        click.echo(f"{client.client_id}\t{client.kind}\t{client.name}\t{state}")
    database.dispose()


@clients.command("revoke")
@click.argument("client_id")
def clients_revoke(client_id: str) -> None:
    """Revoke a client's secret."""
    from service.auth.clients import revoke_client
    from service.errors import NotFound
    from service.persistence.database import Database

    database = Database.from_url(_settings().database_url)
    try:
        revoke_client(database, client_id)
    except NotFound as exc:
        raise click.ClickException(exc.detail) from exc
    finally:
        database.dispose()
    click.echo(f"revoked {client_id}")


# -- tokens --------------------------------------------------------------------------------


@main.group()
def tokens() -> None:
    """Development tokens."""


@tokens.command("rider")
@click.argument("user_ids", nargs=-1, required=True)
@click.option(
    "--ttl",
    "ttl_s",
    type=int,
    default=30 * 24 * 3600,
    show_default=True,
    help="lifetime in seconds",
)
def tokens_rider(user_ids: tuple[str, ...], ttl_s: int) -> None:
    """Mint rider tokens with the development identity provider's key, one per line."""
    from service.container import build_token_service
    from service.errors import Unauthenticated

    service = build_token_service(_settings())
    try:
        for user_id in user_ids:
            click.echo(service.mint_rider_token(user_id, ttl_s=ttl_s))
    except Unauthenticated as exc:
        raise click.ClickException(exc.detail) from exc


# -- ledger --------------------------------------------------------------------------------


def _services():
    from service.container import build_services

    return build_services(_settings())


@main.group()
def ledger() -> None:
    """The points ledger: maturing, verification, reversals."""


@ledger.command("mature")
def ledger_mature() -> None:
    """Make pending points available once past the fraud window; void stale redemption holds.

    Safe to run from cron, twice, or concurrently: each step happens exactly once.
    """
    from service.usecases import ledger_ops, mall

    svc = _services()
    matured = ledger_ops.mature_due(svc.db, svc.policy)
    voided = mall.settle_stale_redemptions(svc.db, svc.policy)
    click.echo(f"matured {matured} credits; voided {voided} stale redemption holds")
    svc.db.dispose()


@ledger.command("verify")
def ledger_verify() -> None:
    """Prove every cached balance equals the sum of its entries and every transaction sums
    to zero; exit 1 otherwise."""
    from service.usecases import ledger_ops

    svc = _services()
    discrepancies, unbalanced = ledger_ops.verify(svc.db, svc.policy)
    svc.db.dispose()
    for d in discrepancies:
        click.echo(f"MISMATCH {d.account_id} {d.bucket}: cached {d.cached}, entries {d.summed}")
    for transaction_id in unbalanced:
        click.echo(f"UNBALANCED transaction {transaction_id}")
    if discrepancies or unbalanced:
        raise SystemExit(1)
    click.echo("ledger ok: every balance equals its entries; every transaction sums to zero")


@ledger.command("reverse")
@click.argument("trip_uid")
@click.option("--reason", required=True, help="a short code, e.g. gps_spoofing")
def ledger_reverse(trip_uid: str, reason: str) -> None:
    """Reverse a trip's credit for fraud with a compensating entry."""
    from service.errors import ServiceError
    from service.usecases import crediting

    svc = _services()
    try:
        result = crediting.reverse_trip(svc.db, svc.policy, trip_uid, reason=reason)
    except ServiceError as exc:
        raise click.ClickException(exc.detail) from exc
    finally:
        svc.db.dispose()
    click.echo(f"{result['reversal_id']}: {result['points']} points taken back")


# -- catalog -------------------------------------------------------------------------------


@main.group()
def catalog() -> None:
    """The points mall's items and donation projects."""


@catalog.command("add")
@click.option("--id", "item_id", required=True)
@click.option("--kind", type=click.Choice(["coupon", "transit_credit", "donation"]), required=True)
@click.option("--title", required=True)
@click.option("--cost", "cost_points", type=int, required=True, help="points per unit")
@click.option("--stock", type=int, default=None, help="units on offer (omit: unlimited)")
def catalog_add(item_id: str, kind: str, title: str, cost_points: int, stock: int | None) -> None:
    """Add an item, e.g. a tree: --kind donation --cost 17900."""
    from service.errors import ServiceError
    from service.usecases import mall

    svc = _services()
    try:
        mall.add_item(svc.db, mall.NewItem(item_id, kind, title, cost_points, stock))
    except ServiceError as exc:
        raise click.ClickException(exc.detail) from exc
    finally:
        svc.db.dispose()
    click.echo(f"added {item_id}")


@catalog.command("list")
def catalog_list() -> None:
    """List items: id, kind, cost, stock, title."""
    from service.usecases import mall

    svc = _services()
    for item in mall.catalog(svc.db, include_inactive=True):
        stock = "unlimited" if item["stock"] is None else item["stock"]
        state = "" if item["active"] else " (withdrawn)"
        click.echo(
            f"{item['item_id']}\t{item['kind']}\t{item['cost_points']}\t{stock}\t"
            f"{item['title']}{state}"
        )
    svc.db.dispose()


# -- methodologies -------------------------------------------------------------------------


@main.group()
def methodologies() -> None:
    """Reduction methodologies: list, check, recompute."""


def _methodology_context():  # imports stay lazy for a fast CLI
    from service.container import load_methodologies

    return load_methodologies(_settings())


@methodologies.command("check")
def methodologies_check() -> None:
    """Load and cross-check every methodology file and the city profile; exit 1 on an error."""
    context = _methodology_context()
    versions = context.registry.all()
    stations = "a station table" if context.stations else "no station table"
    click.echo(f"{len(versions)} methodology versions ok; city {context.city.key} with {stations}")


@methodologies.command("list")
def methodologies_list() -> None:
    """Every version: id, version, mode, factor, validity, status; * marks the city's choice."""
    context = _methodology_context()
    used = set(context.city.methodologies.values())
    for m in context.registry.all():
        mark = "*" if m.id in used else " "
        until = m.valid_to.isoformat() if m.valid_to else "open"
        unit = m.unit.removeprefix("g_")
        click.echo(f"{mark} {m.id}@{m.version}\t{m.mode}\t{m.factors.reduction} g {unit}\t"
                   f"{m.valid_from.isoformat()}..{until}\t{m.status}")  # fmt: skip


@methodologies.command("recompute")
@click.option("--id", "methodology_id", required=True)
@click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--apply", "apply_changes", is_flag=True, help="post the compensations")
def methodologies_recompute(
    methodology_id: str, date_from: dt.datetime, date_to: dt.datetime, apply_changes: bool
) -> None:
    """Show, trip by trip and in total, what the version now in force changes for credited
    trips ended FROM..TO (local dates, inclusive); --apply posts the differences."""
    from service.usecases.recompute import recompute

    svc = _services()
    report = recompute(
        svc.db, svc.policy, svc.methodologies, methodology_id=methodology_id,
        date_from=date_from.date(), date_to=date_to.date(), apply_changes=apply_changes,
    )  # fmt: skip
    svc.db.dispose()
    for c in report.changes:
        posted = "" if c.posted_points is None else f", posted {c.posted_points:+d} points"
        versions = f"{methodology_id}@{c.old_version} -> @{c.new_version}"
        grams = f"{c.old_co2_g} g -> {c.new_co2_g} g"
        delta = f"{c.new_co2_g - c.old_co2_g:+d} g, {c.delta_points:+d} points{posted}"
        click.echo(f"{c.trip_uid}\t{c.trip_date}\t{versions}\t{grams}\t{delta}")
    skipped = ", ".join(f"{k}: {v}" for k, v in sorted(report.skipped.items())) or "none"
    verb = "applied" if apply_changes else "would change (dry run; --apply to post)"
    totals = f"total {report.delta_g:+d} g, {report.delta_points:+d} points"
    click.echo(f"examined {report.examined} trips; {len(report.changes)} {verb}; {totals}; "
               f"skipped: {skipped}")  # fmt: skip


# -- planner aggregates ----------------------------------------------------------------------


@main.group()
def aggregates() -> None:
    """Planner roll-ups."""


@aggregates.command("rebuild")
@click.option("--check", "check_only", is_flag=True, help="compare only; change nothing")
def aggregates_rebuild(check_only: bool) -> None:
    """Count every credited trip again and compare with the roll-ups kept at ingestion; without
    --check, replace them by the recount. Exit 1 when they differed."""
    from service.planner.store import rebuild

    svc = _services()
    report = rebuild(svc.db, svc.policy.zone, apply=not check_only)
    svc.db.dispose()
    differing = len(report.differing_cells) + len(report.differing_flows)
    click.echo(f"{report.cells} cell atoms and {report.flows} flow atoms from raw trips; "
               f"{differing} differ from the kept roll-ups")  # fmt: skip
    for key in [*report.differing_cells, *report.differing_flows][:20]:
        click.echo(f"DIFFERS {' '.join(map(str, key))}")
    if differing:
        if not check_only:
            click.echo("replaced the roll-ups by the recount")
        raise SystemExit(1)
    click.echo("roll-ups match the raw trips")


# -- rebalancing ---------------------------------------------------------------------------


@main.group()
def rebalancing() -> None:
    """Fleet rebalancing: truck moves between dispatch units."""


@rebalancing.command("plan")
@click.option("--operator", "operator_id", required=True, help="the operator's client id")
@click.option("--truck-capacity", type=click.IntRange(1, 500), default=None,
              help="vehicles per truck run (default: TRUCK_CAPACITY)")  # fmt: skip
def rebalancing_plan(operator_id: str, truck_capacity: int | None) -> None:
    """Print the moves GET /v1/rebalancing/recommendations gives the operator now."""
    from service.fleet.positions import position_store
    from service.usecases.rebalancing import RebalancingRules, recommend

    svc = _services()
    rules = RebalancingRules.from_settings(svc.settings)
    plan = recommend(
        svc.db, position_store(svc.db, svc.store), rules, rules.units(operator_id, svc.zones),
        operator_id, dt.datetime.now(dt.UTC), truck_capacity,
    )  # fmt: skip
    svc.db.dispose()
    for move in plan["moves"]:
        click.echo(f"{move['from_unit']} -> {move['to_unit']}\t{move['vehicles']} vehicles\t"
                   f"{move['distance_m']} m")  # fmt: skip
    units = "parking zones" if plan["units"] == "parking_zones" else f"H3 res {plan['resolution']}"
    click.echo(
        f"{len(plan['moves'])} moves, {plan['moved_vehicles']} vehicles, "
        f"{plan['vehicle_metres']} vehicle-metres; surplus {plan['surplus_vehicles']}, "
        f"deficit {plan['deficit_vehicles']} ({units}, next "
        f"{plan['window_hours']} h, {plan['truck_capacity']} per truck)"
    )


# -- serving -------------------------------------------------------------------------------


@main.command("serve")
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--threads", type=int, default=4, show_default=True)
@click.option("--timeout", "timeout_s", type=int, default=30, show_default=True)
@click.option("--access-log/--no-access-log", default=True, show_default=True)
def serve_command(bind: str, workers: int, threads: int, timeout_s: int, access_log: bool) -> None:
    """Serve the API under gunicorn."""
    from service.serve import serve

    settings = _settings()
    _services().db.dispose()  # refuse a bad configuration here, before any worker starts
    click.echo(f"greenpoints on http://{bind} (database: {settings.database_url.split(':')[0]})")
    serve(bind=bind, workers=workers, threads=threads, timeout_s=timeout_s, access_log=access_log)


def run() -> None:
    """Entry point: configuration mistakes end with one clear line, not a traceback."""
    from methodologies.loader import MethodologyError
    from service.settings import SettingsError

    try:
        main()
    except (MethodologyError, SettingsError) as exc:
        click.echo(f"greenpoints: configuration error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    run()
