"""Postgres and Redis for the demo's "ha" profile: Debian's own server binaries, each run from a directory of
its own under the demo's state directory and stopped without leaving a process behind.

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
import glob
import os
import pwd
import secrets
import shlex
import signal
import socket
import stat
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from airflow_batch_plus.demo.errors import DemoError, check_port_free, free_port

POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"
"""Where Debian installs initdb, pg_ctl and postgres (only a version-picking wrapper of psql is on PATH)."""
INSTALL_FIX = "run `make servers` (it installs Debian's postgresql and redis-server with apt-get)"
START_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0
# A unix socket's path is limited to 107 bytes; Postgres adds "/.s.PGSQL.<port>" to its socket directory.
MAX_SOCKET_DIR = 107 - len("/.s.PGSQL.65535")

Say = Callable[[str], None]


def _quiet(line: str) -> None:
    """The default `say`: the servers have nothing to tell unless their owner wants to hear it."""


def search_dirs(path: str | None = None) -> list[Path]:
    """Where the servers' binaries are looked for, in order.

    By default Debian's /usr/lib/postgresql/<version>/bin, newest version first (Debian puts initdb, pg_ctl
    and postgres there, not on PATH), then PATH, then /usr/sbin and /usr/bin (a root PATH may lack neither,
    a user's may lack /usr/sbin). A `path` (PATH syntax) replaces all of them: "" finds nothing.
    """
    if path is not None:
        return [Path(entry) for entry in path.split(os.pathsep) if entry]
    versions = sorted(glob.glob(POSTGRES_BIN_GLOB), key=_version_key, reverse=True)
    on_path = os.environ.get("PATH", os.defpath).split(os.pathsep)
    dirs: list[Path] = []
    for entry in [*versions, *on_path, "/usr/sbin", "/usr/bin"]:
        if entry and Path(entry) not in dirs:
            dirs.append(Path(entry))
    return dirs


def _version_key(bin_dir: str) -> tuple[int, ...]:
    version = Path(bin_dir).parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def find_binaries(names: Sequence[str], dirs: Sequence[Path]) -> dict[str, Path]:
    """The first directory of `dirs` that holds every one of `names` as an executable, and their paths there.

    All from one directory: an initdb of one Postgres version and a postgres of another cannot share a cluster.
    Raises DemoError naming the fix if no directory has them all.
    """
    for directory in dirs:
        paths = {name: directory / name for name in names}
        if all(path.is_file() and os.access(path, os.X_OK) for path in paths.values()):
            return paths
    looked = ", ".join(str(directory) for directory in dirs) or "nowhere (an empty search path)"
    missing = names[0] if len(names) == 1 else f"{'/'.join(names)} (all in one directory)"
    raise DemoError(f"{missing} not found (looked in {looked}): {INSTALL_FIX}")


@dataclass(frozen=True)
class RunAs:
    """The unprivileged user a server runs as when this process is root (only its primary group, no others)."""

    name: str
    uid: int
    gid: int

    @classmethod
    def for_server(cls, user: str, server: str) -> RunAs | None:
        """`user` when the effective uid is 0, else None (run as ourselves). DemoError if root and no such user."""
        if os.geteuid() != 0:
            return None
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise DemoError(
                f"running as root, the demo starts {server} as the unprivileged user `{user}` its Debian package "
                f"creates, and there is no such user: {INSTALL_FIX}"
            ) from None
        return cls(user, entry.pw_uid, entry.pw_gid)

    def can_search(self, directory: Path) -> bool:
        mode = directory.stat()
        if mode.st_uid == self.uid:
            return bool(mode.st_mode & stat.S_IXUSR)
        if mode.st_gid == self.gid:
            return bool(mode.st_mode & stat.S_IXGRP)
        return bool(mode.st_mode & stat.S_IXOTH)


def _own_directory(path: Path, run_as: RunAs | None, say: Say) -> None:
    """Create `path` (mode 0700) for the server, owned by its user, and make every directory above it traversable
    for that user (o+x on those it could not enter), or raise DemoError if one cannot be."""
    path.mkdir(parents=True, exist_ok=True)
    if run_as is None:
        path.chmod(0o700)
        return
    for parent in reversed(path.resolve().parents):
        if run_as.can_search(parent):
            continue
        try:
            parent.chmod(parent.stat().st_mode | stat.S_IXOTH)
        except OSError as error:
            raise DemoError(
                f"the `{run_as.name}` user cannot enter {parent}, so it cannot reach {path}: {error}; "
                f"`chmod o+x {parent}` or choose another --state-dir"
            ) from None
        say(f"Made {parent} traversable (o+x) for the `{run_as.name}` user")
    os.chown(path, run_as.uid, run_as.gid)
    path.chmod(0o700)


def _write_private(path: Path, text: str, run_as: RunAs | None) -> None:
    """Write `text` to `path`, readable by the server's user only (a password, or a config holding one)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    if run_as is not None:
        os.chown(path, run_as.uid, run_as.gid)


def _run(
    command: Sequence[str | Path],
    *,
    run_as: RunAs | None,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = START_TIMEOUT_SECONDS,
) -> subprocess.CompletedProcess[str]:
    """Run a server tool as the server's user; its output is returned (and named in any DemoError by the caller)."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C", **(env or {})},
        user=run_as.uid if run_as else None,
        group=run_as.gid if run_as else None,
        extra_groups=[] if run_as else None,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _read_tail(path: Path) -> str:
    try:
        return _tail(path.read_text(errors="replace"))
    except OSError:
        return "(no log)"


def _gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie counts as gone: only its parent can reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


class _LocalServer:
    """What both servers share: a root directory of their own, a port (0: a free one), the unprivileged
    user they run as, a password, and `with` starting and stopping them."""

    USER = ""
    NAME = ""

    def __init__(self, root: Path, port: int = 0, *, say: Say = _quiet):
        self.root = root.resolve()
        self.requested_port = port
        self.port = port
        self.say = say
        self.run_as = RunAs.for_server(self.USER, self.NAME)
        self.password = ""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


class PostgresServer(_LocalServer):
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

    def __init__(self, root: Path, port: int = 0, *, search_path: str | None = None, say: Say = _quiet):
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
        _own_directory(self.root, self.run_as, self.say)
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
                f"Postgres did not start on 127.0.0.1:{self.port}: {_tail(started.stdout + started.stderr)}\n"
                f"its log ({self.log_path}) ends with:\n{_read_tail(self.log_path)}"
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
                said = f"was not stopped by pg_ctl ({_tail(stopped.stderr or stopped.stdout, 3)})"
        except subprocess.TimeoutExpired:
            pass
        if not _wait_gone(pid, 1.0):
            self.say(f"Postgres (pid {pid}) {said}: killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # the postmaster leads its own group, with its backends
            _wait_gone(pid, STOP_GRACE_SECONDS)

    def _pg_ctl(self, *args: str, timeout: float = START_TIMEOUT_SECONDS + 5) -> subprocess.CompletedProcess[str]:
        return _run(
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
        _write_private(self.password_file, self.password, self.run_as)
        created = _run(
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
            raise DemoError(f"initdb of {self.data_dir} failed:\n{_tail(created.stdout + created.stderr)}")
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
                f"could not stop the Postgres running on {self.data_dir}: {_tail(stopped.stdout + stopped.stderr)}"
            )

    def _postmaster_pid(self) -> int:
        first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
        return int(first.strip())

    def _create_database(self) -> None:
        def psql(sql: str) -> subprocess.CompletedProcess[str]:
            socket_args = ["-h", str(self.socket_dir), "-p", str(self.port)]
            return _run(
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
            raise DemoError(f"could not create the `{self.DATABASE}` database: {_tail(created.stderr)}")


class RedisServer(_LocalServer):
    """A Redis under `root` (redis.conf, redis.log, redis.pid) on 127.0.0.1:`port` only, with a password
    (`requirepass`: other local users cannot read or inject Celery messages) and no persistence.

    Run in the foreground as our child in a session of its own, stopped by SIGTERM to its pid (SIGKILL
    after the grace). A Redis an earlier demo left running on this directory is stopped first.
    """

    USER = "redis"
    NAME = "Redis"

    def __init__(self, root: Path, port: int = 0, *, search_path: str | None = None, say: Say = _quiet):
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
        _own_directory(self.root, self.run_as, self.say)
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
        _write_private(self.config_path, "".join(f"{key} {value}\n" for key, value in config.items()), self.run_as)
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
                    f"{_read_tail(self.log_path)}"
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
        if executable != self.bin.resolve() or cwd != self.root or _gone(pid):
            return
        self.say(f"A Redis left running by an earlier demo (pid {pid}) uses {self.root}: stopping it")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, STOP_GRACE_SECONDS):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, STOP_GRACE_SECONDS)


def _resp(*parts: str) -> bytes:
    """One Redis command in RESP, the protocol's array-of-bulk-strings form."""
    encoded = [part.encode() for part in parts]
    return f"*{len(encoded)}\r\n".encode() + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in encoded)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not _gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
