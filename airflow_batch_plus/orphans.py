"""Whether this process has outlived the Airflow process that supervises it.

The Task SDK runs a task in a process group of its own, and a triggerer runs its triggers in a child
process. When only the supervising process dies (a Celery worker or a triggerer SIGKILLed without its
children), the task or trigger process runs on, and its next log line, XCom or heartbeat fails with a
broken pipe. That is not the task ending: Airflow retries the task once its heartbeat is old, or gives
the trigger to another triggerer, and the new owner follows the job. So neither the operator nor the
trigger stops a job on the way out of a process whose supervisor is gone (the operator still does on
its last try, when no retry will follow the job).
"""

from __future__ import annotations

import os


class SupervisorWatch:
    """Remembers this process's parent when made; `lost()` tells whether that parent has died since."""

    def __init__(self) -> None:
        self.parent_pid = os.getppid()

    def lost(self) -> bool:
        # An orphan is re-parented (to init or a subreaper): its parent pid changes, never back.
        return os.getppid() != self.parent_pid
