"""The ha profile's Postgres and Redis (airflow_batch_plus.demo.servers): Debian's binaries started under a
directory of their own, on 127.0.0.1 only, as an unprivileged user when we are root, reused or cleaned up
on the next start, and gone after stop."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

import psutil
import psycopg2
import pytest
import redis

from airflow_batch_plus.demo.errors import DemoError
from airflow_batch_plus.demo.servers import PostgresServer, RedisServer


def family(pid: int) -> list[psutil.Process]:
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def kill(processes: list[psutil.Process]) -> None:
    """SIGKILL whatever the test left (only if it failed: the servers stop them otherwise)."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


def users(processes: list[psutil.Process]) -> set[str]:
    """Who runs them (a backend that has just exited is left out)."""
    found = set()
    for process in processes:
        try:
            found.add(process.username())
        except psutil.NoSuchProcess:
            continue
    return found


def gone(processes: list[psutil.Process], timeout: float = 5) -> list[psutil.Process]:
    """The processes still running after `timeout` (a zombie whose parent is init counts as gone)."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for process in processes:
            try:
                if process.status() != psutil.STATUS_ZOMBIE:
                    left.append(process)
            except psutil.NoSuchProcess:
                continue
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def listening(processes: list[psutil.Process]) -> set[str]:
    pids = {process.pid for process in processes}
    return {
        connection.laddr.ip
        for connection in psutil.net_connections(kind="inet")
        if connection.pid in pids and connection.status == psutil.CONN_LISTEN
    }


def test_postgres_serves_the_airflow_database_on_127_0_0_1_keeps_it_across_starts_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    with PostgresServer(tmp_path / "postgres") as server:
        assert server.pid is not None
        processes = family(server.pid)
        assert listening(processes) == {"127.0.0.1"}
        if os.geteuid() == 0:
            assert users(processes) == {"postgres"}
        assert (server.socket_dir / f".s.PGSQL.{server.port}").exists()
        with psycopg2.connect(server.dsn()) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT current_database(), current_user, inet_server_addr()::text")
            assert cursor.fetchone() == ("airflow", "airflow", "127.0.0.1/32")
            cursor.execute("CREATE TABLE kept (value text); INSERT INTO kept VALUES ('from the first start')")
        connection.close()
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            psycopg2.connect(server.dsn().replace(server.password, "wrong")).close()
        first_port, password = server.port, server.password
    assert gone(processes) == []
    assert server.pid is None

    with PostgresServer(tmp_path / "postgres") as again:  # the same cluster, on a new free port
        assert again.password == password
        assert again.port != 0
        with psycopg2.connect(again.dsn()) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT value FROM kept")
            assert cursor.fetchall() == [("from the first start",)]
        connection.close()
        assert again.pid is not None
        processes = family(again.pid)
    assert gone(processes) == []
    print(f"ports {first_port} then {again.port}")


def test_a_postgres_left_running_by_an_earlier_demo_is_stopped_before_the_next_start(tmp_path: Path) -> None:
    first = PostgresServer(tmp_path / "postgres").start()
    assert first.pid is not None
    orphans = family(first.pid)
    first.pid = None  # its supervisor was SIGKILLed: nobody stops it
    try:
        with PostgresServer(tmp_path / "postgres") as second:
            assert gone(orphans) == []
            assert second.pid is not None and second.pid != orphans[0].pid
            processes = family(second.pid)
        assert gone(processes) == []
    finally:
        kill(orphans)


def test_redis_needs_its_password_listens_on_127_0_0_1_and_stops_leaving_nothing(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as server:
        assert server.pid is not None
        processes = family(server.pid)
        assert listening(processes) == {"127.0.0.1"}
        if os.geteuid() == 0:
            assert users(processes) == {"redis"}
        client = redis.Redis.from_url(server.url())
        assert client.ping() is True
        client.set("key", "value")
        assert client.get("key") == b"value"
        client.close()
        anonymous = redis.Redis(host="127.0.0.1", port=server.port)
        with pytest.raises(redis.AuthenticationError):
            anonymous.get("key")
        anonymous.close()
    assert gone(processes, timeout=0.5) == []  # its parent, the server object, reaped it
    assert server.pid is None and not server.ping()


def test_a_redis_left_running_by_an_earlier_demo_is_stopped_before_the_next_start(tmp_path: Path) -> None:
    first = RedisServer(tmp_path / "redis").start()
    assert first.process is not None
    orphan = psutil.Process(first.process.pid)
    first.process = None  # its supervisor was SIGKILLed: nobody stops it
    try:
        with RedisServer(tmp_path / "redis") as second:
            assert gone([orphan]) == []
            assert second.ping()
    finally:
        kill([orphan])


@pytest.mark.parametrize(
    ("server", "named"),
    [(RedisServer, "redis-server not found"), (PostgresServer, "pg_ctl/initdb/postgres/psql (all in one directory)")],
)
def test_a_missing_binary_names_the_fix_before_anything_is_made(
    tmp_path: Path, server: type[RedisServer | PostgresServer], named: str
) -> None:
    with pytest.raises(DemoError) as raised:
        server(tmp_path / "server", search_path="")
    assert named in str(raised.value)
    assert "run `make servers`" in str(raised.value)
    assert not (tmp_path / "server").exists()


@pytest.mark.parametrize("server", [RedisServer, PostgresServer])
def test_a_taken_port_is_reported_with_the_fix(tmp_path: Path, server: type[RedisServer | PostgresServer]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(DemoError, match=f"port {port} on 127.0.0.1 is taken"):
            server(tmp_path / "server", port).start()
