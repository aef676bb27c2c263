"""site defaults: the default departure of vehicles plugged in without one (issue 12 §2)

Revision ID: 0006_site_default_departure
Revises: 0001
Create Date: 2026-11-22 09:00:00

Its own branch from 0001 (where the site table is made); `Store.migrate()` upgrades every head. NULL, the
default, means: a vehicle without a departure charges now, at what the site allows after the planned ones.
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_site_default_departure'
down_revision = '0001'
branch_labels = ('site_defaults',)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('site') as batch:
        batch.add_column(sa.Column('default_departure', sa.Time(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('site') as batch:
        batch.drop_column('default_departure')
