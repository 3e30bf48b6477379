"""A job's container, played by a local process in its own process group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence

LineSink = Callable[[str, int], None]
"""Receives each output line (without its newline) and the epoch-millisecond time it was printed."""

_HOST_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "PYENV_ROOT", "VIRTUAL_ENV")


def container_environment(variables: Mapping[str, str]) -> dict[str, str]:
    """A container does not inherit its host's environment: pass only what a shell needs to find programs."""
    base = {name: os.environ[name] for name in _HOST_VARIABLES if name in os.environ}
    return {**base, **variables}


class JobProcess:
    """Runs one attempt's command; streams stdout and stderr line by line to a sink as they are printed.

    The process leads its own process group so a stop signal reaches everything it started, as
    ECS StopTask reaches every process of a container.
    """

    def __init__(self, argv: Sequence[str], environment: Mapping[str, str], cwd: str, sink: LineSink):
        self._sink = sink
        self._popen = subprocess.Popen(
            list(argv),
            env=container_environment(environment),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._pump, name=f"local-batch-log-{self.pid}", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._popen.pid

    def _pump(self) -> None:
        assert self._popen.stdout is not None
        for raw in iter(self._popen.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            self._sink(line, int(time.time() * 1000))
        self._popen.stdout.close()

    def signal(self, signum: int) -> None:
        """Signal the whole process group; a group that is already gone is not an error."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, signum)

    def exit_code(self) -> int | None:
        """The exit code once the main process has ended and every line is delivered, else None.

        A process killed by signal N reports 128 + N, as a container runtime does.
        """
        code = self._popen.poll()
        if code is None:
            return None
        # The container ends with its main process: leftovers in the group would hold stdout open.
        self.signal(signal.SIGKILL)
        self._reader.join(timeout=5)
        return 128 - code if code < 0 else code

    def kill(self) -> None:
        """SIGKILL the group and reap the process: used at shutdown so no job process outlives the server."""
        self.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout=5)
        self._reader.join(timeout=5)
