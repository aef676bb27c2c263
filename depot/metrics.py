"""Prometheus metrics of this process (prometheus-client), served at `/metrics` by the web app.

What an operator watches: connected chargers by protocol, OCPP messages by action, direction and kind, the
time a charger's CALL waits for our answer and a CALL of ours for the charger's, the store's transaction time,
plan solve time by outcome, charging profiles sent by answer, and whether this process runs the controller.
No label carries a charger id (a depot of 10,000 chargers must not make 10,000 series per metric); the
per-charger view is the maintenance page.

Connected chargers and the controller flag are read when Prometheus scrapes (`watch`), never kept in step by
hand. Every metric is in `REGISTRY`, this process's own (not prometheus-client's global one), so a test or a
second app in the same process starts from its own numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

MESSAGES = Counter("depot_ocpp_messages", "OCPP frames by action, direction (in: from the charger) and kind "
                   "(call, result, error, invalid)", ["action", "direction", "kind"], registry=REGISTRY)
CALL_SECONDS = Histogram("depot_ocpp_call_seconds", "A CALL until its answer: direction in = a charger's CALL "
                         "until our answer is sent, out = our CALL until the charger's answer arrives",
                         ["action", "direction"], buckets=_LATENCY, registry=REGISTRY)
STORE_SECONDS = Histogram("depot_store_transaction_seconds", "One store transaction, begin to commit",
                          buckets=_LATENCY, registry=REGISTRY)
PLAN_SECONDS = Histogram("depot_plan_seconds", "One re-plan (snapshot, solve, check, store) by outcome: new, "
                         "kept (the plan in force still answers) or failed", ["outcome"],
                         buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0), registry=REGISTRY)
PROFILES = Counter("depot_charging_profiles", "SetChargingProfile sent, by the charger's answer (accepted, "
                   "rejected, failed: no answer, an error or a payload the protocol refuses)", ["answer"],
                   registry=REGISTRY)

_KNOWN_ACTIONS: set[str] = set()
MAX_ACTIONS = 200  # a charger may send any action name: beyond this many, the rest count as "other"


def action_label(action: str | None) -> str:
    """The action as a label: bounded, so hostile action names cannot grow the series without end."""
    if not action:
        return "unknown"
    if action in _KNOWN_ACTIONS:
        return action
    if len(_KNOWN_ACTIONS) >= MAX_ACTIONS or len(action) > 64 or not action.isalnum():
        return "other"
    _KNOWN_ACTIONS.add(action)
    return action


class _Live:
    """Gauges read at scrape time from the running parts of the process."""

    def __init__(self) -> None:
        self.connected: Callable[[], Mapping[str, object]] | None = None  # charger id -> protocol
        self.leader: Callable[[], bool] | None = None

    def _connected(self) -> Mapping[str, object]:
        """The event loop's map of connections, read from the scraping thread: a copy taken while the loop
        changes it fails with RuntimeError, and is taken again."""
        for _ in range(5):
            try:
                return dict(self.connected()) if self.connected else {}
            except RuntimeError:
                continue
        return {}

    def describe(self):
        return []

    def collect(self):
        connected = GaugeMetricFamily("depot_chargers_connected", "Chargers with an open OCPP connection to this "
                                      "process, by protocol", labels=["protocol"])
        counts: dict[str, int] = {}
        for protocol in self._connected().values():
            key = getattr(protocol, "value", str(protocol))
            counts[key] = counts.get(key, 0) + 1
        for protocol, n in sorted(counts.items()):
            connected.add_metric([protocol], n)
        yield connected
        yield GaugeMetricFamily("depot_controller_leader", "1 when this process runs the planner, the enforcer "
                                "and the scheduled jobs (the all-in-one always does)",
                                value=1 if self.leader and self.leader() else 0)


_LIVE = _Live()
REGISTRY.register(_LIVE)


def watch(*, connected: Callable[[], Mapping[str, object]] | None = None,
          leader: Callable[[], bool] | None = None) -> None:
    """What the live gauges read when Prometheus scrapes (the runtime calls this once it runs)."""
    if connected is not None:
        _LIVE.connected = connected
    if leader is not None:
        _LIVE.leader = leader


def exposition() -> bytes:
    """Every metric in Prometheus' text format."""
    return generate_latest(REGISTRY)
