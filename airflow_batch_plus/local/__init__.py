"""A local AWS Batch: moto plus a real job lifecycle, with jobs run as local processes (extra `[local]`)."""

from airflow_batch_plus.local.bootstrap import BootstrapResult
from airflow_batch_plus.local.config import LocalBatchConfig
from airflow_batch_plus.local.runtime import LocalBatch, LocalBatchServer, PortInUseError

__all__ = ["BootstrapResult", "LocalBatch", "LocalBatchConfig", "LocalBatchServer", "PortInUseError"]
