"""64-bit ids for the tables that grow without end: events (the raw frames), meter_samples, charging_commands

Revision ID: 0008_bigint_ids
Revises: 0003
Create Date: 2026-12-06 22:40:00

Its own branch from 0003 (where the last of the three tables is made); `Store.migrate()` upgrades every head.
PostgreSQL only: there INTEGER is 32 bits (2.1 billion rows: the frames of a few hundred chargers fill that
within a year), and so is the sequence behind the SERIAL id. SQLite's INTEGER PRIMARY KEY is its 64-bit rowid
already: nothing to do. On a large table the ALTER rewrites it (minutes; run it in a maintenance window).
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_bigint_ids'
down_revision = '0003'
branch_labels = ('bigint_ids',)
depends_on = None

TABLES = ('events', 'meter_samples', 'charging_commands')


def _id_type(kind: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    for table in TABLES:
        op.execute(f'ALTER TABLE {table} ALTER COLUMN id TYPE {kind}')
        sequence = bind.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar()
        if sequence is not None:
            op.execute(f'ALTER SEQUENCE {sequence} AS {kind}')


def upgrade() -> None:
    _id_type('BIGINT')


def downgrade() -> None:
    _id_type('INTEGER')
