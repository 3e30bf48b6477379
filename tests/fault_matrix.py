"""Run every fault test once and write the fault matrix of docs/reliability.md from what it injected.

    uv run --no-sync python tests/fault_matrix.py      (or `make fault-matrix`)

Each fault test's proxy appends the faults it dealt to a JSON-lines report ($FAULT_MATRIX_REPORT); the
table counts them by operation and kind, only if every test passed: a fault in the table was survived
(the call still returned the right answer, or failed with the clear error its test expects).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
TESTS = [
    "tests/unit/hooks/test_faults.py",
    "tests/unit/triggers/test_trigger_faults.py",
    "tests/integration/test_faults_in_airflow.py",
]
BEGIN, END = "<!-- fault-matrix:begin -->", "<!-- fault-matrix:end -->"
LEVELS = {"tests/unit/hooks": "hooks", "tests/unit/triggers": "trigger", "tests/integration": "Airflow task"}


def run_tests(report: Path) -> tuple[int, str]:
    env = {**os.environ, "FAULT_MATRIX_REPORT": str(report)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *TESTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-500:]
    return result.returncode, summary


def table(entries: list[dict[str, object]], summary: str) -> str:
    by_cell: Counter[tuple[str, str]] = Counter()
    by_level: Counter[str] = Counter()
    tests: Counter[str] = Counter()
    for entry in entries:
        label = str(entry["label"])
        level = next((name for prefix, name in LEVELS.items() if label.startswith(prefix)), "other")
        tests[level] += 1
        for item in entry["injected"]:  # type: ignore[attr-defined]
            by_cell[(item["operation"], item["fault"])] += item["count"]
            by_level[level] += item["count"]
    faults = sorted({fault for _, fault in by_cell})
    operations = sorted({operation for operation, _ in by_cell})
    lines = [
        f"Faults injected and survived, by operation and kind ({summary}; "
        f"{sum(by_cell.values())} faults in {sum(tests.values())} tests):",
        "",
        "| operation | " + " | ".join(faults) + " | all |",
        "| --- | " + " | ".join("---:" for _ in faults) + " | ---: |",
    ]
    for operation in operations:
        cells = [str(by_cell[(operation, fault)] or "") for fault in faults]
        lines.append(f"| {operation} | " + " | ".join(cells) + f" | {sum(by_cell[(operation, f)] for f in faults)} |")
    totals = [str(sum(by_cell[(operation, fault)] for operation in operations)) for fault in faults]
    lines.append("| **all** | " + " | ".join(totals) + f" | **{sum(by_cell.values())}** |")
    lines += [
        "",
        "By level: "
        + ", ".join(f"{level} {count} faults in {tests[level]} tests" for level, count in by_level.items()),
    ]
    return "\n".join(lines)


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "faults.jsonl"
        code, summary = run_tests(report)
        if code != 0:
            print(f"fault tests failed ({summary}); the matrix is not written", file=sys.stderr)
            return code
        entries = [json.loads(line) for line in report.read_text().splitlines()]
    text = DOC.read_text()
    passed = re.search(r"\d+ passed", summary)
    section = f"{BEGIN}\n{table(entries, passed.group(0) if passed else summary)}\n{END}"
    DOC.write_text(re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: section, text, flags=re.S))
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
