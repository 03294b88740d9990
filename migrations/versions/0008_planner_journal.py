"""Planner roll-up journals: ingestion appends what each transaction adds to the atoms (any
number of rows per atom, so concurrent writers never wait on each other's rows); a fold moves
them into planner_cells and planner_flows.

Revision ID: 0008_planner_journal
Revises: 0007_planner_rollups
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008_planner_journal"
down_revision = "0007_planner_rollups"
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
        nullable=False,
    )  # fmt: skip


def _cell(name: str) -> sa.Column:
    return sa.Column(name, sa.String(16), nullable=False)


def _atom_key() -> list[sa.Column]:
    return [
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.Column("day_type", sa.SmallInteger(), nullable=False),
    ]


def _sums(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.BigInteger(), nullable=False) for name in names]


def _riders() -> sa.Column:
    bits = postgresql.BIT(1024).with_variant(sa.LargeBinary(128), "sqlite")
    return sa.Column("riders", bits, nullable=False)


def upgrade() -> None:
    op.create_table(
        "planner_cell_journal",
        _id(),
        _cell("cell"),
        *_atom_key(),
        *(_cell(f"c{r}") for r in (5, 6, 7, 8)),
        *_sums("starts", "co2_g", "distance_m"),
        _riders(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planner_cell_journal")),
    )
    op.create_table(
        "planner_flow_journal",
        _id(),
        _cell("origin"),
        *_atom_key(),
        _cell("destination"),
        *(_cell(f"o{r}") for r in (5, 6, 7, 8)),
        *(_cell(f"d{r}") for r in (5, 6, 7)),
        *_sums("trips", "parking_judged", "parking_valid"),
        _riders(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planner_flow_journal")),
    )


def downgrade() -> None:
    op.drop_table("planner_flow_journal")
    op.drop_table("planner_cell_journal")
