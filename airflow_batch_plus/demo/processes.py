"""The demo's process plumbing, shared by the supervisor (Airflow's components) and the servers it starts
(Postgres, Redis): signalling a process group, telling whether a pid is gone, the end of a log, and the
command's SIGINT/SIGTERM handling.

A module of its own so that `supervisor` and `server_base` read one definition of each (they had a copy
each of "is this pid gone" and "the end of this log") and neither imports the other. Standard library
only; Linux, like the demo (a pid's state is read from /proc).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Send `signum` to the process group `process` leads (it was started with start_new_session), children
    included; a group that is already gone is not an error."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie counts as gone: only its parent can reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait up to `timeout` seconds for `pid` to be `gone`; whether it is."""
    deadline = time.monotonic() + timeout
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def tail(text: str, lines: int = 20) -> str:
    """The last `lines` lines of `text` (a log), for an error message that says why something died."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


@contextmanager
def signals_set(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop` while inside (then the previous handlers come back)."""

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
