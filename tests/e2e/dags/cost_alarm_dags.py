"""The DAG tests/e2e/test_cost_alarm.py runs: example_dags/example_batch_cost_alarm.py itself, read from its
file so the test runs exactly what users copy. Its queue URL comes from the demo (the queue it bootstraps)
and its grace from the test module's `AIRFLOW_EXTRA_ENV`.
"""

from __future__ import annotations

from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[3] / "example_dags" / "example_batch_cost_alarm.py"
exec(compile(EXAMPLE.read_text(), str(EXAMPLE), "exec"))  # our own example file
