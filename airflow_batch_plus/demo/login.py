"""The demo's Airflow login: user `admin` with a password generated on the first start, not admin/admin.

The demo's API server listens on 127.0.0.1 only, but every user of the machine can reach it, and a fixed
password would let any of them in as its admin (trigger and clear DAGs, read task logs, edit connections). So the
password is random, made with `secrets`, and lives in Airflow's own passwords file (the one its
SimpleAuthManager reads through AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE, `{"admin": "<password>"}`),
which only its owner can read: it is created with mode 0600 from the start (a temporary file opened 0600,
then renamed over the old one), so there is never a moment when anyone else could read it. Airflow opens the
file "a+" and rewrites it in place only when a user is missing, which keeps the mode.

The next start reuses the password, so a browser's saved login keeps working. A file left world-readable
(by hand, or by an earlier version) is tightened to 0600, and the constant password of earlier versions
("admin") is replaced by a generated one. Tests and benchmarks read the password with `read_login`.
"""

from __future__ import annotations

import json
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from airflow_batch_plus.demo.errors import DemoError
from airflow_batch_plus.demo.private import PRIVATE, write_private

__all__ = ["USERNAME", "DemoLogin", "ensure_login", "passwords_file", "read_login"]

USERNAME = "admin"
# Airflow's own alphabet for the passwords it generates (SimpleAuthManager._generate_password): no 0/O, 1/l/I,
# i, j, o: nothing to misread when typing it from the terminal. 16 of its 52 characters: about 91 bits.
ALPHABET = "abcdefghkmnpqrstuvwxyzABCDEFGHKMNPQRSTUVWXYZ23456789"
LENGTH = 16
# The constant password of earlier versions: a file that still has it gets a generated one instead.
LEGACY_PASSWORD = "admin"


@dataclass(frozen=True)
class DemoLogin:
    """The demo's Airflow user, its password, and the file that keeps it."""

    username: str
    password: str = field(repr=False)  # not in a repr that ends up in a log or a test report
    path: Path


def passwords_file(state_dir: Path) -> Path:
    """The passwords file of the demo whose state is in `state_dir` (the Airflow home's passwords.json)."""
    return state_dir / "airflow" / "passwords.json"


def generate_password() -> str:
    """A new random password, as Airflow would make one."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def ensure_login(state_dir: Path) -> DemoLogin:
    """The demo's login, made on the first start and kept in `passwords_file(state_dir)`, readable only by us.

    An existing file keeps its password (and any other user in it), its mode tightened to 0600 if group or
    others could read or write it. A missing, empty or unreadable file, or one without a password for
    USERNAME or with the old constant one, gets a generated password, written to a new 0600 file.
    """
    path = passwords_file(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    passwords: dict[str, str] = {}
    if path.exists():
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(PRIVATE)  # before reading: the password in it is about to be used again
        passwords = _parse(path)
    password = passwords.get(USERNAME, "")
    if not password or password == LEGACY_PASSWORD:
        password = generate_password()
        write_private(path, json.dumps({**passwords, USERNAME: password}) + "\n")
    return DemoLogin(USERNAME, password, path)


def read_login(state_dir: Path) -> DemoLogin:
    """The login a running (or earlier) demo made in `state_dir`, for tests and benchmarks; never makes one."""
    path = passwords_file(state_dir)
    if not path.exists():
        raise DemoError(f"no Airflow login in {path}: start the demo first (make demo)")
    password = _parse(path).get(USERNAME)
    if not password:
        raise DemoError(f"no password for {USERNAME} in {path}: start the demo first (make demo)")
    return DemoLogin(USERNAME, password, path)


def _parse(path: Path) -> dict[str, str]:
    """The file's users and passwords; nothing for an empty file or one that is not Airflow's JSON object."""
    try:
        content = json.loads(path.read_text() or "{}")
    except ValueError:
        return {}
    if not isinstance(content, dict):
        return {}
    return {str(user): password for user, password in content.items() if isinstance(password, str)}
