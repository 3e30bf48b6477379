"""How long a task of this provider waits in the triggerer, and whether it waits there by default.

The submit operator and `BatchJobSensor` both defer to `BatchJobTrigger` under one deadline rule; it
lives here, not in either, so a sensor imports no operator module (nor an operator a sensor's).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from airflow.sdk import conf

from airflow_batch_plus import CONFIG_SECTION

# Airflow's own deferral timeout comes this long after the trigger's deadline, so the trigger,
# which stops the job (or, for a sensor, leaves it), always fires first.
DEFERRAL_TIMEOUT_MARGIN = timedelta(minutes=2)


def default_deferrable() -> bool:
    """`[batch_plus] default_deferrable` (environment: `AIRFLOW__BATCH_PLUS__DEFAULT_DEFERRABLE`), true by default.

    Not Airflow's `[operators] default_deferrable`: Airflow ships that option false and writes it into
    every airflow.cfg it generates, so honouring it would quietly turn deferral off in nearly every
    deployment, whether anyone chose that or not.
    """
    return conf.getboolean(CONFIG_SECTION, "default_deferrable", fallback=True)


def try_deadline(ti: Any, seconds: float) -> float:
    """When `seconds` from the start of task instance `ti`'s try run out (epoch seconds); from now if
    Airflow has not recorded the start."""
    start = ti.start_date
    started = start.timestamp() if start is not None else time.time()
    return started + seconds


def deferral_timeout(deadline: float) -> timedelta:
    """The timeout to give Airflow for a deferral whose trigger ends the wait at `deadline` (epoch seconds):
    what is left of it, plus `DEFERRAL_TIMEOUT_MARGIN`, so Airflow's timeout is only a backstop."""
    return timedelta(seconds=max(0.0, deadline - time.time())) + DEFERRAL_TIMEOUT_MARGIN
