"""A small read-only JSON API for other systems (a wall display, a monitoring system): same sign-in and roles
as the pages (a session cookie), 401 when anonymous, 403 for a role that may not read it.

    GET /api/alerts[?status=active|open|acknowledged|resolved|all]   managers and maintenance staff
"""

from __future__ import annotations

from flask import Flask, jsonify, request

from depot.people import alerts
from depot.web.auth import MAINTAIN, require
from depot.web.context import services


@require(*MAINTAIN)
def api_alerts():
    status = request.args.get("status", "active")
    rows = alerts.list_alerts(services().store, status=None if status == "all" else status)
    return jsonify([{"id": a.id, "kind": a.kind, "title": a.label, "severity": a.severity, "status": a.status,
                     "charger_id": a.charger_id, "connector_id": a.connector_id, "vehicle_id": a.vehicle_id,
                     "message": a.message, "count": a.count, "first_seen": a.first_seen.isoformat(),
                     "last_seen": a.last_seen.isoformat(), "assignee": a.assignee,
                     "acknowledged_by": a.acknowledged_by} for a in rows])


def register(server: Flask) -> None:
    server.add_url_rule("/api/alerts", "depot_api_alerts", api_alerts, methods=["GET"])
