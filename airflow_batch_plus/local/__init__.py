"""A local AWS Batch: moto plus a real job lifecycle, with jobs run as local processes (extra `[local]`).

Its names are imported on first use: importing the package, or a light module of it such as `rules` or
`config`, does not import moto and the server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_batch_plus.local.auth import AccessKey
    from airflow_batch_plus.local.bootstrap import BootstrapResult
    from airflow_batch_plus.local.config import LocalBatchConfig
    from airflow_batch_plus.local.runtime import LocalBatch, LocalBatchServer, PortInUseError

__all__ = ["AccessKey", "BootstrapResult", "LocalBatch", "LocalBatchConfig", "LocalBatchServer", "PortInUseError"]

_MODULE_OF = {
    "AccessKey": "airflow_batch_plus.local.auth",
    "BootstrapResult": "airflow_batch_plus.local.bootstrap",
    "LocalBatchConfig": "airflow_batch_plus.local.config",
    "LocalBatch": "airflow_batch_plus.local.runtime",
    "LocalBatchServer": "airflow_batch_plus.local.runtime",
    "PortInUseError": "airflow_batch_plus.local.runtime",
}


def __getattr__(name: str) -> Any:
    if name in _MODULE_OF:
        return getattr(importlib.import_module(_MODULE_OF[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
