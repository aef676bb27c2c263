"""A throwaway PostgreSQL server for the suite: `initdb` into a temporary directory, `pg_ctl start` on a free
loopback port, one database per test, `pg_ctl stop` and the directory removed at the end.

PostgreSQL refuses to run as root, so under root the server runs as Debian's `postgres` system user
(`runuser -u postgres --`) in a directory that user owns; a non-root developer runs it as themselves. The
server listens on 127.0.0.1 only (and a socket in its own directory), with password authentication; the
tests connect as `depot`, an ordinary role that owns its database (as in production), not as the superuser.
fsync is off: the durability tests kill the central system, never PostgreSQL, and what a committed
transaction wrote is in the server either way.

A server whose pytest process died without stopping it (SIGKILL, a power cut of the session) is stopped and
removed by the next `start()`: every directory names the process that owns it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = "install Debian's PostgreSQL: `apt-get install postgresql` (`make test` does it when root)"
RUN_AS = "postgres"  # the system user Debian's postgresql package creates
PREFIX = "depot-pg-"
USER = "depot"


def find_bindir() -> Path | None:
    """The directory holding `initdb` and `pg_ctl`: $DEPOT_PG_BINDIR, the PATH, Debian's
    /usr/lib/postgresql/<version>/bin (newest first), then `pg_config --bindir`."""
    candidates: list[Path] = []
    if os.environ.get("DEPOT_PG_BINDIR"):
        candidates.append(Path(os.environ["DEPOT_PG_BINDIR"]))
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(p) for p in sorted(versions, key=_version, reverse=True)]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def _version(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path)) or (0,)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _started_at(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/<pid>/stat): a pid with another start time is reused."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@dataclass
class PostgresServer:
    bindir: Path
    root: Path  # the temporary directory: data/, the socket, the log, the owner file
    port: int
    password: str
    owner: str | None  # the system user the server runs as (None: this process's user)
    _numbers: int = 0
    _templates: set[str] = field(default_factory=set)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str, *, user: str = USER) -> str:
        return f"postgresql+psycopg://{user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _admin(self):
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", password=self.password,
                               dbname="postgres", autocommit=True, connect_timeout=10)

    def create_database(self, *, template: str | None = None) -> tuple[str, str]:
        """A new database owned by `depot` (empty, or a copy of `template`): its name and SQLAlchemy URL."""
        self._numbers += 1
        name = f"test_{os.getpid()}_{self._numbers}"
        copy = f' TEMPLATE "{template}"' if template else ""
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"{copy} OWNER {USER}')
        return name, self.url(name)

    def template(self, name: str, fill: Callable[[str], None]) -> str:
        """A database `fill(url)` prepared once (the migrated schema), for `create_database(template=name)`
        to copy in milliseconds: `fill` must close its connections (a template being copied has none)."""
        if name not in self._templates:
            with self._admin() as conn:
                conn.execute(f'CREATE DATABASE "{name}" OWNER {USER}')
            try:
                fill(self.url(name))
            except BaseException:  # the next test tries again (and shows the same error), not "exists"
                self.drop_database(name)
                raise
            self._templates.add(name)
        return name

    def drop_database(self, name: str) -> None:
        """Drop a test's database, ending whatever connections the test left open."""
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """`pg_ctl stop -m fast`, then (if it did not stop) SIGKILL of its postmaster; the directory goes."""
        try:
            _stop(self.bindir, self.root, self.owner, mode="fast")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _as_owner(cmd: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *cmd] if owner else cmd


def _run(cmd: list[str], owner: str | None, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    return subprocess.run(_as_owner(cmd, owner), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _stop(bindir: Path, root: Path, owner: str | None, *, mode: str) -> None:
    data = root / "data"
    if not (data / "postmaster.pid").exists():
        return
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        if _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", mode, "-w", "-t", "30", "stop"], owner,
                root, timeout=60).returncode == 0:
            return
    with contextlib.suppress(OSError, ValueError, IndexError):  # pg_ctl failed: end its postmaster by pid
        pid = int((data / "postmaster.pid").read_text().split()[0])
        if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"postgres"):
            os.kill(pid, signal.SIGKILL)


def reap_orphans(bindir: Path) -> None:
    """Stop and remove the servers of pytest processes that died without stopping them."""
    for root in glob.glob(os.path.join(tempfile.gettempdir(), PREFIX + "*")):
        try:
            pid, started = (Path(root) / "owner").read_text().split()
        except (OSError, ValueError):
            continue
        if _started_at(int(pid)) == started:
            continue  # its pytest is still running (another session on this machine)
        owner = RUN_AS if os.geteuid() == 0 else None
        with contextlib.suppress(OSError):
            _stop(bindir, Path(root), owner, mode="immediate")
            shutil.rmtree(root, ignore_errors=True)


def start(bindir: Path, *, attempts: int = 3) -> PostgresServer:
    """initdb and start a server on a free loopback port (a few attempts: another process may take the port
    between our choosing it and the server binding it)."""
    reap_orphans(bindir)
    owner = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            raise RuntimeError(f"PostgreSQL does not run as root and there is no {RUN_AS!r} user to run it as: "
                               f"{INSTALL_HINT}, or run the tests as an ordinary user") from None
        owner = RUN_AS
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    try:
        me = _started_at(os.getpid())
        (root / "owner").write_text(f"{os.getpid()} {me}\n")
        password = secrets.token_urlsafe(18)
        (root / "pwfile").write_text(password + "\n")
        if owner:
            user = pwd.getpwnam(owner)
            for path in (root, root / "pwfile"):
                os.chown(path, user.pw_uid, user.pw_gid)
        init = _run([str(bindir / "initdb"), "-D", str(root / "data"), "-U", "postgres", "-A", "scram-sha-256",
                     f"--pwfile={root / 'pwfile'}", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
                    owner, root)
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
        for _ in range(attempts):
            server = PostgresServer(bindir, root, _free_port(), password, owner)
            if _pg_start(server):
                _create_role(server)
                return server
        raise RuntimeError(f"PostgreSQL did not start; its log:\n{_tail(root / 'log')}")
    except BaseException:
        _stop(bindir, root, owner, mode="immediate")
        shutil.rmtree(root, ignore_errors=True)
        raise


def _pg_start(server: PostgresServer) -> bool:
    options = (f"-c listen_addresses=127.0.0.1 -p {server.port} -k {server.root} -c fsync=off "
               "-c full_page_writes=off -c shared_buffers=32MB -c max_connections=200")
    result = _run([str(server.bindir / "pg_ctl"), "-D", str(server.data), "-l", str(server.root / "log"),
                   "-w", "-t", "60", "-o", options, "start"], server.owner, server.root, timeout=90)
    if result.returncode == 0:
        return True
    _stop(server.bindir, server.root, server.owner, mode="immediate")
    time.sleep(0.2)
    return False


def _create_role(server: PostgresServer) -> None:
    with server._admin() as conn:
        conn.execute(f"CREATE ROLE {USER} LOGIN PASSWORD '{server.password}'")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
