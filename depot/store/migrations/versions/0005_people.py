"""people and maintenance: users, login attempts, audit log, app secret, alerts, tickets, maintenance windows

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-21 09:00:00

Its own branch from 0002 (other features add 0003 and 0004 on theirs); `Store.migrate()` upgrades every head.
"""
from alembic import op
import sqlalchemy as sa
import depot.store


revision = '0005'
down_revision = '0002'
branch_labels = ('people',)
depends_on = None

UTC = depot.store.UTCDateTime


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('session_version', sa.Integer(), nullable=False),
    sa.Column('created_at', UTC(), nullable=False),
    sa.Column('last_login_at', UTC(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    )
    op.create_table('login_attempts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', UTC(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_login_attempts_name_at', 'login_attempts', ['name', 'at'])
    op.create_index('ix_login_attempts_ip_at', 'login_attempts', ['ip', 'at'])
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', UTC(), nullable=False),
    sa.Column('who', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=128), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('result', sa.String(length=500), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_log_at', 'audit_log', ['at'])
    op.create_index('ix_audit_log_target', 'audit_log', ['target'])
    op.create_table('app_secrets',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('name'),
    )
    op.create_table('alerts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('charger_id', sa.String(length=64), nullable=True),
    sa.Column('connector_id', sa.Integer(), nullable=True),
    sa.Column('vehicle_id', sa.String(length=64), nullable=True),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('first_seen', UTC(), nullable=False),
    sa.Column('last_seen', UTC(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('assignee', sa.String(length=64), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=64), nullable=True),
    sa.Column('acknowledged_at', UTC(), nullable=True),
    sa.Column('ack_note', sa.String(length=500), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.Column('resolved_at', UTC(), nullable=True),
    sa.Column('resolve_note', sa.String(length=500), nullable=True),
    sa.Column('notified_severity', sa.String(length=16), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_alerts_key_status', 'alerts', ['key', 'status'])
    op.create_index('ix_alerts_status_kind', 'alerts', ['status', 'kind'])
    op.create_index('ix_alerts_charger', 'alerts', ['charger_id'])
    op.create_table('tickets',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('charger_id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('assignee', sa.String(length=64), nullable=True),
    sa.Column('alert_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTC(), nullable=False),
    sa.Column('updated_at', UTC(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_tickets_charger_id', 'tickets', ['charger_id'])
    op.create_table('ticket_notes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('at', UTC(), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_ticket_notes_ticket_id', 'ticket_notes', ['ticket_id'])
    op.create_table('maintenance_windows',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('charger_id', sa.String(length=64), nullable=False),
    sa.Column('start', UTC(), nullable=False),
    sa.Column('end', UTC(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTC(), nullable=False),
    sa.Column('start_result', sa.String(length=200), nullable=True),
    sa.Column('end_result', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_windows_charger_start', 'maintenance_windows', ['charger_id', 'start'])
    op.create_index('ix_windows_state', 'maintenance_windows', ['state'])


def downgrade() -> None:
    for table in ('maintenance_windows', 'ticket_notes', 'tickets', 'alerts', 'app_secrets', 'audit_log',
                  'login_attempts', 'users'):
        op.drop_table(table)
