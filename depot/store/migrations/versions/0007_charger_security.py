"""charger security: each charger's security profile and password hash, and the security events (issue 11 §1)

Revision ID: 0007_charger_security
Revises: 0001
Create Date: 2026-11-23 09:00:00

Its own branch from 0001 (where the chargers table is made); `Store.migrate()` upgrades every head.
Chargers of an upgraded database get no row here: profile 1 without a password, so they are refused until
a password is set (`depot chargers set-password ID`) or a lab charger is given profile 0 on purpose.
"""
from alembic import op
import sqlalchemy as sa
import depot.store


revision = '0007_charger_security'
down_revision = '0001'
branch_labels = ('charger_security',)
depends_on = None

UTC = depot.store.UTCDateTime


def upgrade() -> None:
    op.create_table('charger_credentials',
    sa.Column('charger_id', sa.String(length=64), nullable=False),
    sa.Column('security_profile', sa.Integer(), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('password_set_at', UTC(), nullable=True),
    sa.Column('updated_at', UTC(), nullable=False),
    sa.ForeignKeyConstraint(['charger_id'], ['chargers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('charger_id'),
    )
    op.create_table('security_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', UTC(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('charger_id', sa.String(length=64), nullable=False),
    sa.Column('remote', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_security_events_charger_at', 'security_events', ['charger_id', 'at'])
    op.create_index('ix_security_events_remote_at', 'security_events', ['remote', 'at'])


def downgrade() -> None:
    op.drop_index('ix_security_events_remote_at', table_name='security_events')
    op.drop_index('ix_security_events_charger_at', table_name='security_events')
    op.drop_table('security_events')
    op.drop_table('charger_credentials')
