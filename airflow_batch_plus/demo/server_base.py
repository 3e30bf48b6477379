"""What the demo's Postgres and Redis servers (`servers`) share: finding Debian's binaries, the unprivileged
user a server runs as when we are root, its own directory and private files, running its tools, and the end
of its log. Waiting for its process to be gone is in `processes`, which the supervisor shares.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import stat
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from airflow_batch_plus.demo.errors import DemoError
from airflow_batch_plus.demo.processes import tail

POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"
"""Where Debian installs initdb, pg_ctl and postgres (only a version-picking wrapper of psql is on PATH)."""
INSTALL_FIX = "run `make servers` (it installs Debian's postgresql and redis-server with apt-get)"
START_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0
# A unix socket's path is limited to 107 bytes; Postgres adds "/.s.PGSQL.<port>" to its socket directory.
MAX_SOCKET_DIR = 107 - len("/.s.PGSQL.65535")

Say = Callable[[str], None]


def quiet(line: str) -> None:
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


def own_directory(path: Path, run_as: RunAs | None, say: Say) -> None:
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


def write_owned(path: Path, text: str, run_as: RunAs | None) -> None:
    """Write `text` to `path`, readable by the server's user only (a password, or a config holding one)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    if run_as is not None:
        os.chown(path, run_as.uid, run_as.gid)


def run_tool(
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


def read_tail(path: Path) -> str:
    try:
        return tail(path.read_text(errors="replace"))
    except OSError:
        return "(no log)"


class LocalServer:
    """What both servers share: a root directory of their own, a port (0: a free one), the unprivileged
    user they run as, a password, and `with` starting and stopping them."""

    USER = ""
    NAME = ""

    def __init__(self, root: Path, port: int = 0, *, say: Say = quiet):
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
