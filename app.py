"""The depot web app and the one process that runs everything.

`python app.py` (or `depot serve`) starts, in one process: the Dash app served by waitress, the OCPP
central system and the APScheduler runtime on one asyncio loop thread, and (unless --no-simulator) the
built-in simulated depot. Run `python app.py --help` for the flags; each has a DEPOT_* variable.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from depot.clock import DemoClock, demo_clock_start, utc_now
from depot.settings import Settings, add_server_arguments
from depot.store import Store
from depot.web import api, auth
from depot.web.context import EXTENSION, Services
from layouts import _auth_parts, _site_parts

HERE = Path(__file__).resolve().parent
DEMO_HEARTBEAT_REAL_S = 10  # the demo's chargers heartbeat every 10 real seconds, whatever the speed-up
log = logging.getLogger("depot")

NAV = [("Floor plan", "/"), ("Planner", "/planner"), ("Plan vs actual", "/audit"), ("Power", "/power"),
       ("Reports", "/reports"), ("Tariffs", "/tariffs"), ("Maintenance", "/maintenance")]


def _shell() -> html.Div:
    links = [dbc.NavItem(dbc.NavLink(label, href=href, active="exact")) for label, href in NAV
             if any(p["path"] == href for p in dash.page_registry.values()) and auth.page_allowed(auth.role(), href)]
    navbar = dbc.Navbar(
        dbc.Container([
            dbc.NavbarBrand([html.Span("⚡", className="brand-mark"), " Depot"], href="/"),
            dbc.Nav(links, navbar=True, className="me-auto"),
            html.Span(id="nav-clock", className="navbar-text small text-light"),
            _auth_parts.header_right(),
        ], fluid=True),
        color="dark", dark=True, className="mb-3", sticky="top",
    )
    return html.Div([navbar,
                     _site_parts.banner(),  # while no grid connection limit is set (issue 12 §2)
                     dbc.Container(dash.page_container, fluid=True), dcc.Location(id="url")],
                    className=f"role-{auth.role() or 'anonymous'}")  # assets/people.css hides what a role may not do


def build_app() -> dash.Dash:
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder=str(HERE / "layouts"),
        assets_folder=str(HERE / "assets"),
        # Bootstrap is vendored (assets/vendor): a depot network may have no internet, and tests must not reach it
        external_stylesheets=["/assets/vendor/bootstrap.min.css"],
        assets_ignore=r"vendor/.*",
        suppress_callback_exceptions=True,
        title="Depot charging",
        update_title=None,
    )
    app.layout = _shell
    auth.init_app(app)  # sign-in, CSRF, the request gate and page guards (depot/web/auth.py)
    api.register(app.server)  # the JSON API behind the same gate (depot/web/api.py)
    return app


app = build_app()
server = app.server


def configure(services: Services, dash_app: dash.Dash = app) -> dash.Dash:
    """Attach this process's services (settings, store, clock, runtime) to the app."""
    dash_app.server.extensions[EXTENSION] = services
    auth.configure(dash_app, services)  # signing key, secure cookies, demo users
    return dash_app


def create_app(settings: Settings, *, store: Store | None = None, clock=None) -> dash.Dash:
    """The configured app without background services (tests and WSGI servers that run them elsewhere)."""
    store = store or Store(settings.database_url)
    store.migrate()
    return configure(Services(settings, store, clock or utc_now))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python app.py", description=__doc__.splitlines()[0])
    add_server_arguments(parser)
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser.parse_args(argv)


def serve(settings: Settings, *, log_level: str = "INFO") -> int:
    """Run the whole product until SIGINT/SIGTERM; everything started here is stopped here."""
    import waitress

    from depot.people import demo_accounts
    from depot.runtime import Runtime

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log_level.upper() != "DEBUG":  # every frame and every job run is DEBUG detail, not news
        for noisy in ("ocpp", "depot.ocpp.frames", "depot.ocpp.websocket", "apscheduler", "websockets",
                      "waitress.queue", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = settings.for_demo(DEMO_HEARTBEAT_REAL_S)  # a no-op without the simulator
    store = Store(settings.database_url)
    store.migrate()
    clock = utc_now
    if settings.simulator:
        clock = DemoClock(demo_clock_start(store.latest_timestamp(), utc_now()), settings.sim_speed)
    runtime = Runtime(settings, store, clock=clock)
    configure(Services(settings, store, clock, runtime))  # makes the demo's users, or retires them
    refusal = demo_accounts.published_password_refusal(
        store, [("web app (--host)", settings.host), ("OCPP server (--ocpp-host)", settings.ocpp_host)])
    if refusal:  # before anything listens: a published demo password never faces the network (issue 11)
        log.error(refusal)
        store.dispose()
        return 2

    try:
        wsgi = waitress.create_server(server, host=settings.host, port=settings.port, threads=8)
    except OSError as exc:
        log.error("cannot serve the web app on %s:%s: %s (is another depot running? try --port)",
                  settings.host, settings.port, exc.strerror)
        return 1

    def _stop(signum, _frame):
        log.info("signal %s: shutting down", signal.Signals(signum).name)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    runtime.start()
    log.info("web app on http://%s:%s  OCPP on ws://%s:%s/<charger id>%s", settings.host, wsgi.effective_port,
             settings.ocpp_host, runtime.ocpp_port, "  (simulated depot running)" if settings.simulator else "")
    try:
        wsgi.run()
    except SystemExit:
        pass
    finally:
        wsgi.close()
        runtime.stop()
        store.dispose()
        log.info("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings.from_env().with_args(args)
    return serve(settings, log_level=args.log_level)


if __name__ == "__main__":
    sys.exit(main())
