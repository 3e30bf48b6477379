"""N Batch job triggers at once in one asyncio loop, as a triggerer runs them; the client side of a run.

Runs in the environment of the provider it measures (the amazon provider needs its `[aiobotocore]`
extra, which pins another botocore, so it lives in an environment of its own). It only needs the
endpoint of `fake_aws.py`; benchmarks/triggers.py starts both and joins what each side saw.

    python benchmarks/trigger_load.py plus|plus-events|amazon --jobs N --poll 5 --endpoint URL --out FILE
        [--logs] [--first-index K --barrier DIR] [--reconcile 300] [--confirm 0.5]

`plus-events` is our trigger in event mode: `[batch_plus] job_events_queue_url` set (through its
environment variable) to the fake's SQS queue of job state change events, and
`job_events_reconcile_seconds` to `--reconcile` and `job_events_confirm_seconds` to `--confirm`.

Writes one JSON object to FILE: resident memory before and while the triggers wait, CPU seconds of the
process (every thread), when each trigger fired and with which status, every benchmark line logged with
when, and in event mode what the event reader counted.

Several of these run at once when triggers.py spreads N jobs over P triggerers (`--processes`): each
takes its own share of job ids (`--first-index`) and, so that no process's warm-up is counted as
another's measured calls, waits at a barrier after its warm-up: it writes `DIR/ready-K` and starts its
jobs only once triggers.py, having seen every process ready and read the server's counts, writes
`DIR/go`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

LINE = re.compile(r"bench-line (\S+) (\d+) (\d+)")


class LineRecorder(logging.Handler):
    """Records every `bench-line` a trigger logs, through stdlib logging or structlog (Airflow 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, int, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.record(record.getMessage())

    def structlog_processor(self, logger: object, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        self.record(str(event_dict.get("event", "")))
        return event_dict

    def record(self, message: str) -> None:
        now = time.time()
        self.lines += [(job_id, int(seq), now) for job_id, seq, _ in LINE.findall(message)]

    def install(self) -> None:
        logging.getLogger().addHandler(self)
        try:
            import structlog
        except ImportError:
            return
        processors = list(structlog.get_config()["processors"])
        processors.insert(max(len(processors) - 1, 0), self.structlog_processor)  # before the renderer
        structlog.configure(processors=processors)


def resident_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def make_trigger(provider: str, job_id: str, poll: int, logs: bool) -> Any:
    """The trigger each provider's deferrable submit operator defers to, as it builds it."""
    if provider == "amazon":
        from airflow.providers.amazon.aws.triggers.batch import BatchJobTrigger as AmazonTrigger

        return AmazonTrigger(
            job_id=job_id, aws_conn_id=None, region_name="us-east-1", waiter_delay=poll, waiter_max_attempts=100_000
        )
    from airflow_batch_plus.triggers.batch import BatchJobTrigger  # plus and plus-events alike

    return BatchJobTrigger(
        job_id=job_id, aws_conn_id=None, region_name="us-east-1", poll_interval=poll, stream_logs=logs
    )


async def first_event(trigger: Any) -> Any:
    async for event in trigger.run():
        return event
    return None


async def wait_at_barrier(barrier: Path, name: str, timeout: float = 600) -> None:
    """Say this process is warmed up, then wait for triggers.py to start every process's jobs at once.

    Files, not pipes: stdout and stderr belong to the triggers' own logging, which may write to either.
    """
    (barrier / f"ready-{name}").write_text(str(os.getpid()))
    deadline = time.monotonic() + timeout
    while not (barrier / "go").exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"no {barrier / 'go'} within {timeout:.0f} s: triggers.py did not start the run")
        await asyncio.sleep(0.01)


def event_reader_counts() -> dict[str, int] | None:
    """What this loop's job event reader counted (received, applied, stale, unwatched, ...), if one ran."""
    try:
        from airflow_batch_plus.triggers.job_event_reader import JobEventReader
    except ImportError:  # the amazon provider's environment
        return None
    readers = JobEventReader._shared.get(asyncio.get_running_loop(), {})
    counts: Counter[str] = Counter()
    for reader in readers.values():
        counts.update(reader.counts)
    return dict(counts) if readers else None


def server_calls(endpoint: str) -> dict[str, int]:
    with urllib.request.urlopen(endpoint + "/stats", timeout=60) as answer:  # the benchmark's own 127.0.0.1 server
        return dict(json.loads(answer.read())["calls"])


async def run(
    provider: str,
    jobs: int,
    poll: int,
    *,
    logs: bool,
    endpoint: str,
    timeout: float,
    first_index: int = 0,
    barrier: Path | None = None,
) -> dict[str, Any]:
    recorder = LineRecorder()
    # Warm up on one job first: imports, botocore's models and the first client are not per-job costs.
    warm_up = asyncio.create_task(first_event(make_trigger(provider, "warm-up", poll, logs)))
    await asyncio.sleep(poll + 1)
    warm_up.cancel()
    recorder.install()
    if barrier is None:
        calls_before = server_calls(endpoint)
    else:
        # Other processes may still be warming up: triggers.py reads the counts once all are ready.
        calls_before = {}
        await wait_at_barrier(barrier, str(first_index))
    baseline_mb, cpu_start = resident_mb(), time.process_time()
    fired: dict[str, float] = {}
    events: dict[str, str] = {}

    async def wait_for(job_id: str) -> None:
        event = await first_event(make_trigger(provider, job_id, poll, logs))
        fired[job_id] = time.time()
        payload = getattr(event, "payload", {}) or {}
        events[job_id] = str(payload.get("status", "?"))

    started = time.time()
    tasks = [asyncio.create_task(wait_for(f"job-{index:05d}")) for index in range(first_index, first_index + jobs)]
    peak_mb = baseline_mb
    while not all(task.done() for task in tasks) and time.time() - started < timeout:
        if len(fired) < jobs * 0.05:  # memory while (nearly) every trigger still waits
            peak_mb = max(peak_mb, resident_mb())
        await asyncio.sleep(0.5)
    for task in tasks:
        task.cancel()
    return {
        "event_reader": event_reader_counts(),
        "provider": provider,
        "jobs": jobs,
        "first_index": first_index,
        "baseline_mb": baseline_mb,
        "waiting_mb": peak_mb,
        "cpu_s": time.process_time() - cpu_start,
        "started": started,
        "calls_before": calls_before,
        "wall_s": time.time() - started,
        "fired": fired,
        "statuses": dict(sorted(Counter(events.values()).items())),
        "outcomes": events,
        "lines": recorder.lines,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("provider", choices=["plus", "plus-events", "amazon"])
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--poll", type=int, required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--logs", action="store_true", help="follow the jobs' CloudWatch lines")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--first-index", type=int, default=0, help="this process's jobs are job-K … job-(K+N-1)")
    parser.add_argument("--barrier", type=Path, default=None, help="directory to wait in after the warm-up")
    parser.add_argument("--queue-url", default=None, help="plus-events: the SQS queue (default: the fake's)")
    parser.add_argument("--reconcile", type=float, default=300, help="plus-events: job_events_reconcile_seconds")
    parser.add_argument("--confirm", type=float, default=0.5, help="plus-events: job_events_confirm_seconds")
    args = parser.parse_args()
    if args.provider == "plus-events":
        queue_url = args.queue_url or args.endpoint.rstrip("/") + "/123456789012/batch-job-events"  # fake_aws.py's
        os.environ["AIRFLOW__BATCH_PLUS__JOB_EVENTS_QUEUE_URL"] = queue_url
        os.environ["AIRFLOW__BATCH_PLUS__JOB_EVENTS_RECONCILE_SECONDS"] = str(args.reconcile)
        os.environ["AIRFLOW__BATCH_PLUS__JOB_EVENTS_CONFIRM_SECONDS"] = str(args.confirm)
    else:
        os.environ.pop("AIRFLOW__BATCH_PLUS__JOB_EVENTS_QUEUE_URL", None)
    os.environ.update(
        AWS_ENDPOINT_URL=args.endpoint,
        AWS_ACCESS_KEY_ID="benchmark",
        AWS_SECRET_ACCESS_KEY="benchmark",
        AWS_DEFAULT_REGION="us-east-1",
    )
    result = asyncio.run(
        run(
            args.provider,
            args.jobs,
            args.poll,
            logs=args.logs,
            endpoint=args.endpoint,
            timeout=args.timeout,
            first_index=args.first_index,
            barrier=args.barrier,
        )
    )
    with open(args.out, "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
