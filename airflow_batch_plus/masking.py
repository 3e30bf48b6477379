"""Secret masking of a SubmitJob request's override environment, before anything can print a value.

Override environment values may be secrets (a token handed to the job). The operator registers them with
Airflow's secrets masker when it renders its templated fields (before Airflow stores them), and the hook
before SubmitJob (so neither our logs nor botocore's print them in a task log): both call this one
function. Outside the hooks so that the operator does not load boto3 to mask; Airflow's masker is
imported only when called, so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_batch_plus.environment import override_environment_values


def mask_override_environment(request: Mapping[str, Any]) -> None:
    """Register every environment value of a SubmitJob request's overrides with Airflow's secrets masker."""
    from airflow.sdk.log import mask_secret

    for value in override_environment_values(request):
        mask_secret(value)
