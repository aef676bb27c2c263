"""password rotation: a pending password hash beside the current one (issue 11 §1, rotation over OCPP)

Revision ID: 0010_password_rotation
Revises: 0007_charger_security
Create Date: 2026-12-07 02:00:00

The next step of the charger_security branch (it alters that branch's table). While a rotation is pending (the charger accepted a new password over OCPP,
or did not answer), the handshake accepts the current and the pending password; the first handshake with the
pending one makes it the current one (`depot.store.security`). Nothing but salted hashes, as before.
"""
from alembic import op
import sqlalchemy as sa
import depot.store


revision = '0010_password_rotation'
down_revision = '0007_charger_security'
branch_labels = None
depends_on = None

UTC = depot.store.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table('charger_credentials') as batch:
        batch.add_column(sa.Column('pending_hash', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('pending_state', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('pending_at', UTC(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('charger_credentials') as batch:
        batch.drop_column('pending_at')
        batch.drop_column('pending_state')
        batch.drop_column('pending_hash')
