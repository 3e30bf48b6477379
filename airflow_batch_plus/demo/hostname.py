"""The host name each Celery worker of the demo's "ha" profile reports: `[core] hostname_callable` of its processes.

In a deployment every Celery worker runs on a host of its own, and a task instance's `hostname` says which
one ran it. The demo's workers share one machine, so each is given the name of its component instead
(`celery-worker-1`, `celery-worker-2`) through the environment: the UI and the REST API then show which
worker ran a task, as they would in production. The worker and the task processes it starts read the same
variable, so the host name a task reports when it starts and in its heartbeats is always the same.

Airflow imports this by path in every worker and task process: it imports only `os` and `socket`.
"""

from __future__ import annotations

import os
import socket

VARIABLE = "AIRFLOW_BATCH_PLUS_HOSTNAME"


def from_environment() -> str:
    """`$AIRFLOW_BATCH_PLUS_HOSTNAME`, else this machine's fully qualified name (Airflow's default)."""
    return os.environ.get(VARIABLE) or socket.getfqdn()
