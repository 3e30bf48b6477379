"""The import-cost benchmark still runs (a smoke run: one interpreter per module, two modules).

Benchmarks are not timed tests: this checks that the script works and reports numbers, not what they are.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "import_cost.py"


@pytest.mark.timeout(320)  # the script's own bound is 300 s; pytest-timeout only catches a hang
def test_the_import_cost_benchmark_reports_both_providers() -> None:
    modules = ["airflow_batch_plus.operators.batch", "airflow.providers.amazon.aws.operators.batch"]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--runs", "1", "--json", "--modules", *modules],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert [(row["provider"], row["module"]) for row in report["imports"]] == [
        ("plus", modules[0]),
        ("amazon", modules[1]),
    ]
    assert all(row["ms"] > 0 for row in report["imports"])
