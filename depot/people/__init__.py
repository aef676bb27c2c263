"""People and what they are told: users, roles and audit, alerts, maintenance, notifications.

Lives here: users and login throttling (users), alert rules (pure) and the alert store and watcher,
maintenance tickets and windows, notification channels and the people-related CLI commands.
May import: the pure core and depot.store; never ocpp, control, costs, web or layouts.
"""
