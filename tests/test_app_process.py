"""`python app.py` as an operator runs it: one process serves the web app and the OCPP server, and a signal
stops everything cleanly."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import websockets.sync.client

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_app_serves_web_and_ocpp_and_stops_cleanly_on_a_signal(tmp_path, sig):
    web, ocpp = free_port(), free_port()
    env = {**os.environ, "DEPOT_DATABASE_URL": f"sqlite:///{tmp_path / 'depot.sqlite3'}"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(web), "--ocpp-port", str(ocpp),
                             "--no-simulator"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page = requests.get(f"http://127.0.0.1:{web}/login", timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "the web app did not come up"
                time.sleep(0.3)
        assert page.status_code == 200 and "Sign in" in page.text
        assert "Server" not in page.headers or "Werkzeug" not in page.headers["Server"]  # not the debug server
        # the OCPP server is up in the same process: an unknown charger is refused at the handshake
        with pytest.raises(websockets.exceptions.InvalidStatus):
            websockets.sync.client.connect(f"ws://127.0.0.1:{ocpp}/NOBODY", subprotocols=["ocpp1.6"],
                                           open_timeout=5)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "stopped" in out and "Traceback" not in out
    assert out.count("web app on http://") == 1  # services start once: no reloader double start
