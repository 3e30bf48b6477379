"""End-to-end throughput: N mapped BatchSubmitJobOperator tasks through a real Airflow and its triggerer.

Starts the demo's whole Airflow (API server, scheduler with the LocalExecutor, DAG processor,
triggerer; SQLite) against the local AWS Batch, with benchmarks/dags/ as its DAG folder, triggers
`batch_throughput` (N mapped tasks; each job prints a line every few seconds for JOB_SECONDS) and
watches it through the REST API until the run ends. It reports how long submitting, deferring and
finishing N tasks took, how many tasks were deferred at once, the AWS calls the local Batch served
by action, the triggerer's CPU and peak memory (its whole process tree), whether every job's every
line reached its task log exactly once, and the accounting: every job listed from Batch set against
every task instance (one job per task, each task in its job's state).

    uv run python benchmarks/throughput.py --tasks 1000 [--job-seconds 60] [--poll 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import socket
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

from airflow_batch_plus.local.supervisor import AirflowApi, DemoSettings, Supervisor

HERE = Path(__file__).resolve().parent
DAG_ID = "batch_throughput"
STATES = ("scheduled", "queued", "running", "deferred", "success", "failed", "up_for_retry", "upstream_failed")
LINE = re.compile(r"\bline (\d+)\b")
MAP_INDEX = re.compile(r"map_index=(\d+)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def task_states(api: AirflowApi, run_id: str) -> dict[str, int]:
    """How many of the run's task instances are in each state (one small query per state)."""
    counts = {}
    for state in STATES:
        answer = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?state={state}&limit=1")
        counts[state] = int(answer["total_entries"]) if answer else -1  # type: ignore[call-overload]
    return counts


def account_jobs(api: AirflowApi, run_id: str, endpoint_url: str, tasks: int) -> dict[str, int]:
    """Every job of the run, listed and described from Batch, set against every task instance: how many
    tasks had exactly one job, none or several, and how many ended in a state other than their job's."""
    import boto3

    batch = boto3.client(
        "batch",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",  # the local Batch takes any
        aws_secret_access_key="testing",
    )
    job_ids = [
        summary["jobId"]
        for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
        for page in batch.get_paginator("list_jobs").paginate(jobQueue="local-queue", jobStatus=status)
        for summary in page["jobSummaryList"]
    ]
    jobs_by_task: dict[int, list[str]] = {}
    for start in range(0, len(job_ids), 100):
        for job in batch.describe_jobs(jobs=job_ids[start : start + 100])["jobs"]:
            tags = job.get("tags") or {}
            if tags.get("airflow-batch-plus:dag-id") == DAG_ID and tags.get("airflow-batch-plus:run-id"):
                jobs_by_task.setdefault(int(tags["airflow-batch-plus:map-index"]), []).append(job["status"])
    states: dict[int, str] = {}
    for offset in range(0, tasks, 100):
        page = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=100&offset={offset}")
        listed: list[dict[str, Any]] = list((page or {}).get("task_instances") or [])  # type: ignore[call-overload]
        for ti in listed:
            states[int(ti["map_index"])] = str(ti["state"])
    expected = {"SUCCEEDED": "success", "FAILED": "failed"}
    return {
        "jobs": sum(len(found) for found in jobs_by_task.values()),
        "tasks": len(states),
        "tasks_with_one_job": sum(1 for found in jobs_by_task.values() if len(found) == 1),
        "tasks_without_a_job": sum(1 for index in states if index not in jobs_by_task),
        "tasks_with_several_jobs": sum(1 for found in jobs_by_task.values() if len(found) > 1),
        "task_state_differs_from_job": sum(
            1
            for index, state in states.items()
            if len(jobs_by_task.get(index, [])) != 1 or expected.get(jobs_by_task[index][0]) != state
        ),
    }


class TreeMeter:
    """CPU seconds and peak resident memory of a process and all its descendants, sampled."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.cpu: dict[int, float] = {}
        self.peak_mb = 0.0

    def sample(self) -> None:
        resident = 0
        with contextlib.suppress(psutil.Error):
            for process in [self.root, *self.root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = process.cpu_times()
                    self.cpu[process.pid] = times.user + times.system
                    resident += process.memory_info().rss
        self.peak_mb = max(self.peak_mb, resident / 2**20)

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu.values())


def count_logged_lines(logs_dir: Path, run_id: str) -> Counter[tuple[int, int]]:
    """(map index, line number) → times it appears in the run's task logs (worker and triggerer parts)."""
    seen: Counter[tuple[int, int]] = Counter()
    for path in logs_dir.rglob("*"):
        if not path.is_file() or f"run_id={run_id}" not in str(path):
            continue
        index = MAP_INDEX.search(str(path))
        if index is None:
            continue
        for raw in path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                event = str(json.loads(raw).get("event", ""))
                for number in LINE.findall(event):
                    seen[(int(index.group(1)), int(number))] += 1
    return seen


def measure(tasks: int, job_seconds: int, poll: int, line_seconds: int, parallelism: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="batch-plus-throughput-") as scratch:
        settings = DemoSettings(
            state_dir=Path(scratch),
            dags_folder=HERE / "dags",
            api_port=free_port(),
            first_dag=None,
            startup_timeout=300,
            parallelism=parallelism,
            max_vcpus=tasks,
            extra_env={
                "BENCH_TASKS": str(tasks),
                "BENCH_JOB_SECONDS": str(job_seconds),
                "BENCH_LINE_SECONDS": str(line_seconds),
                "BENCH_POLL_SECONDS": str(poll),
                "AIRFLOW__CORE__MAX_MAP_LENGTH": str(max(1024, tasks)),
            },
        )
        with Supervisor(settings, say=lambda message: print(message, flush=True)) as supervisor:
            supervisor.start()
            assert supervisor.batch is not None
            api = supervisor.api()
            meter = TreeMeter(supervisor.pids["triggerer"])
            meter.sample()
            cpu_before, calls_before = meter.cpu_s, supervisor.batch.calls
            run_id = supervisor.trigger(DAG_ID, deadline=time.monotonic() + 300)
            started = time.monotonic()
            timeline: list[dict[str, Any]] = []
            state = "queued"
            deadline = started + job_seconds + 30 * 60
            while state in ("queued", "running") and time.monotonic() < deadline:
                time.sleep(1)
                supervisor.check_alive()  # a dead triggerer would leave every task deferred for ever
                meter.sample()
                counts = task_states(api, run_id)
                timeline.append({"t": round(time.monotonic() - started, 1), **counts})
                run = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}") or {}
                state = str(run.get("state", state))
            wall = time.monotonic() - started
            meter.sample()
            calls = supervisor.batch.calls
            calls.subtract(calls_before)
            logged = count_logged_lines(settings.state_dir / "airflow" / "logs", run_id)
            accounting = account_jobs(api, run_id, supervisor.batch.endpoint_url, tasks)
            triggerer_cpu = meter.cpu_s - cpu_before
    lines_per_job = job_seconds // line_seconds
    written = {(index, number) for index in range(tasks) for number in range(1, lines_per_job + 1)}

    def first(condition: Any) -> float | None:
        return next((sample["t"] for sample in timeline if condition(sample)), None)

    return {
        "tasks": tasks,
        "job_s": job_seconds,
        "poll_s": poll,
        "parallelism": parallelism,
        "run_state": state,
        "wall_s": round(wall, 1),
        "tasks_per_minute": round(tasks / wall * 60, 1),
        "first_deferred_s": first(lambda sample: sample["deferred"] > 0),
        "all_deferred_s": first(lambda sample: sample["deferred"] + sample["success"] >= tasks),
        "most_deferred_at_once": max((sample["deferred"] for sample in timeline), default=0),
        "final_states": {key: value for key, value in timeline[-1].items() if key != "t" and value} if timeline else {},
        "batch_calls": {action: count for action, count in sorted(calls.items()) if count},
        "triggerer_cpu_s": round(triggerer_cpu, 1),
        "triggerer_peak_mb": round(meter.peak_mb, 1),
        "accounting": accounting,
        "lines_written": len(written),
        "lines_logged": len(set(logged) & written),
        "lines_duplicated": sum(count - 1 for key, count in logged.items() if key in written),
        "timeline": timeline,
    }


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--job-seconds", type=int, default=60)
    parser.add_argument("--poll", type=int, default=5)
    parser.add_argument("--line-seconds", type=int, default=5, help="each job prints a line this often")
    parser.add_argument("--parallelism", type=int, default=8, help="Airflow's [core] parallelism (task slots)")
    parser.add_argument("--out", type=Path, default=None, help="write the result here as JSON")
    args = parser.parse_args()
    # SIGTERM (and SIGINT, which a background job ignores) end the run through the Supervisor's exit,
    # which stops every Airflow process it started.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _interrupt)
    result = measure(args.tasks, args.job_seconds, args.poll, args.line_seconds, args.parallelism)
    summary = {key: value for key, value in result.items() if key != "timeline"}
    print(json.dumps(summary, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
