"""Importing the trigger module loads no hook, and so no boto3: a triggerer pays for them when a trigger runs."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_trigger_module_loads_neither_a_hook_nor_boto3() -> None:
    code = (
        "import sys, airflow.sdk; import airflow_batch_plus.triggers.batch; "
        "print(sorted(m for m in ('boto3', 'botocore', 'airflow_batch_plus.hooks.logs', "
        "'airflow_batch_plus.hooks.batch', 'airflow_batch_plus.hooks.base') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert loaded.stdout.strip() == "[]"
