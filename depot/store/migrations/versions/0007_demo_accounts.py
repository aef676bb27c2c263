"""demo accounts: users.demo marks the accounts the demo made with a published password (issue 11 §2b)

Revision ID: 0007_demo_accounts
Revises: 0005
Create Date: 2026-11-22 10:00:00

Its own branch from 0005 (where the users table is made); `Store.migrate()` upgrades every head. Accounts
the demo made before this column existed are marked from the audit log, which records each one as added
by "demo" (`depot.people.demo_accounts` retires them when the server starts without the simulator).
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_demo_accounts'
down_revision = '0005'
branch_labels = ('demo_accounts',)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('demo', sa.Boolean(), nullable=False, server_default=sa.false()))
    users = sa.table('users', sa.column('name', sa.String), sa.column('demo', sa.Boolean))
    audit = sa.table('audit_log', sa.column('who', sa.String), sa.column('action', sa.String),
                     sa.column('target', sa.String))
    bind = op.get_bind()
    made = bind.execute(sa.select(audit.c.target).where(audit.c.who == 'demo', audit.c.action == 'user.add'))
    names = sorted({t[len('user:'):] for (t,) in made if t and t.startswith('user:')})
    if names:
        bind.execute(users.update().where(users.c.name.in_(names)).values(demo=True))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('demo')
