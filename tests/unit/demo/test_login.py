"""The demo's Airflow login: a generated password in Airflow's passwords file, which only we can read."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_batch_plus.demo.errors import DemoError
from airflow_batch_plus.demo.login import ALPHABET, USERNAME, ensure_login, passwords_file, read_login


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Umask 0: a file made without an explicit mode would be 0666, readable and writable by everyone."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_the_passwords_file_is_0600_from_its_creation(
    tmp_path: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No chmod afterwards can make it private: with chmod and fchmod doing nothing and umask 0, the file is
    0600 only if it was created 0600 (so there never was a moment anyone else could read it)."""
    monkeypatch.setattr(os, "chmod", lambda *args, **kwargs: None)
    monkeypatch.setattr(os, "fchmod", lambda *args, **kwargs: None)

    login = ensure_login(tmp_path)

    assert login.path == passwords_file(tmp_path) == tmp_path / "airflow" / "passwords.json"
    assert mode(login.path) == 0o600
    # Airflow's own format, with a password made like Airflow's own.
    assert json.loads(login.path.read_text()) == {USERNAME: login.password}
    assert len(login.password) == 16
    assert set(login.password) <= set(ALPHABET)
    assert [entry.name for entry in login.path.parent.iterdir()] == ["passwords.json"]  # no temporary file left


def test_two_state_directories_get_different_passwords(tmp_path: Path) -> None:
    first = ensure_login(tmp_path / "one")
    second = ensure_login(tmp_path / "two")
    assert first.password != second.password


def test_the_next_start_reuses_the_password(tmp_path: Path) -> None:
    first = ensure_login(tmp_path)
    second = ensure_login(tmp_path)
    assert second.password == first.password
    assert read_login(tmp_path) == first
    assert mode(first.path) == 0o600


def test_the_old_constant_password_is_replaced_by_a_generated_one(tmp_path: Path) -> None:
    legacy = passwords_file(tmp_path)
    legacy.parent.mkdir(parents=True)
    legacy.write_text(json.dumps({"admin": "admin"}))
    legacy.chmod(0o644)

    login = ensure_login(tmp_path)

    assert login.password != "admin"
    assert len(login.password) == 16
    assert json.loads(legacy.read_text()) == {"admin": login.password}
    assert mode(legacy) == 0o600
    assert read_login(tmp_path).password == login.password


def test_a_readable_existing_file_is_tightened_to_0600_and_keeps_its_password(tmp_path: Path) -> None:
    existing = passwords_file(tmp_path)
    existing.parent.mkdir(parents=True)
    existing.write_text(json.dumps({"admin": "kept3Password7xy"}) + "\n")
    existing.chmod(0o644)

    login = ensure_login(tmp_path)

    assert mode(existing) == 0o600
    assert login.password == "kept3Password7xy"


def test_read_login_without_a_demo_names_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DemoError) as missing:
        read_login(tmp_path / "never-started")
    message = str(missing.value)
    assert str(tmp_path / "never-started" / "airflow" / "passwords.json") in message
    assert "start the demo first (make demo)" in message
    assert not (tmp_path / "never-started").exists()  # reading never makes a login


def test_airflows_auth_manager_takes_the_password_and_keeps_the_file_private(tmp_path: Path) -> None:
    """Airflow's SimpleAuthManager, as the demo's API server sets it up (no server started): it opens the file
    "a+" and rewrites it only for a missing user, so it must neither change the password nor the mode."""
    login = ensure_login(tmp_path)
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env |= {
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(login.path),
    }
    probe = (
        "import json\n"
        "from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager\n"
        "SimpleAuthManager().init()\n"
        "print(json.dumps(SimpleAuthManager.get_passwords()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {USERNAME: login.password}
    assert mode(login.path) == 0o600
    assert read_login(tmp_path).password == login.password
