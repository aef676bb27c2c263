"""Configuration, read once into a frozen object.

Only this module reads the environment. Each setting has an environment variable and most have a
command-line flag of the same meaning (`python app.py --help`, `depot serve --help`); a flag wins over the
environment, the environment over the default. Tests build their own `Settings(...)`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from depot.errors import ConfigError

DEFAULT_DB_FILE = "depot.sqlite3"


def default_database_url(cwd: Path | None = None) -> str:
    base = cwd if cwd is not None else Path.cwd()
    return f"sqlite:///{(base / DEFAULT_DB_FILE).as_posix()}"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8050
    ocpp_host: str = "127.0.0.1"
    ocpp_port: int = 9000
    # the wss listener (security profiles 2 and 3) runs beside the ws one when a server certificate is given
    ocpp_tls_port: int = 9443
    ocpp_tls_cert: str = ""  # PEM server certificate (chain) file, or an RSA and an ECDSA one, comma-separated
    ocpp_tls_key: str = ""  # PEM private key of each certificate (comma-separated in the same order)
    ocpp_client_ca: str = ""  # PEM CA that signs the chargers' client certificates (profile 3)
    ocpp_public_url: str = ""  # the wss:// URL chargers reach us at (without their id): 2.0.1 SetNetworkProfile
    database_url: str = ""
    simulator: bool = True
    chargers: int = 20
    accept_unknown_chargers: bool = False
    # bounds on what a charger may send (depot/ocpp/limits.py, depot/ocpp/server.py, depot/ocpp/admission.py)
    ocpp_max_frame_bytes: int = 256 * 1024  # a bigger websocket message closes the connection (1009)
    ocpp_rate_per_s: float = 20.0  # CALLs per second per connection after the burst; faster ones wait their turn
    ocpp_rate_burst: int = 200  # (backpressure: slowed down, never refused)
    boot_deadline_s: float = 60.0  # no OCPP frame (commissioning: no BootNotification) this long: closed (1008)
    max_pending_unknown: int = 20  # commissioning: unknown connections not yet booted, at once …
    unknown_per_minute: int = 10  # … and new unknown ids per minute; beyond either the handshake gets 503
    handshake_burst: int = 10  # failed handshakes per address before new ones are held …
    handshake_refill_s: float = 3.0  # … one more every this many seconds …
    handshake_max_wait_s: float = 6.0  # … held at most this long, else 429
    allow_any_tag: bool = False
    sim_speed: float = 60.0
    sim_fault_rate: float = 0.02
    heartbeat_interval: int = 60
    response_timeout: float = 30.0
    tick_seconds: float = 15.0
    site_name: str = "Demo depot"
    grid_kw: float = 0.0  # 0: derived from the simulated depot (40 % of its chargers' power)
    secret_key: str = ""
    demo: bool = False
    # smart-charging enforcement
    site_limit_source: str = ""  # "", "simulator", "meter" (chargers marked site meter) or an http(s) URL
    building_max_kw: float = -1.0  # worst-case building load when its reading is missing; < 0: half the grid
    site_poll_seconds: float = 5.0  # real seconds between building readings
    stale_after_s: float = 120.0  # clock seconds after which a measurement is stale
    obey_tolerance_kw: float = 1.0  # drawing more than limit + this (or + 5 %) is not obeying …
    obey_grace_s: float = 120.0  # … for longer than this (clock seconds)
    profile_hours: float = 8.0  # how far ahead a TxProfile reaches
    station_max: bool = True  # send each charger a ChargePointMax/ChargingStationMax profile at its max kW
    # values that pass the schema but are impossible are quarantined (depot/ocpp/sanity.py)
    clock_skew_s: float = 900.0  # a charger's timestamp further ahead of the receive time is replaced by it
    max_backlog_s: float = 30 * 86400.0  # … and one older than this (0: only before 2000); offline queues come late
    max_connector_id: int = 32  # connector / EVSE ids above this are quarantined (no connector row)
    # people and maintenance: cookies, alert notifications (depot/people/notify.py)
    secure_cookies: bool = False  # session cookies only over HTTPS (set behind a TLS proxy)
    smtp_host: str = ""  # alert e-mail: none unless set
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    mail_from: str = "depot@localhost"
    mail_to: str = ""  # comma-separated
    mail_severities: str = "critical"  # comma-separated: critical, warning, info
    webhook_url: str = ""  # alert webhook (JSON POST): none unless set
    webhook_severities: str = "critical,warning"
    metrics_token: str = ""  # /metrics: loopback only unless set; set, any address with `Authorization: Bearer …`

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", default_database_url())
        for name in ("port", "ocpp_port", "ocpp_tls_port"):
            value = getattr(self, name)
            if not (0 <= value <= 65535):
                raise ConfigError(name, f"{value} is not a TCP port")
        if bool(self.ocpp_tls_cert) != bool(self.ocpp_tls_key):
            raise ConfigError("ocpp_tls_key" if self.ocpp_tls_cert else "ocpp_tls_cert",
                              "the wss listener needs both a certificate and its key")
        if self.ocpp_client_ca and not self.ocpp_tls_cert:
            raise ConfigError("ocpp_client_ca", "client certificates need the wss listener (--ocpp-tls-cert)")
        if self.ocpp_public_url and not self.ocpp_public_url.startswith(("ws://", "wss://")):
            raise ConfigError("ocpp_public_url", f"{self.ocpp_public_url!r}: use a wss:// (or ws://) URL")
        for name in ("ocpp_max_frame_bytes", "ocpp_rate_burst", "max_pending_unknown", "unknown_per_minute",
                     "handshake_burst"):
            if getattr(self, name) < 1:
                raise ConfigError(name, "must be ≥ 1")
        for name in ("ocpp_rate_per_s", "boot_deadline_s", "handshake_refill_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(name, "must be > 0")
        if self.chargers < 0:
            raise ConfigError("chargers", "must be ≥ 0")
        if self.sim_speed <= 0:
            raise ConfigError("sim_speed", "must be > 0")
        if not (0 <= self.sim_fault_rate <= 1):
            raise ConfigError("sim_fault_rate", "must be between 0 and 1")
        if self.heartbeat_interval <= 0:
            raise ConfigError("heartbeat_interval", "must be > 0")
        if self.tick_seconds <= 0:
            raise ConfigError("tick_seconds", "must be > 0")
        for name in ("clock_skew_s", "max_backlog_s", "max_connector_id"):  # depot/ocpp/sanity.py
            if getattr(self, name) < 0:
                raise ConfigError(name, "must be ≥ 0")
        src = self.site_limit_source
        if src not in ("", "simulator", "meter") and not src.startswith(("http://", "https://")):
            raise ConfigError("site_limit_source", f"{src!r}: use simulator, meter or an http(s) URL")

    def for_demo(self, real_heartbeat_s: float = 10.0) -> Settings:
        """The simulated depot on a compressed clock: clock-second settings scaled so that what happens every
        few real seconds (heartbeats, meter values) is neither flooding nor stale, and the demo building
        reading feeds the site limit unless another source was chosen."""
        if not self.simulator:
            return self
        speed = max(1.0, self.sim_speed)
        return replace(
            self,
            heartbeat_interval=max(self.heartbeat_interval, int(real_heartbeat_s * speed)),
            stale_after_s=max(self.stale_after_s, 30.0 * speed),
            obey_grace_s=max(self.obey_grace_s, 20.0 * speed),
            site_limit_source=self.site_limit_source or "simulator",
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            var = ENV_PREFIX + f.name.upper()
            if var in env:
                values[f.name] = _parse(f.name, f.type, env[var])
        return cls(**values)

    def with_args(self, args: argparse.Namespace) -> Settings:
        """Settings overridden by the flags given on the command line (those not None)."""
        changes = {}
        for f in fields(self):
            value = getattr(args, f.name, None)
            if value is not None:
                changes[f.name] = value
        return replace(self, **changes)


ENV_PREFIX = "DEPOT_"
# the environment name of database_url is DEPOT_DATABASE_URL (ENV_PREFIX + field name), same for the rest


def _parse(name: str, type_name: object, raw: str) -> object:
    t = str(type_name)
    try:
        if t == "bool":
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if t == "int":
            return int(raw)
        if t == "float":
            return float(raw)
    except ValueError as exc:
        raise ConfigError(ENV_PREFIX + name.upper(), f"cannot read {raw!r} as {t}") from exc
    return raw


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `python app.py` and `depot serve`; each mirrors a DEPOT_* variable."""
    parser.add_argument("--host", help="web app address (DEPOT_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="web app port (DEPOT_PORT, default 8050)")
    parser.add_argument("--ocpp-host", dest="ocpp_host", help="OCPP websocket address (DEPOT_OCPP_HOST)")
    parser.add_argument("--ocpp-port", dest="ocpp_port", type=int, help="OCPP port (DEPOT_OCPP_PORT, default 9000)")
    parser.add_argument("--ocpp-tls-port", dest="ocpp_tls_port", type=int,
                        help="OCPP wss port for security profiles 2 and 3 (DEPOT_OCPP_TLS_PORT, default 9443)")
    parser.add_argument("--ocpp-tls-cert", dest="ocpp_tls_cert", metavar="FILE",
                        help="PEM server certificate (or an RSA and an ECDSA one, comma-separated): opens the "
                             "wss listener (DEPOT_OCPP_TLS_CERT)")
    parser.add_argument("--ocpp-tls-key", dest="ocpp_tls_key", metavar="FILE",
                        help="PEM private key of each server certificate, comma-separated (DEPOT_OCPP_TLS_KEY)")
    parser.add_argument("--ocpp-client-ca", dest="ocpp_client_ca", metavar="FILE",
                        help="PEM CA of the chargers' client certificates, for profile 3 (DEPOT_OCPP_CLIENT_CA)")
    parser.add_argument("--ocpp-public-url", dest="ocpp_public_url", metavar="URL",
                        help="the wss:// URL chargers reach this server at, without their id, e.g. "
                             "wss://depot.example:9443/ocpp: sent to 2.0.1 stations raised to profile 2 or 3 "
                             "(DEPOT_OCPP_PUBLIC_URL)")
    add_db_argument(parser)
    parser.add_argument("--no-simulator", dest="simulator", action="store_const", const=False,
                        help="do not start the built-in simulated depot (DEPOT_SIMULATOR=0)")
    parser.add_argument("--chargers", type=int, help="simulated depot size (DEPOT_CHARGERS, default 20)")
    parser.add_argument("--accept-unknown-chargers", dest="accept_unknown_chargers", action="store_const",
                        const=True, help="commissioning mode: record unknown charger ids instead of refusing them")
    parser.add_argument("--max-pending-unknown", dest="max_pending_unknown", type=int, metavar="N",
                        help="commissioning mode: unknown connections waiting for their BootNotification at once "
                             "(DEPOT_MAX_PENDING_UNKNOWN, default 20; new unknown ids: DEPOT_UNKNOWN_PER_MINUTE, 10)")
    parser.add_argument("--boot-deadline-s", dest="boot_deadline_s", type=float, metavar="S",
                        help="close a connection that sends no OCPP frame (an unknown id: no BootNotification) "
                             "within S seconds (DEPOT_BOOT_DEADLINE_S, default 60)")
    parser.add_argument("--ocpp-max-frame-bytes", dest="ocpp_max_frame_bytes", type=int, metavar="BYTES",
                        help="largest websocket message from a charger; a bigger one closes it with 1009 "
                             "(DEPOT_OCPP_MAX_FRAME_BYTES, default 262144)")
    parser.add_argument("--ocpp-rate-per-s", dest="ocpp_rate_per_s", type=float, metavar="R",
                        help="CALLs per second per charger after the burst; faster ones wait their turn "
                             "(DEPOT_OCPP_RATE_PER_S, default 20; burst DEPOT_OCPP_RATE_BURST, default 200)")
    parser.add_argument("--allow-any-tag", dest="allow_any_tag", action="store_const", const=True,
                        help="accept any id tag, known or not (DEPOT_ALLOW_ANY_TAG)")
    parser.add_argument("--sim-speed", dest="sim_speed", type=float,
                        help="simulated clock speed-up (DEPOT_SIM_SPEED, default 60)")
    parser.add_argument("--tick-seconds", dest="tick_seconds", type=float,
                        help="seconds between enforcement ticks (DEPOT_TICK_SECONDS, default 15)")
    parser.add_argument("--site-limit-source", dest="site_limit_source",
                        help="building load source: simulator, meter, or an http(s) URL returning "
                             '{"building_kw": …, "pv_kw": …} (DEPOT_SITE_LIMIT_SOURCE; default none)')
    parser.add_argument("--secure-cookies", dest="secure_cookies", action="store_const", const=True,
                        help="send session cookies over HTTPS only (DEPOT_SECURE_COOKIES; behind a TLS proxy)")


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", dest="database_url",
                        help=f"SQLAlchemy database URL (DEPOT_DATABASE_URL, default sqlite:///./{DEFAULT_DB_FILE})")
