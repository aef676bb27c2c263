"""site: whether the grid connection limit was sized by the demo (issue 13 §3)

Revision ID: 0011_site_grid_by_demo
Revises: 0006_site_default_departure
Create Date: 2026-12-07 07:00:00

A demo restarted on a used database with another number of chargers sizes the site for the depot it now
simulates, unless a person set the limit (the Site page, `depot site --grid-kw`, `--grid-kw`). Sites made
before this column: marked as the demo's when the limit is exactly what the demo would have chosen (40 % of
the simulated DepotSim chargers' power), which a limit set by hand matches only by coincidence.
"""
from alembic import op
import sqlalchemy as sa


revision = '0011_site_grid_by_demo'
down_revision = '0006_site_default_departure'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('site') as batch:
        batch.add_column(sa.Column('grid_by_demo', sa.Boolean(), nullable=False, server_default=sa.false()))
    bind = op.get_bind()
    total = bind.execute(sa.text("SELECT COALESCE(SUM(max_kw), 0) FROM chargers "
                                 "WHERE vendor = 'DepotSim' AND NOT site_meter")).scalar() or 0
    if total > 0:
        bind.execute(sa.text("UPDATE site SET grid_by_demo = :t WHERE abs(grid_kw - :kw) < 0.05"),
                     {"t": True, "kw": round(0.4 * float(total), 1)})


def downgrade() -> None:
    with op.batch_alter_table('site') as batch:
        batch.drop_column('grid_by_demo')
