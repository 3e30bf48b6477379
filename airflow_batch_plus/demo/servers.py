"""Postgres and Redis for the demo's "ha" profile: Debian's own server binaries, each run from a directory of
its own under the demo's state directory and stopped without leaving a process behind (what they share is in
`server_base`).

Not the system services: the demo must not depend on, or change, a machine's /etc, /var/run or running
services (there may be a system Postgres on 5432 already, and no systemd in a container), and it must clean
up after itself like the rest of the demo. So each server gets its own data, socket and log under the state
directory, listens on 127.0.0.1 only, on a port given or free, and is owned by the object that started it.

Never as root. Postgres refuses to run as root (initdb, pg_ctl and postgres all check), and neither server
needs a privilege. When this process's effective uid is 0, each server runs as the unprivileged user its
Debian package creates for it: `postgres` (package postgresql) and `redis` (package redis-server). One
user each, rather than one shared user, because those users exist wherever the binaries were installed
the Debian way, and each owns only its own server's directory. That user owns the server's directory;
every directory above it that the user cannot traverse gets the search bit for others added (o+x: enter
only, no listing, no reading; pytest's 0700 temporary directories need it). Not as root, both servers run
as the current user and nothing is chowned or chmodded.

Both keep what they need across starts, as the SQLite demo keeps its database: Postgres reuses its cluster
(the data directory and its password file survive); Redis starts empty each time (the demo needs no
persistence from its broker: a message lost with a stopped demo is a task the scheduler queues again).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import signal
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import IO, Self

from airflow_batch_plus.demo.errors import DemoError, check_port_free, free_port
from airflow_batch_plus.demo.processes import gone, tail, wait_gone
from airflow_batch_plus.demo.server_base import (
    MAX_SOCKET_DIR,
    START_TIMEOUT_SECONDS,
    STOP_GRACE_SECONDS,
    LocalServer,
    Say,
    find_binaries,
    own_directory,
    quiet,
    read_tail,
    run_tool,
    search_dirs,
    write_owned,
)


class PostgresServer(LocalServer):
    """A Postgres cluster under `root` (data/, run/ for its unix socket, postgres.log, password), serving the
    database `airflow` to the role `airflow` (the cluster's superuser, password in `root`/password) on
    127.0.0.1:`port` only.

    Started with Debian's pg_ctl (which detaches the postmaster into a session of its own) and stopped with
    `pg_ctl stop -m fast` (every backend ends, then the postmaster). A second start reuses the cluster. A
    postmaster an earlier demo left running on this data directory (its supervisor SIGKILLed) is stopped
    first. Authentication is scram-sha-256 over TCP and the socket alike: other local users get nothing.
    """

    USER = "postgres"
    NAME = "Postgres"
    ROLE = "airflow"
    DATABASE = "airflow"
    BINARIES = ("pg_ctl", "initdb", "postgres", "psql")

    def __init__(self, root: Path, port: int = 0, *, search_path: str | None = None, say: Say = quiet):
        # Found before anything is made: a missing binary is reported with its fix, and nothing is left to undo.
        self.bin = find_binaries(self.BINARIES, search_dirs(search_path))
        super().__init__(root, port, say=say)
        self.pid: int | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    @property
    def password_file(self) -> Path:
        return self.root / "password"

    def url(self, driver: str = "psycopg2") -> str:
        """The SQLAlchemy URL of the `airflow` database, e.g. driver "psycopg2" (sync) or "asyncpg" (async)."""
        password = urllib.parse.quote(self.password, safe="")
        return f"postgresql+{driver}://{self.ROLE}:{password}@127.0.0.1:{self.port}/{self.DATABASE}"

    def dsn(self) -> str:
        """A libpq connection string of the `airflow` database (psql, psycopg2.connect)."""
        return f"host=127.0.0.1 port={self.port} dbname={self.DATABASE} user={self.ROLE} password={self.password}"

    def start(self) -> Self:
        """Create the cluster if there is none yet, start it, and create the `airflow` database if missing."""
        if self.pid is not None:
            return self
        if len(str(self.socket_dir)) > MAX_SOCKET_DIR:
            raise DemoError(
                f"{self.socket_dir} is too long for Postgres's unix socket (at most {MAX_SOCKET_DIR} characters): "
                "choose a shorter --state-dir"
            )
        if self.requested_port:
            check_port_free(self.requested_port, "Postgres server", "another --postgres-port")
        own_directory(self.root, self.run_as, self.say)
        self._initdb_once()
        self.socket_dir.mkdir(exist_ok=True)
        if self.run_as is not None:
            os.chown(self.socket_dir, self.run_as.uid, self.run_as.gid)
        self._stop_leftover()
        self.port = self.requested_port or free_port()
        options = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            # Every Airflow process keeps a pool (scheduler, API server, DAG processor, triggerers, Celery
            # workers and their children's result backend): the default 100 is too few for two of each.
            "max_connections": "200",
        }
        started = self._pg_ctl(
            "start",
            "-w",
            "-t",
            str(int(START_TIMEOUT_SECONDS)),
            "-l",
            str(self.log_path),
            "-o",
            " ".join(f"-c {shlex.quote(f'{key}={value}')}" for key, value in options.items()),
        )
        if started.returncode != 0:
            raise DemoError(
                f"Postgres did not start on 127.0.0.1:{self.port}: {tail(started.stdout + started.stderr)}\n"
                f"its log ({self.log_path}) ends with:\n{read_tail(self.log_path)}"
            )
        self.pid = self._postmaster_pid()
        self._create_database()
        return self

    def stop(self) -> None:
        """`pg_ctl stop -m fast` (it returns once the postmaster is gone), SIGKILL after the grace. Idempotent."""
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        said = f"did not stop in {STOP_GRACE_SECONDS:g} s"
        try:
            stopped = self._pg_ctl(
                "stop", "-m", "fast", "-w", "-t", str(int(STOP_GRACE_SECONDS)), timeout=STOP_GRACE_SECONDS + 5
            )
            if stopped.returncode != 0:
                said = f"was not stopped by pg_ctl ({tail(stopped.stderr or stopped.stdout, 3)})"
        except subprocess.TimeoutExpired:
            pass
        if not wait_gone(pid, 1.0):
            self.say(f"Postgres (pid {pid}) {said}: killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # the postmaster leads its own group, with its backends
            wait_gone(pid, STOP_GRACE_SECONDS)

    def _pg_ctl(self, *args: str, timeout: float = START_TIMEOUT_SECONDS + 5) -> subprocess.CompletedProcess[str]:
        return run_tool(
            [self.bin["pg_ctl"], *args, "-D", self.data_dir], run_as=self.run_as, cwd=self.root, timeout=timeout
        )

    def _initdb_once(self) -> None:
        if (self.data_dir / "PG_VERSION").is_file():
            try:
                self.password = self.password_file.read_text().strip()
            except OSError:
                raise DemoError(
                    f"the Postgres cluster in {self.data_dir} has no password file ({self.password_file}): "
                    f"delete {self.root} to start with a new cluster"
                ) from None
            return
        self.password = secrets.token_urlsafe(24)
        write_owned(self.password_file, self.password, self.run_as)
        created = run_tool(
            [
                self.bin["initdb"],
                "-D",
                self.data_dir,
                "-U",
                self.ROLE,
                f"--pwfile={self.password_file}",
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",  # a demo's cluster: not worth fsyncing every file initdb writes (seconds on a slow disk)
            ],
            run_as=self.run_as,
            cwd=self.root,
        )
        if created.returncode != 0:
            raise DemoError(f"initdb of {self.data_dir} failed:\n{tail(created.stdout + created.stderr)}")
        self.say(f"Created a Postgres cluster in {self.data_dir}")

    def _stop_leftover(self) -> None:
        if not (self.data_dir / "postmaster.pid").exists():
            return
        if self._pg_ctl("status").returncode != 0:
            return  # a stale pid file: postgres itself sees that and starts
        self.say(f"A Postgres left running by an earlier demo serves {self.data_dir}: stopping it")
        stopped = self._pg_ctl("stop", "-m", "fast", "-w", "-t", str(int(STOP_GRACE_SECONDS)))
        if stopped.returncode != 0:
            raise DemoError(
                f"could not stop the Postgres running on {self.data_dir}: {tail(stopped.stdout + stopped.stderr)}"
            )

    def _postmaster_pid(self) -> int:
        first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
        return int(first.strip())

    def _create_database(self) -> None:
        def psql(sql: str) -> subprocess.CompletedProcess[str]:
            socket_args = ["-h", str(self.socket_dir), "-p", str(self.port)]
            return run_tool(
                [self.bin["psql"], "-X", "-q", "-t", "-A", *socket_args, "-U", self.ROLE, "-d", "postgres", "-c", sql],
                run_as=None,  # root may use the socket directory; scram, not the unix user, authenticates
                cwd=self.root,
                env={"PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"},
            )

        found = psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.DATABASE}'")
        if found.returncode == 0 and found.stdout.strip() == "1":
            return
        created = psql(f"CREATE DATABASE {self.DATABASE} OWNER {self.ROLE}") if found.returncode == 0 else found
        if created.returncode != 0:
            self.stop()
            raise DemoError(f"could not create the `{self.DATABASE}` database: {tail(created.stderr)}")


class RedisServer(LocalServer):
    """A Redis under `root` (redis.conf, redis.log, redis.pid) on 127.0.0.1:`port` only, with a password
    (`requirepass`: other local users cannot read or inject Celery messages) and no persistence.

    Run in the foreground as our child in a session of its own, stopped by SIGTERM to its pid (SIGKILL
    after the grace). A Redis an earlier demo left running on this directory is stopped first.
    """

    USER = "redis"
    NAME = "Redis"

    def __init__(self, root: Path, port: int = 0, *, search_path: str | None = None, say: Say = quiet):
        self.bin = find_binaries(("redis-server",), search_dirs(search_path))["redis-server"]
        super().__init__(root, port, say=say)
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.root / "redis.conf"

    @property
    def log_path(self) -> Path:
        return self.root / "redis.log"

    @property
    def pid_path(self) -> Path:
        return self.root / "redis.pid"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def url(self, database: int = 0) -> str:
        """The broker URL Celery (kombu) and redis-py take."""
        return f"redis://:{urllib.parse.quote(self.password, safe='')}@127.0.0.1:{self.port}/{database}"

    def start(self) -> Self:
        """Start redis-server and return once it answers PING with its password."""
        if self.process is not None:
            return self
        if self.requested_port:
            check_port_free(self.requested_port, "Redis server", "another --redis-port")
        own_directory(self.root, self.run_as, self.say)
        self._stop_leftover()
        self.port = self.requested_port or free_port()
        self.password = secrets.token_urlsafe(24)
        config = {
            "bind": "127.0.0.1",
            "port": str(self.port),
            "protected-mode": "yes",
            "requirepass": self.password,
            "daemonize": "no",
            "supervised": "no",
            "dir": str(self.root),
            "logfile": '""',  # stdout, which is our log file
            "save": '""',
            "appendonly": "no",
        }
        write_owned(self.config_path, "".join(f"{key} {value}\n" for key, value in config.items()), self.run_as)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(self.bin), str(self.config_path)],
            cwd=self.root,
            env={"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C"},
            user=self.run_as.uid if self.run_as else None,
            group=self.run_as.gid if self.run_as else None,
            extra_groups=[] if self.run_as else None,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid_path.write_text(f"{self.process.pid}\n")
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.ping():
            code = self.process.poll()
            if code is not None or time.monotonic() > deadline:
                self.stop()
                why = f"exited with code {code}" if code is not None else "did not answer PING"
                raise DemoError(
                    f"Redis {why} on 127.0.0.1:{self.port}; its log ({self.log_path}) ends with:\n"
                    f"{read_tail(self.log_path)}"
                )
            time.sleep(0.05)
        return self

    def ping(self, timeout: float = 1.0) -> bool:
        """True if the server answers AUTH and PING (spoken in RESP here: no client library needed)."""
        request = _resp("AUTH", self.password) + _resp("PING")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as connection:
                connection.sendall(request)
                answer = b""
                while answer.count(b"\r\n") < 2:
                    chunk = connection.recv(256)
                    if not chunk:
                        break
                    answer += chunk
        except OSError:
            return False
        return answer == b"+OK\r\n+PONG\r\n"

    def stop(self) -> None:
        """SIGTERM to redis-server, SIGKILL after the grace; returns once it has exited. Idempotent."""
        process, self.process = self.process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.say(f"Redis (pid {process.pid}) did not stop in {STOP_GRACE_SECONDS:g} s: killing it")
                process.kill()
                process.wait()
            with contextlib.suppress(FileNotFoundError):
                self.pid_path.unlink()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _stop_leftover(self) -> None:
        """Stop the redis-server of an earlier start on this directory, if it still runs (its supervisor was
        SIGKILLed): it is ours if the pid file's process runs our binary in our directory (redis rewrites
        its command line, so that cannot tell)."""
        try:
            pid = int(self.pid_path.read_text().strip())
            executable = Path(os.readlink(f"/proc/{pid}/exe"))
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        except (OSError, ValueError):
            return
        # Debian's redis-server is a symlink (to redis-check-rdb, which acts by the name it was run as).
        if executable != self.bin.resolve() or cwd != self.root or gone(pid):
            return
        self.say(f"A Redis left running by an earlier demo (pid {pid}) uses {self.root}: stopping it")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not wait_gone(pid, STOP_GRACE_SECONDS):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_gone(pid, STOP_GRACE_SECONDS)


def _resp(*parts: str) -> bytes:
    """One Redis command in RESP, the protocol's array-of-bulk-strings form."""
    encoded = [part.encode() for part in parts]
    return f"*{len(encoded)}\r\n".encode() + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in encoded)
