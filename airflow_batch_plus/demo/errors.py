"""The demo's one error type and its port check, shared by the supervisor and the servers it starts.

A module of its own so that `servers` (Postgres, Redis) and `supervisor` (which starts them) can both raise
it without importing each other.
"""

from __future__ import annotations

import socket


class DemoError(RuntimeError):
    """The demo cannot start: the message says what is wrong and what to do."""


def check_port_free(port: int, what: str, flag: str = "--port") -> None:
    """Raise DemoError naming the fix if `port` on 127.0.0.1 is taken (better than a server's own bind error)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise DemoError(
                f"port {port} on 127.0.0.1 is taken, so the {what} cannot start there: stop what uses it "
                f"(`ss -ltnp 'sport = :{port}'` shows it) or pass another port ({flag})"
            ) from None


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (the server binds it right after: a small race, on our host)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
