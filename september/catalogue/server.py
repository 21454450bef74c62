"""A private PostgreSQL cluster that september starts itself when no database URL is configured.

PostgreSQL refuses to run as root. When september runs as root, the cluster's files belong to the
``postgres`` system user and its programs run through ``runuser``; september then talks to it over
a unix socket inside the cluster folder, so nothing listens on the network.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from september.errors import DatabaseError

DATABASE_NAME = "september"
SUPERUSER = "september"
DEFAULT_PORT = 5432  # only names the unix socket file: the cluster does not listen on TCP
START_TIMEOUT = 60.0  # seconds


def postgres_bindir() -> Path:
    """The newest installed PostgreSQL server binaries (Debian keeps them off PATH)."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise DatabaseError(
        "PostgreSQL server programs (initdb, pg_ctl) were not found. Install them with "
        "`apt-get install postgresql postgresql-15-q3c`, or set SEPTEMBER_DATABASE_URL to an "
        "existing database."
    )


@dataclass(frozen=True)
class PrivateServer:
    """A PostgreSQL cluster in ``root``: ``data/``, ``run/`` (its socket) and ``postgres.log``."""

    root: Path
    port: int = DEFAULT_PORT
    fast_unsafe: bool = False  # fsync off: for throw-away test clusters only

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str = DATABASE_NAME) -> str:
        """SQLAlchemy URL (psycopg 3 driver) reaching the cluster over its unix socket."""
        return (
            f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"
        )

    def libpq_dsn(self, database: str = DATABASE_NAME) -> str:
        """The same address as a libpq connection string (for psql and psycopg)."""
        return f"host={self.socket_dir} port={self.port} user={SUPERUSER} dbname={database}"

    # -- running programs as the right user ---------------------------------------------------

    def _owner(self) -> str | None:
        """The system user that runs the cluster: None for the current (non-root) user."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam("postgres")
        except KeyError as err:
            raise DatabaseError(
                "september runs as root, PostgreSQL refuses to, and there is no `postgres` user "
                "to run it as. Install PostgreSQL with `apt-get install postgresql` (it creates "
                "that user) or run september as an ordinary user."
            ) from err
        return "postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(postgres_bindir() / args[0]), *args[1:]]
        owner = self._owner()
        if owner:
            command = ["runuser", "-u", owner, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise DatabaseError(
                f"`{' '.join(args[:2])}` failed for the private PostgreSQL in {self.root}:\n"
                f"{result.stderr.strip() or result.stdout.strip()}\n"
                f"See {self.log_file} for the server's own log."
            )
        return result

    def _prepare_directories(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        owner = self._owner()
        for path in (self.data, self.socket_dir):
            path.mkdir(mode=0o700, exist_ok=True)
        self.log_file.touch(exist_ok=True)
        if owner:
            entry = pwd.getpwnam(owner)
            for path in (self.root, self.data, self.socket_dir, self.log_file):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            _check_reachable(self.root, owner)

    # -- life cycle ----------------------------------------------------------------------------

    def is_initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def is_running(self) -> bool:
        if not self.is_initialised():
            return False
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def initialise(self) -> None:
        self._prepare_directories()
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        )
        settings = [
            "listen_addresses = ''",
            f"unix_socket_directories = '{self.socket_dir}'",
            f"port = {self.port}",
            "shared_buffers = 256MB",
            "max_connections = 100",
            "jit = off",  # JIT makes cached generic plans of Q3C cone queries very slow
        ]
        if self.fast_unsafe:
            settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        conf = self.data / "postgresql.conf"
        text = conf.read_text() + "\n# september\n" + "\n".join(settings) + "\n"
        self._write_as_owner(conf, text)

    def _write_as_owner(self, path: Path, text: str) -> None:
        stat = path.stat()
        path.write_text(text)
        os.chown(path, stat.st_uid, stat.st_gid)

    def start(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            str(int(START_TIMEOUT)),
            "start",
        )

    def stop(self) -> None:
        if self.is_running():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def ensure_running(self) -> str:
        """Create and start the cluster and its database if needed; return its URL.

        Safe to call from several processes at once: a file lock serialises the set-up.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with _locked(self.root / ".september-server.lock"):
            if not self.is_initialised():
                self.initialise()
            if not self.is_running():
                self.start()
            self._create_database(DATABASE_NAME)
        return self.url()

    def _create_database(self, name: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            result = self._run(
                "psql",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
                "-tAc",
                f"SELECT 1 FROM pg_database WHERE datname = '{name}'",
                check=False,
            )
            if result.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise DatabaseError(
                    f"the private PostgreSQL did not accept connections: {result.stderr.strip()}"
                )
            time.sleep(0.2)
        if result.stdout.strip() != "1":
            self._run(
                "createdb", "-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER, name
            )


def _check_reachable(root: Path, owner: str) -> None:
    """Fail early, with advice, when the ``postgres`` user cannot enter the cluster folder."""
    result = subprocess.run(["runuser", "-u", owner, "--", "test", "-x", str(root)], check=False)
    if result.returncode != 0:
        raise DatabaseError(
            f"the `{owner}` user cannot enter {root} (a parent folder is private, e.g. /root). "
            "Choose a data directory under /var/lib or /srv with SEPTEMBER_DATA_DIR."
        )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
