"""What importing each public module costs a DAG parse, on top of `airflow.sdk`, beside the amazon provider.

Every DAG file that uses an operator imports its module each time the DAG processor parses it, so an
import that drags in boto3 and botocore's models costs every parse. Each measurement runs in a fresh
interpreter (nothing cached in `sys.modules`): import `airflow.sdk`, then time the module alone. The
median of several runs is reported, in milliseconds.

    uv run python benchmarks/import_cost.py [--runs 7] [--json] [--modules M ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

OURS = (
    "airflow_batch_plus.operators.batch",
    "airflow_batch_plus.operators.stop",
    "airflow_batch_plus.sensors.batch",
    "airflow_batch_plus.callbacks",
    "airflow_batch_plus.links",
    "airflow_batch_plus.triggers.batch",
    "airflow_batch_plus.hooks.batch",
    "airflow_batch_plus.hooks.logs",
)
AMAZON = (
    "airflow.providers.amazon.aws.operators.batch",
    "airflow.providers.amazon.aws.sensors.batch",
)
# The modules a DAG file imports; the rest only load when a task or the triggerer runs.
PARSED_BY_DAGS = {
    "airflow_batch_plus.operators.batch",
    "airflow_batch_plus.operators.stop",
    "airflow_batch_plus.sensors.batch",
    "airflow_batch_plus.callbacks",
}

PROBE = """
import time, importlib
import airflow.sdk
start = time.perf_counter()
importlib.import_module({module!r})
print(time.perf_counter() - start)
"""


def import_ms(module: str, runs: int) -> float:
    """Median milliseconds to import `module` after `airflow.sdk`, each run in a new interpreter."""
    samples = []
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True, check=True
        )
        samples.append(float(result.stdout.strip().splitlines()[-1]) * 1000)
    return round(statistics.median(samples), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per module (the median is kept)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--modules", nargs="+", default=[*OURS, *AMAZON], help="only these modules")
    args = parser.parse_args()
    rows = [
        {
            "provider": "plus" if module.startswith("airflow_batch_plus") else "amazon",
            "module": module,
            "ms": import_ms(module, args.runs),
        }
        for module in args.modules
    ]
    if args.json:
        print(json.dumps({"runs": args.runs, "imports": rows}))
        return
    print(f"{'provider':8} {'module':50} {'ms after airflow.sdk':>20}")
    for row in rows:
        mark = "  (DAG parse)" if row["module"] in PARSED_BY_DAGS or row["provider"] == "amazon" else ""
        print(f"{row['provider']:8} {row['module']:50} {row['ms']:>20}{mark}")


if __name__ == "__main__":
    main()
