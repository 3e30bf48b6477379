"""Every benchmark in one run, then docs/benchmarks.md's tables and plots (`make bench` runs this).

1. import cost of each public module, ours beside the amazon provider's (benchmarks/import_cost.py)
2. N = 100, 500 and 1,000 concurrently deferred jobs, ours and the amazon provider's trigger, without
   and with logs (benchmarks/triggers.py)
3. 1,000 mapped tasks through a real Airflow and triggerer against the local AWS Batch
   (benchmarks/throughput.py)
4. benchmarks/report.py

Each step writes its JSON under benchmarks/results/ as soon as it is done. Run them one at a time on
an otherwise idle machine: they measure CPU.

    uv run python benchmarks/run_all.py --amazon-python .bench/amazon/bin/python [--jobs 100 500 1000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS = ("imports", "triggers", "throughput", "report")


def run(*args: str, stdout_to: Path | None = None) -> None:
    print("+ " + " ".join(args), flush=True)
    if stdout_to is None:
        subprocess.run([sys.executable, *args], check=True, cwd=HERE.parent)
        return
    stdout_to.parent.mkdir(parents=True, exist_ok=True)
    with stdout_to.open("w") as out:
        subprocess.run([sys.executable, *args], check=True, cwd=HERE.parent, stdout=out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amazon-python", required=True, help="python of the amazon provider's environment")
    parser.add_argument("--jobs", nargs="+", default=["100", "500", "1000"])
    parser.add_argument("--tasks", default="1000", help="mapped tasks for the throughput run")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--only", nargs="+", choices=STEPS, default=list(STEPS))
    args = parser.parse_args()
    results = args.results
    if "imports" in args.only:
        run("benchmarks/import_cost.py", "--json", stdout_to=results / "imports.json")
    if "triggers" in args.only:
        run(
            "benchmarks/triggers.py",
            "--jobs",
            *args.jobs,
            "--amazon-python",
            args.amazon_python,
            "--out",
            str(results / "triggers.json"),
        )
    if "throughput" in args.only:
        run("benchmarks/throughput.py", "--tasks", args.tasks, "--out", str(results / "throughput.json"))
    if "report" in args.only:
        run("benchmarks/report.py", "--results", str(results))


if __name__ == "__main__":
    main()
