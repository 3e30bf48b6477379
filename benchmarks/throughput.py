"""End-to-end throughput: N mapped BatchSubmitJobOperator tasks through a real Airflow and its triggerers.

Starts the demo's whole Airflow against the local AWS Batch in one of its two profiles: "sqlite" (API
server, scheduler with the LocalExecutor, DAG processor, one triggerer; SQLite) or "ha" (Postgres and
Redis, the CeleryExecutor with two Celery workers, two triggerers), with benchmarks/dags/ as its DAG
folder, triggers `batch_throughput` (N mapped tasks; each job prints a line every few seconds for
JOB_SECONDS) and watches it through the REST API until the run ends. It reports how long submitting,
deferring and finishing N tasks took, how many tasks were deferred at once, the AWS calls the local
Batch served by action, the CPU of each component's whole process tree (each triggerer's and their sum,
with their peak memory; the workers that run the tasks; on "ha" Postgres and Redis), whether every
job's every line reached its task log exactly once, and the accounting: every job listed from Batch set
against every task instance (one job per task, each task in its job's state).

With `--end-from-trigger off` each deferred task resumes in a worker when its job ends (how every task
ended before `end_from_trigger`); with `on` (the default, as a deployment gets it) the triggerer ends it.
Each row also counts the worker runs of the tasks (a task runner's start, read from the task logs) and
how long each task took to end after its job did (the job's stoppedAt to the task instance's end_date).

`--provider amazon --amazon-python PATH` measures the amazon provider's deferrable `BatchOperator` instead
(the same DAG with BENCH_PROVIDER=amazon: the same jobs, queue and job definition) on the same Airflow, started
from PATH's environment (`make bench-env`: the same Airflow version with the provider's aiobotocore
extra), against the same local Batch; its tasks resume in a worker when their jobs end.

    uv run python benchmarks/throughput.py --tasks 1000 [--profile sqlite|ha] [--end-from-trigger on|off]
        [--provider plus|amazon [--amazon-python .bench/amazon/bin/python]]
        [--job-seconds 60] [--poll 5] [--out FILE [--append]]

--out gets this run's row as one object; with --append it becomes a list of rows, one per profile,
provider and ending, in which this run's row replaces the file's row of the same setting (if any) and the
others stay, so the settings can be measured one after the other (`run_all.py` does) or again one at a time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import socket
import statistics
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import psutil

from airflow_batch_plus.demo.airflow_api import AirflowApi
from airflow_batch_plus.demo.settings import CELERY_WORKERS, HA_TRIGGERERS, PROFILES, DemoSettings, Profile
from airflow_batch_plus.demo.supervisor import Supervisor

if TYPE_CHECKING:
    from airflow_batch_plus.local import LocalBatchServer

HERE = Path(__file__).resolve().parent
DAG_ID = "batch_throughput"
STATES = ("scheduled", "queued", "running", "deferred", "success", "failed", "up_for_retry", "upstream_failed")
LINE = re.compile(r"\bline (\d+)\b")
WORKER_RUN = "Worker startup parse complete"  # the task runner logs it once per run of a task in a worker
MAP_INDEX = re.compile(r"map_index=(\d+)")
JOB_NAME = re.compile(r"throughput-(\d+)")  # both providers' DAGs name each task's job after its map index
Provider = Literal["plus", "amazon"]


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


def account_jobs(api: AirflowApi, run_id: str, server: LocalBatchServer, tasks: int) -> dict[str, Any]:
    """Every job of the run, listed and described from Batch, set against every task instance (by the map
    index in the job's name): how many tasks had exactly one job, none or several, and how many ended in a
    state other than their job's; and the time from each job's end to its task's (p50, p95). The local
    Batch is the run's own, so every job it holds is one of the run's."""
    import boto3

    batch = boto3.client(
        "batch",
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=server.key.access_key_id,
        aws_secret_access_key=server.key.secret_access_key,
    )
    job_ids = [
        summary["jobId"]
        for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
        for page in batch.get_paginator("list_jobs").paginate(jobQueue="local-queue", jobStatus=status)
        for summary in page["jobSummaryList"]
    ]
    jobs_by_task: dict[int, list[str]] = {}
    stopped_at: dict[int, float] = {}
    for start in range(0, len(job_ids), 100):
        for job in batch.describe_jobs(jobs=job_ids[start : start + 100])["jobs"]:
            named = JOB_NAME.fullmatch(job["jobName"])
            if named:
                index = int(named.group(1))
                jobs_by_task.setdefault(index, []).append(job["status"])
                if job.get("stoppedAt"):
                    stopped_at[index] = job["stoppedAt"] / 1000
    states: dict[int, str] = {}
    ended_at: dict[int, float] = {}
    for offset in range(0, tasks, 100):
        page = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=100&offset={offset}")
        listed: list[dict[str, Any]] = list((page or {}).get("task_instances") or [])  # type: ignore[call-overload]
        for ti in listed:
            states[int(ti["map_index"])] = str(ti["state"])
            if ti.get("end_date"):
                ended_at[int(ti["map_index"])] = datetime.fromisoformat(ti["end_date"]).timestamp()
    expected = {"SUCCEEDED": "success", "FAILED": "failed"}
    # A task with one job: how long after its job stopped the task ended (both clocks are this machine's).
    lags = sorted(
        ended_at[index] - stopped_at[index]
        for index, found in jobs_by_task.items()
        if len(found) == 1 and index in stopped_at and index in ended_at
    )
    return {
        "job_end_to_task_end_p50_s": round(statistics.median(lags), 2) if lags else None,
        "job_end_to_task_end_p95_s": round(lags[max(0, math.ceil(0.95 * len(lags)) - 1)], 2) if lags else None,
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
    """CPU seconds and resident memory of a process and all its descendants, sampled.

    A process's CPU here is its own and that of the children it has reaped (the kernel adds a child's
    CPU to its parent's when the parent waits for it): task processes live a few seconds, and many
    start and exit between two samples, so summing only the processes seen alive would miss most of a
    worker's CPU. The sum is a running total that never goes down (a child that has exited but is not
    reaped yet is seen neither alive nor in its parent's figure for a moment).

    `part` splits one tree in two: the sqlite profile's scheduler runs the LocalExecutor's worker
    processes, whose CPU is the tasks', while its own process's is scheduling. "descendants" counts the
    root's descendants and reaped children but not the root's own CPU; "root" counts only the root's own.
    """

    def __init__(self, pid: int, part: Literal["tree", "descendants", "root"] = "tree"):
        self.root = psutil.Process(pid)
        self.part = part
        self.cpu_s = 0.0
        self.rss_mb = 0.0
        self.peak_mb = 0.0

    def sample(self) -> None:
        total, resident = 0.0, 0
        with contextlib.suppress(psutil.Error):
            tree = [self.root] if self.part == "root" else [self.root, *self.root.children(recursive=True)]
            for process in tree:
                with contextlib.suppress(psutil.Error):
                    times = process.cpu_times()
                    if self.part != "root":
                        total += times.children_user + times.children_system
                    if self.part != "descendants" or process.pid != self.root.pid:
                        total += times.user + times.system
                    resident += process.memory_info().rss
        self.cpu_s = max(self.cpu_s, total)
        self.rss_mb = resident / 2**20
        self.peak_mb = max(self.peak_mb, self.rss_mb)


class Meters:
    """One TreeMeter per measured part of the profile's Airflow, by name, and the CPU each used since `start`.

    Triggerers: each triggerer component. Workers, which run the tasks (submit, and resume after the
    trigger's event): the Celery workers' process trees on "ha", the scheduler's descendants (the
    LocalExecutor's processes) on "sqlite". Servers: Postgres (the postmaster and its backends) and
    Redis on "ha". Others: the rest of Airflow (API server, DAG processor, and the scheduler, without
    its executor's processes on "sqlite"), so the table shows where the rest of the cores went.
    """

    def __init__(self, supervisor: Supervisor):
        pids = supervisor.pids
        self.triggerers = {name: TreeMeter(pids[name]) for name in pids if name in HA_TRIGGERERS}
        if supervisor.settings.profile == "ha":
            self.workers = {name: TreeMeter(pids[name]) for name in pids if name in CELERY_WORKERS}
            scheduler = TreeMeter(pids["scheduler"])
        else:
            self.workers = {"local-executor": TreeMeter(pids["scheduler"], "descendants")}
            scheduler = TreeMeter(pids["scheduler"], "root")
        self.servers = {name: TreeMeter(pid) for name, pid in supervisor.server_pids.items()}
        self.others = {
            "scheduler": scheduler,
            **{name: TreeMeter(pids[name]) for name in ("api-server", "dag-processor")},
        }
        self.before: dict[str, float] = {}
        self.triggerers_peak_mb = 0.0

    def all(self) -> dict[str, TreeMeter]:
        """Every meter by name (the names are the components', unique across the groups)."""
        return {**self.triggerers, **self.workers, **self.servers, **self.others}

    def sample(self) -> None:
        for meter in self.all().values():
            meter.sample()
        # Both triggerers' memory at the same moment: what they hold together, not the sum of two peaks.
        self.triggerers_peak_mb = max(self.triggerers_peak_mb, sum(m.rss_mb for m in self.triggerers.values()))

    def start(self) -> None:
        """Take the CPU figures the run's are counted from: Airflow's start-up is not the run's cost."""
        self.sample()
        self.before = {name: meter.cpu_s for name, meter in self.all().items()}

    def used(self, meters: dict[str, TreeMeter]) -> dict[str, float]:
        """CPU seconds each of `meters` used since `start`."""
        return {name: round(meter.cpu_s - self.before[name], 1) for name, meter in meters.items()}


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


def count_worker_runs(logs_dir: Path, run_id: str) -> int:
    """How many times a worker ran one of the run's tasks: the task runner's start line in the worker's log
    files (`attempt=N.log`; the triggerer's parts are files of their own)."""
    runs = 0
    for path in logs_dir.rglob("attempt=*.log"):
        if f"run_id={run_id}" in str(path):
            runs += sum(1 for raw in path.read_text(errors="replace").splitlines() if WORKER_RUN in raw)
    return runs


def measure(
    tasks: int,
    job_seconds: int,
    poll: int,
    line_seconds: int,
    parallelism: int,
    *,
    profile: Profile = "sqlite",
    end_from_trigger: bool = True,
    provider: Provider = "plus",
    amazon_python: Path | None = None,
) -> dict[str, Any]:
    if provider == "amazon" and amazon_python is None:
        raise SystemExit("--provider amazon needs --amazon-python (the environment `make bench-env` makes)")
    amazon = provider == "amazon"
    load_before = os.getloadavg()  # others' CPU use skews CPU and throughput: kept with the row
    with tempfile.TemporaryDirectory(prefix="batch-plus-throughput-") as scratch:
        settings = DemoSettings(
            state_dir=Path(scratch),
            dags_folder=HERE / "dags",
            api_port=free_port(),
            profile=profile,
            first_dag=None,
            startup_timeout=300,
            parallelism=parallelism,
            max_vcpus=tasks,
            extra_env={
                "BENCH_TASKS": str(tasks),
                "BENCH_JOB_SECONDS": str(job_seconds),
                "BENCH_LINE_SECONDS": str(line_seconds),
                "BENCH_POLL_SECONDS": str(poll),
                "BENCH_PROVIDER": provider,
                "AIRFLOW__CORE__MAX_MAP_LENGTH": str(max(1024, tasks)),
                "AIRFLOW__BATCH_PLUS__END_FROM_TRIGGER": str(end_from_trigger),
                # The amazon environment runs the demo's helpers (hostname, SQLite settings) from this checkout,
                # without this provider's entry point: Airflow there has the amazon provider only.
                **({"PYTHONPATH": str(HERE.parent)} if amazon else {}),
            },
            airflow_python=amazon_python if amazon else None,
        )
        with Supervisor(settings, say=lambda message: print(message, flush=True)) as supervisor:
            supervisor.start()
            assert supervisor.batch is not None
            api = supervisor.api()
            meters = Meters(supervisor)
            meters.start()
            calls_before = supervisor.batch.calls
            run_id = supervisor.trigger(DAG_ID, deadline=time.monotonic() + 300)
            started = time.monotonic()
            timeline: list[dict[str, Any]] = []
            state = "queued"
            deadline = started + job_seconds + 30 * 60
            while state in ("queued", "running") and time.monotonic() < deadline:
                time.sleep(1)
                supervisor.check_alive()  # a dead triggerer would leave every task deferred for ever
                meters.sample()
                counts = task_states(api, run_id)
                timeline.append({"t": round(time.monotonic() - started, 1), **counts})
                run = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}") or {}
                state = str(run.get("state", state))
            wall = time.monotonic() - started
            # Read after the run ended: the last sample of the loop was taken before its last state read.
            final_states = {key: value for key, value in task_states(api, run_id).items() if value}
            meters.sample()
            calls = supervisor.batch.calls
            calls.subtract(calls_before)
            logged = count_logged_lines(settings.state_dir / "airflow" / "logs", run_id)
            worker_runs = count_worker_runs(settings.state_dir / "airflow" / "logs", run_id)
            accounting = account_jobs(api, run_id, supervisor.batch, tasks)
    lines_per_job = job_seconds // line_seconds
    written = {(index, number) for index in range(tasks) for number in range(1, lines_per_job + 1)}
    triggerers_cpu = meters.used(meters.triggerers)
    workers_cpu = meters.used(meters.workers)

    def first(condition: Any) -> float | None:
        return next((sample["t"] for sample in timeline if condition(sample)), None)

    return {
        "profile": profile,
        "provider": provider,
        "ending": "triggerer" if end_from_trigger and not amazon else "worker",
        "tasks": tasks,
        "job_s": job_seconds,
        "line_s": line_seconds,
        "poll_s": poll,
        "parallelism": parallelism,
        "run_state": state,
        "wall_s": round(wall, 1),
        "tasks_per_minute": round(tasks / wall * 60, 1),
        "worker_runs": worker_runs,
        "job_end_to_task_end_p50_s": accounting.pop("job_end_to_task_end_p50_s"),
        "job_end_to_task_end_p95_s": accounting.pop("job_end_to_task_end_p95_s"),
        "first_deferred_s": first(lambda sample: sample["deferred"] > 0),
        "all_deferred_s": first(lambda sample: sample["deferred"] + sample["success"] >= tasks),
        "most_deferred_at_once": max((sample["deferred"] for sample in timeline), default=0),
        "final_states": final_states,
        "batch_calls": {action: count for action, count in sorted(calls.items()) if count},
        # Summed over the profile's triggerers (one on sqlite); peak: their memory at the same moment.
        "triggerer_cpu_s": round(sum(triggerers_cpu.values()), 1),
        "triggerer_peak_mb": round(meters.triggerers_peak_mb, 1),
        "triggerers": {
            name: {"cpu_s": triggerers_cpu[name], "peak_mb": round(meter.peak_mb, 1)}
            for name, meter in meters.triggerers.items()
        },
        "worker_cpu_s": round(sum(workers_cpu.values()), 1),
        "workers_cpu_s": workers_cpu,
        "servers_cpu_s": meters.used(meters.servers),
        "others_cpu_s": meters.used(meters.others),
        "load_before": [round(value, 2) for value in load_before],
        "load_after": [round(value, 2) for value in os.getloadavg()],
        "accounting": accounting,
        "lines_written": len(written),
        "lines_logged": len(set(logged) & written),
        "lines_duplicated": sum(count - 1 for key, count in logged.items() if key in written),
        "timeline": timeline,
    }


def setting(row: dict[str, Any]) -> tuple[str, str, str]:
    """What a row measured: its profile, provider and where its tasks ended."""
    return row["profile"], row["provider"], row["ending"]


def save(result: dict[str, Any], out: Path, append: bool) -> None:
    """Write `result` to `out`: alone, as one object (what callers reading one run expect), or with `append`
    as a list of rows in which it replaces the row of its setting (profile, provider, ending), if any, so
    that measuring a setting again leaves no two rows of it for the report to choose between. An object
    already in `out` counts as one row."""
    payload: dict[str, Any] | list[dict[str, Any]] = result
    if append:
        kept = json.loads(out.read_text()) if out.exists() else []
        rows = [kept] if isinstance(kept, dict) else list(kept)
        payload = [*(row for row in rows if setting(row) != setting(result)), result]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=1) + "\n")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--job-seconds", type=int, default=60)
    parser.add_argument("--poll", type=int, default=5)
    parser.add_argument("--line-seconds", type=int, default=5, help="each job prints a line this often")
    parser.add_argument(
        "--parallelism",
        type=int,
        default=8,
        help="Airflow's [core] parallelism (task slots; on ha each of the two Celery workers gets half)",
    )
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="sqlite",
        help="the demo's profile: sqlite (LocalExecutor, one triggerer) or ha (Postgres, Redis, CeleryExecutor "
        "with two workers, two triggerers)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the result here as JSON")
    parser.add_argument(
        "--append",
        action="store_true",
        help="make --out a list of rows and keep its rows of other profiles (this profile's is replaced)",
    )
    parser.add_argument(
        "--end-from-trigger",
        choices=("on", "off"),
        default="on",
        help="[batch_plus] end_from_trigger: the triggerer ends each task (on) or a worker resumes it (off)",
    )
    parser.add_argument(
        "--provider",
        choices=("plus", "amazon"),
        default="plus",
        help="ours (plus) or the amazon provider's deferrable BatchOperator (needs --amazon-python)",
    )
    parser.add_argument("--amazon-python", type=Path, default=None, help="the amazon provider environment's python")
    args = parser.parse_args()
    # SIGTERM (and SIGINT, which a background job ignores) end the run through the Supervisor's exit,
    # which stops every Airflow process it started.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _interrupt)
    result = measure(
        args.tasks,
        args.job_seconds,
        args.poll,
        args.line_seconds,
        args.parallelism,
        profile=args.profile,
        end_from_trigger=args.end_from_trigger == "on",
        provider=args.provider,
        amazon_python=args.amazon_python,
    )
    summary = {key: value for key, value in result.items() if key != "timeline"}
    print(json.dumps(summary, indent=1))
    if args.out:
        save(result, args.out, args.append)


if __name__ == "__main__":
    main()
