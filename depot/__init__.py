"""Depot charging manager: OCPP central system, joint charging planner and Dash web app for fleet depots."""

__version__ = "0.1.0"
