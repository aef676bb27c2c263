"""A small read-only JSON API for other systems (a wall display, a monitoring system): same sign-in and roles
as the pages (a session cookie), 401 when anonymous, 403 for a role that may not read it.

    GET /api/alerts[?status=active|open|acknowledged|resolved|all]   managers and maintenance staff
    GET /metrics   Prometheus (depot.metrics): from loopback, or with `Authorization: Bearer DEPOT_METRICS_TOKEN`
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import Flask, Response, jsonify, request

from depot import metrics
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


def _loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def prometheus_metrics():
    """The process's metrics for a Prometheus scraper. Without a token configured only a scraper on this machine
    may read them (they tell a stranger how busy the depot is); with one, any address that presents it."""
    token = services().settings.metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return Response("metrics: send Authorization: Bearer <DEPOT_METRICS_TOKEN>\n", status=401,
                            mimetype="text/plain", headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    elif not _loopback(request.remote_addr):
        return Response("metrics: only from this machine unless DEPOT_METRICS_TOKEN is set\n", status=403,
                        mimetype="text/plain")
    return Response(metrics.exposition(), mimetype=metrics.CONTENT_TYPE)


def register(server: Flask) -> None:
    server.add_url_rule("/api/alerts", "depot_api_alerts", api_alerts, methods=["GET"])
    server.add_url_rule("/metrics", "depot_metrics", prometheus_metrics, methods=["GET"])
