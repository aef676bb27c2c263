"""Talking to chargers: the OCPP 1.6J and 2.0.1 central system.

Lives here: the shared charge-point base, the per-version handlers, value parsing, the websocket server
and remote commands sent from the pages.
May import: the pure core, depot.store and depot.people (audit); never control, web or layouts.
"""
