"""Our BatchJobTrigger against the amazon provider's, side by side in one run, at N concurrent jobs.

For each N, each provider and each log rate, starts a fresh `fake_aws.py` (the counting stand-in for
Batch and CloudWatch Logs) and a fresh `trigger_load.py` in that provider's environment, lets N jobs
run JOB_SECONDS (plus up to one poll interval, so they end at every phase of a poll), and joins what
the server counted with what the client saw into one row:

- AWS calls per job-minute, by action, and against the floor of one DescribeJobs per 100 jobs per poll
- resident memory per waiting job (KB) and CPU per job-minute (ms), in the triggers' process
- detection latency: the job's end to its trigger's event (p50, p95)
- with logs: lines written by the jobs, lines logged (each once), duplicates, log lag (written → logged)
  p95, and the most CloudWatch Logs calls in any one second

    uv run python benchmarks/triggers.py --jobs 100 500 1000 --amazon-python .bench/amazon/bin/python
    uv run python benchmarks/triggers.py --jobs 10 --poll 1 --job-seconds 3 --providers plus   # smoke

Rows go to --out (JSON, one object per run, appended as each run ends) and to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 2)


def busiest_second(times: list[float]) -> int:
    """The most calls made within any one second (a sliding window over the call times)."""
    ordered, most, left = sorted(times), 0, 0
    for right, moment in enumerate(ordered):
        while moment - ordered[left] >= 1.0:
            left += 1
        most = max(most, right - left + 1)
    return most


def start_fake(job_seconds: float, jitter: float, log_rate: float) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "fake_aws.py"),
            "--job-seconds",
            str(job_seconds),
            "--jitter",
            str(jitter),
            "--log-rate",
            str(log_rate),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


@dataclass(frozen=True)
class Scenario:
    provider: str
    jobs: int
    poll: int
    job_seconds: float
    log_rate: float


def run_once(scenario: Scenario, python: str) -> dict[str, Any]:
    provider, jobs, poll, job_seconds, log_rate = astuple(scenario)
    fake, endpoint = start_fake(job_seconds, jitter=poll, log_rate=log_rate)
    try:
        with tempfile.TemporaryDirectory(prefix="batch-plus-bench-") as scratch:
            out = Path(scratch) / "client.json"
            command = [python, str(HERE / "trigger_load.py"), provider, "--jobs", str(jobs), "--poll", str(poll)]
            command += ["--endpoint", endpoint, "--out", str(out), "--timeout", str(job_seconds + poll * 4 + 120)]
            if log_rate:
                command.append("--logs")
            # The triggers' own log output (every line at INFO) is part of the cost, but not for the terminal.
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=HERE.parent)
            client = json.loads(out.read_text())
        with urllib.request.urlopen(endpoint + "/stats", timeout=60) as answer:  # our own 127.0.0.1 server
            server = json.loads(answer.read())
    finally:
        fake.kill()
        fake.wait()
    return summarise(scenario, client, server)


def summarise(scenario: Scenario, client: dict[str, Any], server: dict[str, Any]) -> dict[str, Any]:
    provider, jobs, poll, job_seconds, log_rate = astuple(scenario)
    ours = {job_id for job_id in server["first_seen"] if job_id.startswith("job-")}
    runtime = {job_id: server["runtime"][job_id] for job_id in ours}
    job_minutes = sum(runtime.values()) / 60 or 1.0
    # The warm-up trigger's calls came before the measured triggers started: they are not counted.
    calls = Counter(server["calls"])
    calls.subtract(client["calls_before"])
    logs_call_times = [moment for moment in server["logs_call_times"] if moment >= client["started"]]
    describe_floor = math.ceil(jobs / 100) * (sum(runtime.values()) / len(runtime) if runtime else 0) / poll
    latency = [
        fired - (server["first_seen"][job_id] + runtime[job_id])
        for job_id, fired in client["fired"].items()
        if job_id in runtime
    ]
    row: dict[str, Any] = {
        "provider": provider,
        "jobs": jobs,
        "poll_s": poll,
        "job_s": job_seconds,
        "log_rate": log_rate,
        "finished": len(client["fired"]),
        "statuses": client["statuses"],
        "calls": dict(calls),
        "calls_per_job_minute": round(sum(calls.values()) / job_minutes, 3),
        "describe_calls_per_job_minute": round(calls["DescribeJobs"] / job_minutes, 3),
        "describe_floor_per_job_minute": round(describe_floor / job_minutes, 3),
        "describe_vs_floor": round(calls["DescribeJobs"] / describe_floor, 2) if describe_floor else None,
        "rss_kb_per_job": round((client["waiting_mb"] - client["baseline_mb"]) * 1024 / jobs, 1),
        "cpu_ms_per_job_minute": round(client["cpu_s"] * 1000 / job_minutes, 2),
        "detect_p50_s": percentile(latency, 0.5),
        "detect_p95_s": percentile(latency, 0.95),
        "wall_s": round(client["wall_s"], 1),
    }
    if log_rate:
        written = {(job_id, seq) for job_id in ours for seq in range(int(runtime[job_id] * log_rate))}
        logged: Counter[tuple[str, int]] = Counter()
        lag = []
        for job_id, seq, when in client["lines"]:
            key = (job_id, seq)
            if key not in written:
                continue
            logged[key] += 1
            if logged[key] == 1:
                lag.append(when - (server["first_seen"][job_id] + seq / log_rate))
        row.update(
            {
                "lines_written": len(written),
                "lines_logged": len(logged),
                "lines_duplicated": sum(count - 1 for count in logged.values()),
                "log_lag_p50_s": percentile(lag, 0.5),
                "log_lag_p95_s": percentile(lag, 0.95),
                "logs_calls_busiest_second": busiest_second(logs_call_times),
                "logs_calls_per_second": round(len(logs_call_times) / max(client["wall_s"], 1.0), 2),
            }
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--poll", type=int, default=5, help="seconds between status checks")
    parser.add_argument("--job-seconds", type=float, default=30)
    parser.add_argument("--log-rates", type=float, nargs="+", default=[0, 2], help="lines per second per job")
    parser.add_argument("--providers", nargs="+", choices=["plus", "amazon"], default=["plus", "amazon"])
    parser.add_argument("--amazon-python", default=None, help="python of an environment with the amazon provider")
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the rows (a list)")
    args = parser.parse_args()
    if "amazon" in args.providers and not args.amazon_python:
        parser.error("--amazon-python is needed to measure the amazon provider (`make bench` makes that environment)")
    pythons = {"plus": sys.executable, "amazon": args.amazon_python}
    rows: list[dict[str, Any]] = []
    for log_rate in args.log_rates:
        for jobs in args.jobs:
            for provider in args.providers:
                began = time.monotonic()
                scenario = Scenario(provider, jobs, args.poll, args.job_seconds, log_rate)
                row = run_once(scenario, pythons[provider])
                row["measured_in_s"] = round(time.monotonic() - began, 1)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if args.out:
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
