"""airflow-batch-plus: an Apache Airflow provider for AWS Batch."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def get_provider_info() -> dict[str, Any]:
    """Describe this provider to Airflow's providers manager (entry point `apache_airflow_provider`)."""
    return {
        "package-name": "airflow-batch-plus",
        "name": "AWS Batch Plus",
        "description": "AWS Batch operators that never leave a job behind.",
        "versions": [__version__],
    }
