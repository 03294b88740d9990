"""The ``greenpoints`` command: database, clients, development tokens, serving."""

from __future__ import annotations

import sys

import click

from service.settings import Settings


def _settings() -> Settings:
    return Settings.from_env()


@click.group()
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


# -- serving -------------------------------------------------------------------------------


@main.command("serve")
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--threads", type=int, default=4, show_default=True)
@click.option("--timeout", "timeout_s", type=int, default=30, show_default=True)
def serve_command(bind: str, workers: int, threads: int, timeout_s: int) -> None:
    """Serve the API under gunicorn."""
    from service.serve import serve

    settings = _settings()
    click.echo(f"greenpoints on http://{bind} (database: {settings.database_url.split(':')[0]})")
    serve(bind=bind, workers=workers, threads=threads, timeout_s=timeout_s)


if __name__ == "__main__":
    sys.exit(main())
