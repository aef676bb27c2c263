"""quarantine: impossible values kept for diagnosis, and sessions whose start register is unknown (issue 11 §2)

Revision ID: 0009_quarantine
Revises: 0001
Create Date: 2026-12-07 02:10:00

Its own branch from 0001 (where transactions is made); `Store.migrate()` upgrades every head.
`transactions.meter_start_unknown` is true while a session's meterStart was impossible (quarantined) and no good
register reading has come yet: the first one becomes its start (NULL on older rows: known).
"""
from alembic import op
import sqlalchemy as sa
import depot.store
from depot.store.db import BIG_ID


revision = '0009_quarantine'
down_revision = '0001'
branch_labels = ('quarantine',)
depends_on = None

UTC = depot.store.UTCDateTime


def upgrade() -> None:
    op.create_table('quarantine',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('charger_id', sa.String(length=64), nullable=False),
    sa.Column('received_at', UTC(), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=False),
    sa.Column('excerpt', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_quarantine_charger_received', 'quarantine', ['charger_id', 'received_at'])
    with op.batch_alter_table('transactions') as batch:
        batch.add_column(sa.Column('meter_start_unknown', sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('transactions') as batch:
        batch.drop_column('meter_start_unknown')
    op.drop_index('ix_quarantine_charger_received', table_name='quarantine')
    op.drop_table('quarantine')
