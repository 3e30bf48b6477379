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

Across triggerers (`--processes P`): production runs several triggerers, each with its own poller, so
the N jobs are split into P shares as even as they go, each share waited on by a `trigger_load.py` of
its own, all against the one fake endpoint. The P processes warm up, meet at a barrier and start their
jobs together; the row joins them: calls as the server counted them, memory growth and CPU summed over
the processes, latency over every job. Its DescribeJobs floor stays ceil(N/100) per poll, what one
poller over all N jobs would need; `describe_vs_process_floor` is against sum(ceil(n_i/100)) per
poll, the least P pollers of n_i jobs each can make (at most P - 1 calls a poll more).
`describe_vs_cadence_floor` is against the least calls pollers that really look at each job every
poll need (`cadence_floor`): a job is looked at when it starts and every poll until a look finds it
ended, one look more than the floor's runtime / poll.

    uv run python benchmarks/triggers.py --jobs 100 500 1000 --amazon-python .bench/amazon/bin/python
    uv run python benchmarks/triggers.py --jobs 5000 --processes 2 1 --log-rates 0 --providers plus \
        --out benchmarks/results/triggers_scale.json
    uv run python benchmarks/triggers.py --jobs 10 --poll 1 --job-seconds 3 --providers plus   # smoke

Event mode (`--providers plus-events`, results in `results/triggers_events.json`): our trigger with
`[batch_plus] job_events_queue_url` pointing at the fake's SQS queue of "Batch Job State Change" events
(`fake_aws.py --events`) and `job_events_reconcile_seconds` at `--reconcile`, one row per
`--fault-rates` value r (r of the events dropped, r delivered twice, r out of order), beside `plus`
(polling) and `amazon` in the same run. With `--start-seconds` jobs go RUNNABLE → STARTING → RUNNING
(an event each) and with `--fail-fraction` some end FAILED, so each row also checks outcomes: wrong
(the trigger's event status is not what the job's real final status calls for), early (fired before
the job ended) and undetected (no event by the end of the run). SQS calls (ReceiveMessage,
DeleteMessageBatch, GetQueueUrl) are counted by the server with the rest, and per job-minute apart.

    uv run python benchmarks/triggers.py --jobs 1000 5000 --providers plus plus-events \
        --poll 5 --job-seconds 120 --start-seconds 10 --fail-fraction 0.1 --log-rates 0 \
        --fault-rates 0 0.05 --reconcile 300 --out benchmarks/results/triggers_events.json
    uv run python benchmarks/triggers.py --jobs 1000 --providers amazon --poll 5 --job-seconds 120 \
        --start-seconds 10 --fail-fraction 0.1 --log-rates 0 --amazon-python .bench/amazon/bin/python \
        --out benchmarks/results/triggers_events.json --append

Rows go to --out (JSON, one object per run, appended as each run ends) and to stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
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


def cadence_floor(runtimes: list[list[float]], poll: float) -> int:
    """The fewest DescribeJobs that pollers looking at each job every `poll` s can make, one list of run
    times per poller (its jobs start together, at its first look).

    A job is looked at when it starts and every poll after, until a look finds it ended: 1 +
    ceil(runtime / poll) looks, one more than the runtime / poll of the floor (a 30-35 s job at 5 s: 8
    looks, not 6.5). At look k a poller needs ceil(jobs still running / 100) calls.
    """
    calls = 0
    for share in runtimes:
        looks = [1 + math.ceil(runtime / poll) for runtime in share]
        for k in range(max(looks, default=0)):
            calls += math.ceil(sum(1 for count in looks if count > k) / 100)
    return calls


def start_fake(scenario: Scenario) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, str(HERE / "fake_aws.py"), "--job-seconds", str(scenario.job_seconds)]
    command += ["--jitter", str(scenario.jitter), "--log-rate", str(scenario.log_rate)]
    command += ["--start-seconds", str(scenario.start_seconds), "--fail-fraction", str(scenario.fail_fraction)]
    if scenario.provider == "plus-events":
        rate = scenario.fault_rate
        command += ["--events", "--drop", str(rate), "--duplicate", str(rate), "--reorder", str(rate)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


@dataclass(frozen=True)
class Scenario:
    provider: str
    jobs: int
    poll: int
    job_seconds: float
    log_rate: float
    processes: int = 1
    jitter: float | None = None  # each job runs up to this much longer (None: one poll)
    start_seconds: float = 0.0  # RUNNABLE, then STARTING, for this long before RUNNING
    fail_fraction: float = 0.0  # jobs that end FAILED
    reconcile: float = 300.0  # plus-events: job_events_reconcile_seconds (the provider's default)
    confirm: float = 0.5  # plus-events: job_events_confirm_seconds (the provider's default)
    fault_rate: float = 0.0  # plus-events: events dropped, and as many delivered twice, and out of order

    def __post_init__(self) -> None:
        if self.jitter is None:
            object.__setattr__(self, "jitter", float(self.poll))

    @property
    def events(self) -> bool:
        return self.provider == "plus-events"

    def share(self, jobs: int) -> Scenario:
        return dataclasses.replace(self, jobs=jobs, processes=1)


def shares(jobs: int, processes: int) -> list[int]:
    """The jobs of each of `processes` triggerers: as even as they go (5,000 over 2: 2,500 and 2,500)."""
    return [jobs // processes + (1 if index < jobs % processes else 0) for index in range(processes)]


def load_command(python: str, scenario: Scenario, endpoint: str, out: Path) -> list[str]:
    """One trigger_load.py: the whole run when alone, its share when `--first-index`/`--barrier` are added."""
    command = [python, str(HERE / "trigger_load.py"), scenario.provider, "--jobs", str(scenario.jobs)]
    command += ["--poll", str(scenario.poll), "--endpoint", endpoint, "--out", str(out)]
    timeout = scenario.job_seconds + (scenario.jitter or 0) + scenario.poll * 4 + 120
    if scenario.events:
        # A job whose end event is lost is found by the reconciliation, at most one interval later.
        command += ["--reconcile", str(scenario.reconcile), "--confirm", str(scenario.confirm)]
        timeout += scenario.reconcile
    command += ["--timeout", str(timeout)]
    if scenario.log_rate:
        command.append("--logs")
    return command


def server_stats(endpoint: str) -> dict[str, Any]:
    with urllib.request.urlopen(endpoint + "/stats", timeout=60) as answer:  # our own 127.0.0.1 server
        stats: dict[str, Any] = json.loads(answer.read())
    return stats


def run_once(scenario: Scenario, python: str) -> dict[str, Any]:
    fake, endpoint = start_fake(scenario)
    try:
        with tempfile.TemporaryDirectory(prefix="batch-plus-bench-") as scratch:
            if scenario.processes == 1:
                out = Path(scratch) / "client.json"
                # The triggers' own log output (every line at INFO) is part of the cost, but not for the terminal.
                subprocess.run(
                    load_command(python, scenario, endpoint, out),
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    cwd=HERE.parent,
                )
                client = json.loads(out.read_text())
                per_process = [client]
            else:
                per_process = run_processes(scenario, python, endpoint, Path(scratch))
                client = join_clients(per_process)
        server = server_stats(endpoint)
    finally:
        fake.kill()
        fake.wait()
    row = summarise(scenario, client, server)
    if scenario.processes > 1:
        row["per_process"] = [
            {
                "jobs": part["jobs"],
                "finished": len(part["fired"]),
                "rss_growth_mb": round(part["waiting_mb"] - part["baseline_mb"], 1),
                "cpu_s": round(part["cpu_s"], 2),
                "wall_s": round(part["wall_s"], 1),
            }
            for part in per_process
        ]
    return row


def run_processes(scenario: Scenario, python: str, endpoint: str, scratch: Path) -> list[dict[str, Any]]:
    """P trigger_load.py at once, each with its share of the jobs; started together once all warmed up.

    The server's counts are read between "all ready" and "go", so every process's warm-up is left out
    and every measured call is in, whichever process made it.
    """
    barrier = scratch / "barrier"
    barrier.mkdir()
    children: list[tuple[subprocess.Popen[bytes], Path]] = []
    first = 0
    try:
        for index, jobs in enumerate(shares(scenario.jobs, scenario.processes)):
            out = scratch / f"client-{index}.json"
            share = scenario.share(jobs)
            command = load_command(python, share, endpoint, out)
            command += ["--first-index", str(first), "--barrier", str(barrier)]
            first += jobs
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=HERE.parent)
            children.append((process, out))
        deadline = time.monotonic() + 300
        while len(list(barrier.glob("ready-*"))) < len(children):
            failed = [process.args for process, _ in children if process.poll() not in (None, 0)]
            if failed or time.monotonic() > deadline:
                raise RuntimeError(f"trigger processes did not all warm up: {failed or 'timed out'}")
            time.sleep(0.05)
        calls_before = server_stats(endpoint)["calls"]
        (barrier / "go").touch()
        for process, _ in children:
            if process.wait() != 0:
                raise subprocess.CalledProcessError(process.returncode, process.args)
    finally:
        for process, _ in children:
            if process.poll() is None:
                process.kill()
                process.wait()
    results = [json.loads(out.read_text()) for _, out in children]
    for result in results:
        result["calls_before"] = calls_before
    return results


def join_clients(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """P processes' results as one client's: sums of memory and CPU, every job's event and line.

    Memory is joined as growth (each process's peak less its own baseline, summed), so the row's
    KB per waiting job is the sum of the processes' growth over N, not P interpreters over N.
    """
    statuses: Counter[str] = Counter()
    for part in parts:
        statuses.update(part["statuses"])
    return {
        "provider": parts[0]["provider"],
        "jobs": sum(part["jobs"] for part in parts),
        "baseline_mb": sum(part["baseline_mb"] for part in parts),
        "waiting_mb": sum(part["waiting_mb"] for part in parts),
        "cpu_s": sum(part["cpu_s"] for part in parts),
        "started": min(part["started"] for part in parts),
        "calls_before": parts[0]["calls_before"],
        "wall_s": max(part["started"] + part["wall_s"] for part in parts) - min(part["started"] for part in parts),
        "fired": {job_id: when for part in parts for job_id, when in part["fired"].items()},
        "statuses": dict(sorted(statuses.items())),
        "lines": [line for part in parts for line in part["lines"]],
        "outcomes": {job_id: status for part in parts for job_id, status in part.get("outcomes", {}).items()},
        "event_reader": _sum_counts(part.get("event_reader") for part in parts),
        "shares": [part["jobs"] for part in parts],
    }


def _sum_counts(parts: Any) -> dict[str, int] | None:
    counts: Counter[str] = Counter()
    seen = False
    for part in parts:
        if part is not None:
            seen = True
            counts.update(part)
    return dict(counts) if seen else None


# The status of the event each provider's trigger fires for a job that ended so (amazon: its waiter's).
EXPECTED_STATUS = {
    "plus": {"SUCCEEDED": "success", "FAILED": "failed"},
    "plus-events": {"SUCCEEDED": "success", "FAILED": "failed"},
    "amazon": {"SUCCEEDED": "success", "FAILED": "error"},
}
SQS_ACTIONS = ("ReceiveMessage", "DeleteMessageBatch", "GetQueueUrl")


def outcomes(scenario: Scenario, client: dict[str, Any], server: dict[str, Any]) -> dict[str, Any]:
    """Each fired trigger's status against its job's real end: wrong ones, early ones, and jobs never detected.

    Wrong: the event's status is not the one the job's real final status calls for (a FAILED job's
    trigger firing success, or the reverse). Early: fired before the job ended (an event taken as the
    end before the job's end). Undetected: no event by the end of the run.
    """
    expected = EXPECTED_STATUS[scenario.provider]
    ids = [f"job-{index:05d}" for index in range(scenario.jobs)]
    fired, seen = client["fired"], client.get("outcomes", {})
    wrong, early = 0, 0
    for job_id in ids:
        if job_id not in fired:
            continue
        final = server["final_status"].get(job_id)
        if final is None or seen.get(job_id) != expected[final]:
            wrong += 1
        elif fired[job_id] < server["first_seen"][job_id] + server["runtime"][job_id]:
            early += 1
    return {
        "real_final": dict(
            sorted(Counter(server["final_status"].get(job_id, "never asked") for job_id in ids).items())
        ),
        "wrong_outcomes": wrong,
        "fired_early": early,
        "undetected": sum(1 for job_id in ids if job_id not in fired),
    }


def summarise(scenario: Scenario, client: dict[str, Any], server: dict[str, Any]) -> dict[str, Any]:
    provider, jobs, poll, job_seconds, log_rate = (
        scenario.provider,
        scenario.jobs,
        scenario.poll,
        scenario.job_seconds,
        scenario.log_rate,
    )
    ours = {job_id for job_id in server["first_seen"] if job_id.startswith("job-")}
    runtime = {job_id: server["runtime"][job_id] for job_id in ours}
    job_minutes = sum(runtime.values()) / 60 or 1.0
    # The warm-up trigger's calls came before the measured triggers started: they are not counted.
    calls = Counter(server["calls"])
    calls.subtract(client["calls_before"])
    logs_call_times = [moment for moment in server["logs_call_times"] if moment >= client["started"]]
    polls = (sum(runtime.values()) / len(runtime) if runtime else 0) / poll
    # The floor is that of one poller over all N jobs, however many processes share them: P pollers
    # cannot do better than sum(ceil(n_i/100)) calls a poll, which the process floor shows apart.
    describe_floor = math.ceil(jobs / 100) * polls
    process_floor = sum(math.ceil(share / 100) for share in client.get("shares", [jobs])) * polls
    ordered, by_share = sorted(runtime), []
    for share in client.get("shares", [jobs]):
        by_share.append([runtime[job_id] for job_id in ordered[:share]])
        ordered = ordered[share:]
    looks_floor = cadence_floor(by_share, poll)
    latency = [
        fired - (server["first_seen"][job_id] + runtime[job_id])
        for job_id, fired in client["fired"].items()
        if job_id in runtime
    ]
    row: dict[str, Any] = {
        "provider": provider,
        "jobs": jobs,
        "processes": scenario.processes,
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
        "describe_vs_process_floor": round(calls["DescribeJobs"] / process_floor, 2) if process_floor else None,
        # Against the calls a poller that looks every poll needs (floor and idealisation apart): 1.0 is exact.
        "describe_vs_cadence_floor": round(calls["DescribeJobs"] / looks_floor, 2) if looks_floor else None,
        "rss_kb_per_job": round((client["waiting_mb"] - client["baseline_mb"]) * 1024 / jobs, 1),
        "cpu_ms_per_job_minute": round(client["cpu_s"] * 1000 / job_minutes, 2),
        "detect_p50_s": percentile(latency, 0.5),
        "detect_p95_s": percentile(latency, 0.95),
        "detect_max_s": round(max(latency), 2) if latency else None,
        "wall_s": round(client["wall_s"], 1),
        "jitter_s": scenario.jitter,
        "start_s": scenario.start_seconds,
        "fail_fraction": scenario.fail_fraction,
        **outcomes(scenario, client, server),
    }
    sqs = sum(calls[action] for action in SQS_ACTIONS)
    row["sqs_calls_per_job_minute"] = round(sqs / job_minutes, 3)
    row["receive_per_job_minute"] = round(calls["ReceiveMessage"] / job_minutes, 3)
    row["delete_batch_per_job_minute"] = round(calls["DeleteMessageBatch"] / job_minutes, 3)
    if scenario.events:
        row["reconcile_s"] = scenario.reconcile
        row["confirm_s"] = scenario.confirm
        row["event_faults"] = {
            "drop": scenario.fault_rate,
            "duplicate": scenario.fault_rate,
            "reorder": scenario.fault_rate,
        }
        row["queue"] = server.get("events")
        row["event_reader"] = client.get("event_reader")
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


def command_line(argv: list[str]) -> str:
    """This run's options as report.py shows them: without the output file and the amazon environment's path."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--out", "--amazon-python"):
            skip = True
        elif arg != "--append":
            kept.append(arg)
    return " ".join(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--poll", type=int, default=5, help="seconds between status checks")
    parser.add_argument("--job-seconds", type=float, default=30)
    parser.add_argument("--log-rates", type=float, nargs="+", default=[0, 2], help="lines per second per job")
    parser.add_argument(
        "--providers",
        nargs="+",
        choices=["plus", "plus-events", "amazon"],
        default=["plus", "amazon"],
        help="plus-events: ours woken by job state change events from the fake's SQS queue",
    )
    parser.add_argument("--jitter", type=float, default=None, help="each job runs up to this much longer (one poll)")
    parser.add_argument("--start-seconds", type=float, default=0.0, help="each job RUNNABLE then STARTING this long")
    parser.add_argument("--fail-fraction", type=float, default=0.0, help="fraction of jobs that end FAILED")
    parser.add_argument(
        "--reconcile",
        type=float,
        default=300.0,
        help="plus-events: job_events_reconcile_seconds (the provider's default)",
    )
    parser.add_argument(
        "--confirm",
        type=float,
        default=0.5,
        help="plus-events: job_events_confirm_seconds (the provider's default)",
    )
    parser.add_argument(
        "--fault-rates",
        type=float,
        nargs="+",
        default=[0.0],
        help="plus-events, a row each: this fraction of events dropped, as many delivered twice, as many out of order",
    )
    parser.add_argument(
        "--processes",
        type=int,
        nargs="+",
        default=[1],
        help="trigger processes (triggerers) the jobs are spread over, each with its own poller; one row each",
    )
    parser.add_argument("--amazon-python", default=None, help="python of an environment with the amazon provider")
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the rows (a list)")
    parser.add_argument(
        "--append",
        action="store_true",
        help="keep the rows already in --out (a provider measured at another N in a second run)",
    )
    args = parser.parse_args()
    if "amazon" in args.providers and not args.amazon_python:
        parser.error("--amazon-python is needed to measure the amazon provider (`make bench` makes that environment)")
    pythons = {"plus": sys.executable, "plus-events": sys.executable, "amazon": args.amazon_python}
    rows: list[dict[str, Any]] = []
    if args.append and args.out and args.out.exists():
        rows = json.loads(args.out.read_text())
    for log_rate in args.log_rates:
        for jobs in args.jobs:
            for processes in args.processes:
                runs = [
                    (provider, rate)
                    for provider in args.providers
                    for rate in (args.fault_rates if provider == "plus-events" else [0.0])
                ]
                for provider, fault_rate in runs:
                    began = time.monotonic()
                    load = os.getloadavg()  # others' CPU use skews CPU and latency: kept with the row
                    scenario = Scenario(
                        provider,
                        jobs,
                        args.poll,
                        args.job_seconds,
                        log_rate,
                        processes,
                        jitter=args.jitter,
                        start_seconds=args.start_seconds,
                        fail_fraction=args.fail_fraction,
                        reconcile=args.reconcile,
                        confirm=args.confirm,
                        fault_rate=fault_rate,
                    )
                    row = run_once(scenario, pythons[provider])
                    row["measured_in_s"] = round(time.monotonic() - began, 1)
                    row["command"] = command_line(sys.argv[1:])
                    row["load_before"] = [round(value, 2) for value in load]
                    row["load_after"] = [round(value, 2) for value in os.getloadavg()]
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    if args.out:
                        args.out.parent.mkdir(parents=True, exist_ok=True)
                        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
