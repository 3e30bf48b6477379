"""The benchmarks still run: tiny versions of each, checked for what they report, never for how fast.

Benchmarks are not timed tests. These prove that the trigger benchmark, the end-to-end throughput
benchmark and the report that turns their JSON into docs/benchmarks.md's tables and plots all work,
and that what they count is right (every job finished, every line logged once), at a size CI affords.
The amazon provider's side needs an environment of its own (`make bench-env`), so it is not run here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


def run_script(name: str, *args: str, timeout: float) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


# The scripts bound themselves (subprocess timeouts); pytest-timeout, 120 s by default, only catches a hang.
@pytest.mark.timeout(400)
def test_the_trigger_benchmark_and_its_report(tmp_path: Path) -> None:
    results = tmp_path / "results"
    run_script(
        "triggers.py",
        *("--jobs", "6", "--poll", "1", "--job-seconds", "2", "--log-rates", "0", "2", "--providers", "plus"),
        *("--out", str(results / "triggers.json")),
        timeout=240,
    )
    rows = json.loads((results / "triggers.json").read_text())
    assert [(row["provider"], row["jobs"], row["log_rate"]) for row in rows] == [("plus", 6, 0), ("plus", 6, 2)]
    for row in rows:
        assert row["finished"] == 6 and row["statuses"] == {"success": 6}
        assert row["calls"]["DescribeJobs"] > 0 and row["detect_p95_s"] is not None
    logged = rows[1]
    assert logged["lines_written"] > 0
    assert (logged["lines_logged"], logged["lines_duplicated"]) == (logged["lines_written"], 0)

    doc = tmp_path / "docs" / "benchmarks.md"
    doc.parent.mkdir()
    doc.write_text("# Benchmarks\n\nhand-written prose\n\n<!-- results:begin -->\nold\n<!-- results:end -->\n\nmore\n")
    run_script("report.py", "--results", str(results), "--doc", str(doc), timeout=120)
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nhand-written prose\n") and text.endswith("\n\nmore\n")
    assert "old" not in text and "| airflow-batch-plus | 6 |" in text
    for image in ("bench-calls.png", "bench-memory.png", "bench-cpu.png", "bench-latency.png"):
        assert (doc.parent / "images" / image).read_bytes().startswith(b"\x89PNG")
        assert f"](images/{image})" in text


@pytest.mark.timeout(300)
def test_the_trigger_benchmark_across_triggerers_and_its_report(tmp_path: Path) -> None:
    results = tmp_path / "results"
    run_script(
        "triggers.py",
        *("--jobs", "20", "--processes", "2", "1", "--poll", "1", "--job-seconds", "3", "--log-rates", "0"),
        *("--providers", "plus", "--out", str(results / "triggers_scale.json")),
        timeout=240,
    )
    rows = json.loads((results / "triggers_scale.json").read_text())
    assert [(row["processes"], row["jobs"]) for row in rows] == [(2, 20), (1, 20)]
    for row in rows:
        assert row["finished"] == 20 and row["statuses"] == {"success": 20}
        assert row["calls"]["DescribeJobs"] > 0 and row["detect_p95_s"] is not None
    spread = rows[0]
    assert [(part["jobs"], part["finished"]) for part in spread["per_process"]] == [(10, 10), (10, 10)]
    # 20 jobs: 1 call a poll for one poller, 2 for two (1 + 1): the split's cost, shown apart from the floor.
    assert spread["describe_vs_floor"] == pytest.approx(2 * spread["describe_vs_process_floor"], rel=0.02)
    # Looking at each job every poll takes one look more than the floor's runtime / poll (5 looks, not 3.5).
    assert 0 < spread["describe_vs_cadence_floor"] < spread["describe_vs_process_floor"]

    (results / "triggers.json").write_text(json.dumps([rows[1]]))  # report.py needs the single-process rows too
    doc = tmp_path / "docs" / "benchmarks.md"
    doc.parent.mkdir()
    doc.write_text("# Benchmarks\n\n<!-- results:begin -->\n<!-- results:end -->\n")
    run_script("report.py", "--results", str(results), "--doc", str(doc), timeout=120)
    text = doc.read_text()
    assert "### Across triggerers" in text and "| airflow-batch-plus | 20 | 2 |" in text
    assert "--processes 2 1" in text


@pytest.mark.timeout(120)
def test_the_trigger_benchmark_in_event_mode_with_faults_and_its_report(tmp_path: Path) -> None:
    """Event mode beside polling: with a fifth of the events dropped, a fifth twice and a fifth out of order,
    every job is still detected and no trigger fires with another outcome than its job's (some end FAILED)."""
    results = tmp_path / "results"
    run_script(
        "triggers.py",
        *("--jobs", "20", "--poll", "1", "--job-seconds", "4", "--start-seconds", "2", "--fail-fraction", "0.3"),
        *("--providers", "plus", "plus-events", "--fault-rates", "0", "0.2", "--reconcile", "3", "--log-rates", "0"),
        *("--out", str(results / "triggers_events.json")),
        timeout=100,
    )
    rows = json.loads((results / "triggers_events.json").read_text())
    assert [(row["provider"], (row.get("event_faults") or {}).get("drop")) for row in rows] == [
        ("plus", None),
        ("plus-events", 0.0),
        ("plus-events", 0.2),
    ]
    for row in rows:
        assert row["real_final"].keys() == {"FAILED", "SUCCEEDED"}  # both outcomes are checked
        assert (row["wrong_outcomes"], row["fired_early"], row["undetected"]) == (0, 0, 0)
        assert row["statuses"] == {"failed": row["real_final"]["FAILED"], "success": row["real_final"]["SUCCEEDED"]}
    polling, clean, faulty = rows
    assert polling["sqs_calls_per_job_minute"] == 0 and polling["calls"]["DescribeJobs"] > 0
    for row in (clean, faulty):
        # SQS calls are counted by the server with the rest; every event was read and deleted.
        assert row["calls"]["ReceiveMessage"] > 0 and row["calls"]["DeleteMessageBatch"] > 0
        assert row["sqs_calls_per_job_minute"] > 0
        assert row["event_reader"]["applied"] > 0
    assert clean["queue"].get("dropped", 0) == 0
    assert faulty["queue"]["dropped"] > 0 and faulty["queue"]["duplicated"] > 0 and faulty["queue"]["reordered"] > 0

    (results / "triggers.json").write_text(json.dumps([polling]))  # report.py needs the single-process rows too
    doc = tmp_path / "docs" / "benchmarks.md"
    doc.parent.mkdir()
    doc.write_text("# Benchmarks\n\n<!-- results:begin -->\n<!-- results:end -->\n")
    run_script("report.py", "--results", str(results), "--doc", str(doc), timeout=60)
    text = doc.read_text()
    assert (
        "### Event-driven waiting" in text
        and "| airflow-batch-plus | events (reconcile 3 s, confirm wait 0.5 s) | 20 | 1 s | 20 % drop" in text
    )
    assert "benchmarks/triggers.py --jobs 20 --poll 1" in text and "--fault-rates 0 0.2 --reconcile 3" in text


@pytest.mark.timeout(420)  # starts a whole Airflow: about 100 s on 2 cores beside another test worker
def test_the_throughput_benchmark_runs_mapped_tasks_through_a_real_airflow(tmp_path: Path) -> None:
    out = tmp_path / "throughput.json"
    run_script(
        "throughput.py",
        *("--tasks", "3", "--job-seconds", "4", "--line-seconds", "1", "--poll", "1", "--parallelism", "2"),
        *("--out", str(out)),
        timeout=400,
    )
    result = json.loads(out.read_text())
    assert result["run_state"] == "success"
    assert result["final_states"] == {"success": 3}
    assert result["batch_calls"]["submitjob"] == 3
    assert result["accounting"] == {
        "jobs": 3,
        "tasks": 3,
        "tasks_with_one_job": 3,
        "tasks_without_a_job": 0,
        "tasks_with_several_jobs": 0,
        "task_state_differs_from_job": 0,
    }
    assert (result["lines_written"], result["lines_logged"], result["lines_duplicated"]) == (12, 12, 0)
    assert result["timeline"] and result["triggerer_cpu_s"] > 0
    # end_from_trigger on: each task ran once in a worker (to submit); its trigger ended it.
    assert (result["ending"], result["worker_runs"]) == ("triggerer", 3)
    assert 0 < result["job_end_to_task_end_p50_s"] <= result["job_end_to_task_end_p95_s"] < 60

    # The report puts each setting in a column of its own, with the command that makes it under the table.
    # The amazon provider's row is this row relabelled: its own run needs `make bench-env`.
    results = tmp_path / "results"
    shutil.copytree(BENCHMARKS / "results", results)  # the other benchmarks' tables need their results
    amazon = {**result, "provider": "amazon", "ending": "worker"}
    (results / "throughput.json").write_text(json.dumps([result, amazon]))
    doc = tmp_path / "benchmarks.md"
    doc.write_text("<!-- results:begin -->\n<!-- results:end -->\n")
    run_script("report.py", "--results", str(results), "--doc", str(doc), timeout=120)
    text = doc.read_text()
    assert "ours: the triggerer ends tasks (end_from_trigger on)" in text
    assert "amazon provider, deferrable `BatchOperator` (resumes in a worker)" in text
    assert "--end-from-trigger on --out" in text
    assert "--provider amazon --amazon-python .bench/amazon/bin/python --out" in text
