"""Alert notifications: e-mail (SMTP) and a webhook (JSON POST), each for the severities it is set up for.

Settings (environment, see README): DEPOT_SMTP_HOST / _PORT / _USER / _PASSWORD / _STARTTLS, DEPOT_MAIL_FROM,
DEPOT_MAIL_TO (comma-separated), DEPOT_MAIL_SEVERITIES (default "critical"), DEPOT_WEBHOOK_URL,
DEPOT_WEBHOOK_SEVERITIES (default "critical,warning"). Nothing is sent unless a host / URL is set.
Blocking I/O: `depot.people.alerts` calls `send` from a worker thread, never on the OCPP loop.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage

log = logging.getLogger(__name__)
TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Sent:
    channel: str  # "email" | "webhook"
    ok: bool
    detail: str = ""


def _set(text: str) -> set[str]:
    return {s.strip().lower() for s in (text or "").split(",") if s.strip()}


def configured(settings) -> list[str]:
    out = []
    if settings.smtp_host and settings.mail_to:
        out.append("email")
    if settings.webhook_url:
        out.append("webhook")
    return out


def channels_for(settings, severity: str) -> list[str]:
    out = []
    if "email" in configured(settings) and severity in _set(settings.mail_severities):
        out.append("email")
    if "webhook" in configured(settings) and severity in _set(settings.webhook_severities):
        out.append("webhook")
    return out


def payload(alert, site: str = "") -> dict:
    """The webhook body (and the facts of the e-mail)."""
    return {"id": alert.id, "kind": alert.kind, "title": alert.label, "severity": alert.severity,
            "status": alert.status, "charger_id": alert.charger_id, "connector_id": alert.connector_id,
            "vehicle_id": alert.vehicle_id, "message": alert.message, "count": alert.count,
            "first_seen": alert.first_seen.isoformat(), "last_seen": alert.last_seen.isoformat(), "site": site}


def email(settings, alert) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"[{settings.site_name}] {alert.severity.upper()}: {alert.label} – {alert.message}"[:200]
    msg["From"] = settings.mail_from
    msg["To"] = ", ".join(sorted(_set(settings.mail_to)))
    facts = payload(alert, settings.site_name)
    lines = [alert.message, ""] + [f"{k}: {v}" for k, v in facts.items() if v not in (None, "")]
    lines += ["", "Acknowledge it on the maintenance page (/maintenance)."]
    msg.set_content("\n".join(lines))
    return msg


def send_email(settings, alert) -> Sent:
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_S) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(email(settings, alert))
        return Sent("email", True)
    except (OSError, smtplib.SMTPException) as exc:
        log.error("alert %s: e-mail to %s via %s:%s failed: %s", alert.id, settings.mail_to, settings.smtp_host,
                  settings.smtp_port, exc)
        return Sent("email", False, str(exc))


def send_webhook(settings, alert) -> Sent:
    body = json.dumps(payload(alert, settings.site_name)).encode()
    req = urllib.request.Request(settings.webhook_url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": "depot-alerts"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310 - the operator's own URL
            return Sent("webhook", 200 <= resp.status < 300, f"HTTP {resp.status}")
    except OSError as exc:
        log.error("alert %s: webhook %s failed: %s", alert.id, settings.webhook_url, exc)
        return Sent("webhook", False, str(exc))


def send(settings, alert) -> list[Sent]:
    out = []
    for channel in channels_for(settings, alert.severity):
        out.append(send_email(settings, alert) if channel == "email" else send_webhook(settings, alert))
    return out
