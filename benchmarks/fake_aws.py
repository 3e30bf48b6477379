"""A counting stand-in for the AWS Batch, CloudWatch Logs and SQS JSON APIs, run in a process of its own.

Benchmarks need thousands of jobs that do nothing but exist, run for a known time and print lines at a
known rate, and they need every API call counted where AWS would see it: on the server. Each job is
RUNNING from the first time anyone asks about it until its run time is over, then SUCCEEDED. Its run
time is `job_seconds` plus an offset in [0, jitter) fixed by its id, so jobs end at every phase of a
poll cycle as real jobs do. With a log rate, a job prints `bench-line <job> <seq> <epoch ms>` lines;
like CloudWatch, a line becomes visible only after an ingestion delay of 0-2 s (fixed per line), so
lines appear out of timestamp order and keep appearing for 2 s after the job has stopped.

With `--start-seconds S` a job is RUNNABLE for its first S/2 s and STARTING for the next S/2 s before
it is RUNNING (its run time still counts from the first look); with `--fail-fraction F` that fraction of
jobs (fixed by id) ends FAILED, exit code 1, instead of SUCCEEDED.

With `--events` it also serves one SQS queue (`QUEUE_URL`, SQS's JSON protocol: ReceiveMessage,
DeleteMessageBatch, GetQueueUrl) of "Batch Job State Change" events as EventBridge delivers them: one
per transition of each job (RUNNABLE, STARTING, RUNNING, then SUCCEEDED or FAILED), its `detail` the
job's DescribeJobs item at that moment, readable after a delivery delay of 0.1-1 s (fixed per event).
ReceiveMessage long-polls (answers as soon as a message is visible, else after WaitTimeSeconds), takes
MaxNumberOfMessages, and hides what it hands out for VisibilityTimeout (30 s): a message not deleted by
then comes back. Faults, each a fraction of events chosen by a hash of the job, the state and the
seed: `--drop` never delivered; `--duplicate` delivered twice, the copy 0-2 s later; `--reorder` its job's
neighbouring event swapped with it, the earlier state 1-2 s after the later one (a job's last event
swaps with the one before it, so a RUNNING can come after the SUCCEEDED).

    python benchmarks/fake_aws.py --job-seconds 30 --jitter 5 --log-rate 2
    python benchmarks/fake_aws.py --job-seconds 120 --jitter 5 --start-seconds 10 --fail-fraction 0.1 \
        --events --drop 0.05 --duplicate 0.05 --reorder 0.05

prints its URL on the first line of stdout and serves until killed. `GET /stats` answers the counts.
Only the standard library is used, so any Python runs it.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import itertools
import json
import sys
import threading
import time
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

INGESTION_DELAY_MS = 2000
MAX_EVENTS_PER_PAGE = 10_000
REGION = "us-east-1"
ACCOUNT = "123456789012"
QUEUE_NAME = "batch-job-events"
QUEUE_PATH = f"/{ACCOUNT}/{QUEUE_NAME}"  # the queue's URL is the server's URL and this path
VISIBILITY_SECONDS = 30.0  # SQS's default visibility timeout
MAX_WAIT_SECONDS = 20
EVENT_DELAY = (0.1, 1.0)  # EventBridge to SQS: each event readable this long after its transition


def _fraction(key: str) -> float:
    """A number in [0, 1) fixed by `key`: the same job or line always gets the same offset."""
    return (zlib.crc32(key.encode()) % 10_000) / 10_000


class FakeAws:
    """Jobs, their log lines and a record of every call; thread-safe, as the HTTP server is threaded."""

    def __init__(
        self,
        job_seconds: float,
        jitter: float = 0.0,
        log_rate: float = 0.0,
        *,
        start_seconds: float = 0.0,
        fail_fraction: float = 0.0,
        events: EventQueue | None = None,
    ):
        if start_seconds >= job_seconds:
            raise ValueError("--start-seconds must be shorter than --job-seconds")
        self.job_seconds = job_seconds
        self.jitter = jitter
        self.log_rate = log_rate
        self.start_seconds = start_seconds
        self.fail_fraction = fail_fraction
        self.events = events
        self.calls: Counter[str] = Counter()
        self.ids_asked = 0
        self.logs_call_times: list[float] = []
        # When each DescribeJobs came: a poller's cadence (bursts a poll apart, and how long a burst takes).
        self.describe_call_times: list[float] = []
        self.first_seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def runtime(self, job_id: str) -> float:
        return self.job_seconds + _fraction(job_id) * self.jitter

    def final_status(self, job_id: str) -> str:
        return "FAILED" if _fraction(f"{job_id}:fail") < self.fail_fraction else "SUCCEEDED"

    def _started(self, job_id: str) -> float:
        with self._lock:
            if job_id in self.first_seen:
                return self.first_seen[job_id]
            started = self.first_seen[job_id] = time.time()
        if self.events is not None:
            self.events.schedule(self, job_id, started)
        return started

    def timeline(self, job_id: str, started: float) -> list[tuple[float, str]]:
        """(when, status) of each transition of the job from its first look on."""
        half = self.start_seconds / 2
        steps = [(started, "RUNNABLE"), (started + half, "STARTING")] if self.start_seconds else []
        steps.append((started + self.start_seconds, "RUNNING"))
        steps.append((started + self.runtime(job_id), self.final_status(job_id)))
        return steps

    def describe(self, job_id: str, at: float | None = None) -> dict[str, Any]:
        """The job's DescribeJobs item now (or at `at`, for the event of a transition)."""
        started = self._started(job_id)
        now = time.time() if at is None else at
        status = next(status for when, status in reversed(self.timeline(job_id, started)) if now >= when)
        done = status in {"SUCCEEDED", "FAILED"}
        stream = f"bench/default/{job_id}"
        started_ms = int(started * 1000)
        job: dict[str, Any] = {
            "jobArn": f"arn:aws:batch:{REGION}:{ACCOUNT}:job/{job_id}",
            "jobName": "bench",
            "jobId": job_id,
            "jobQueue": f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/bench",
            "status": status,
            "createdAt": started_ms,
            "jobDefinition": f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/bench:1",
            "container": {},
            "attempts": [],
        }
        if status in {"RUNNING", "SUCCEEDED", "FAILED"}:
            job["startedAt"] = started_ms + int(self.start_seconds * 1000)
            job["container"]["logStreamName"] = stream
        if done:
            exit_code = 0 if status == "SUCCEEDED" else 1
            job["stoppedAt"] = started_ms + int(self.runtime(job_id) * 1000)
            job["container"]["exitCode"] = exit_code
            job["attempts"] = [{"container": {"logStreamName": stream, "exitCode": exit_code}}]
            if status == "FAILED":
                job["statusReason"] = "Essential container in task exited"
        return job

    def visible_lines(self, job_id: str, now_ms: int) -> list[dict[str, Any]]:
        """The job's lines CloudWatch would return now: written and ingested by `now_ms`."""
        with self._lock:
            started = self.first_seen.get(job_id)
        if started is None or not self.log_rate:
            return []
        events = []
        for seq in range(int(self.runtime(job_id) * self.log_rate)):
            written = int((started + seq / self.log_rate) * 1000)
            if written > now_ms:
                break
            ingested = written + int(_fraction(f"{job_id}:{seq}") * INGESTION_DELAY_MS)
            if ingested <= now_ms:
                events.append({"timestamp": written, "ingestionTime": ingested, "seq": seq})
        return events

    def filter_log_events(self, body: dict[str, Any]) -> dict[str, Any]:
        now_ms = int(time.time() * 1000)
        start, end = int(body.get("startTime") or 0), int(body.get("endTime") or 1 << 62)
        streams = list(body.get("logStreamNames") or [])
        events = []
        for stream in streams:
            job_id = stream.rsplit("/", 1)[-1]
            events += [
                {
                    "logStreamName": stream,
                    "timestamp": line["timestamp"],
                    "ingestionTime": line["ingestionTime"],
                    "message": f"bench-line {job_id} {line['seq']} {line['timestamp']}",
                    "eventId": f"{job_id}-{line['seq']}",
                }
                for line in self.visible_lines(job_id, now_ms)
                if start <= line["timestamp"] <= end
            ]
        events.sort(key=lambda event: (event["timestamp"], event["eventId"]))
        offset = int(body.get("nextToken") or 0)
        limit = min(int(body.get("limit") or MAX_EVENTS_PER_PAGE), MAX_EVENTS_PER_PAGE)
        answer: dict[str, Any] = {
            "events": events[offset : offset + limit],
            "searchedLogStreams": [{"logStreamName": stream, "searchedCompletely": True} for stream in streams],
        }
        if offset + limit < len(events):
            answer["nextToken"] = str(offset + limit)
        return answer

    def handle(self, action: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The answer to one call, or None for an action this stand-in does not serve."""
        with self._lock:
            self.calls[action] += 1
            if action in {"FilterLogEvents", "GetLogEvents"}:
                self.logs_call_times.append(time.time())
            elif action == "DescribeJobs":
                self.describe_call_times.append(time.time())
        if action == "DescribeJobs":
            ids = list(body.get("jobs") or [])
            with self._lock:
                self.ids_asked += len(ids)
            return {"jobs": [self.describe(job_id) for job_id in ids]}
        if action == "FilterLogEvents":
            return self.filter_log_events(body)
        if self.events is not None and action in {"ReceiveMessage", "DeleteMessageBatch", "GetQueueUrl"}:
            return self.events.handle(action, body)
        return None

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(self.calls),
                "ids_asked": self.ids_asked,
                "logs_call_times": list(self.logs_call_times),
                "describe_call_times": list(self.describe_call_times),
                "first_seen": dict(self.first_seen),
                "runtime": {job_id: self.runtime(job_id) for job_id in self.first_seen},
                "final_status": {job_id: self.final_status(job_id) for job_id in self.first_seen},
                "log_rate": self.log_rate,
                "start_s": self.start_seconds,
                "events": self.events.stats() if self.events is not None else None,
            }


class EventQueue:
    """One SQS queue of job state change events, with SQS's long polls, visibility and batch deletes."""

    def __init__(self, drop: float = 0.0, duplicate: float = 0.0, reorder: float = 0.0, seed: str = "bench"):
        self.drop, self.duplicate, self.reorder, self.seed = drop, duplicate, reorder, seed
        self._heap: list[tuple[float, int, str, int]] = []  # (visible at, order, message id, generation)
        self._messages: dict[str, dict[str, Any]] = {}  # id -> body, generation, receives, deleted
        self._order = itertools.count()
        self._ready = threading.Condition()
        self.counts: Counter[str] = Counter()
        self.url = QUEUE_PATH  # serve() puts the server's URL in front

    def _chosen(self, fault: str, fraction: float, job_id: str, status: str) -> bool:
        return fraction > 0 and _fraction(f"{self.seed}:{fault}:{job_id}:{status}") < fraction

    def schedule(self, fake: FakeAws, job_id: str, started: float) -> None:
        """Every event of a job, each readable at its transition plus a delivery delay (faults applied)."""
        steps = fake.timeline(job_id, started)
        low, high = EVENT_DELAY
        arrive = [when + low + _fraction(f"delay:{job_id}:{status}") * (high - low) for when, status in steps]
        for index, (_, status) in enumerate(steps):
            if self._chosen("reorder", self.reorder, job_id, status):
                # Swap with a neighbour: this state (or, for the last one, the one before) comes 1-2 s after the next.
                late = index if index + 1 < len(steps) else index - 1
                arrive[late] = arrive[late + 1] + 1 + _fraction(f"late:{job_id}:{status}")
                self.counts["reordered"] += 1
        for (when, status), at in zip(steps, arrive, strict=True):
            self.counts["emitted"] += 1
            if self._chosen("drop", self.drop, job_id, status):
                self.counts["dropped"] += 1
                continue
            body = json.dumps(_event(fake.describe(job_id, at=when), when))
            self._put(body, at)
            if self._chosen("duplicate", self.duplicate, job_id, status):
                self.counts["duplicated"] += 1
                self._put(body, at + 2 * _fraction(f"again:{job_id}:{status}"))

    def _put(self, body: str, visible_at: float) -> None:
        message_id = f"{next(self._order):08d}-{zlib.crc32(body.encode()):08x}"
        with self._ready:
            self._messages[message_id] = {"body": body, "generation": 0, "receives": 0}
            heapq.heappush(self._heap, (visible_at, next(self._order), message_id, 0))
            self._ready.notify_all()

    def _take(self, most: int, visibility: float) -> list[dict[str, Any]]:
        """Up to `most` visible messages, hidden for `visibility` s from now (under the lock)."""
        now, taken = time.time(), list[dict[str, Any]]()
        while self._heap and self._heap[0][0] <= now and len(taken) < most:
            _, _, message_id, generation = heapq.heappop(self._heap)
            message = self._messages.get(message_id)
            if message is None or message["generation"] != generation:
                continue  # deleted, or an older hiding of it
            message["generation"] += 1
            message["receives"] += 1
            if message["receives"] > 1:
                self.counts["redelivered"] += 1
            heapq.heappush(self._heap, (now + visibility, next(self._order), message_id, message["generation"]))
            body = message["body"]
            taken.append(
                {
                    "MessageId": message_id,
                    "ReceiptHandle": f"{message_id}:{message['generation']}",
                    "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
                    "Body": body,
                }
            )
        return taken

    def receive(self, body: dict[str, Any]) -> dict[str, Any]:
        most = max(1, min(int(body.get("MaxNumberOfMessages") or 1), 10))
        wait = max(0.0, min(float(body.get("WaitTimeSeconds") or 0), MAX_WAIT_SECONDS))
        visibility = float(body.get("VisibilityTimeout") or VISIBILITY_SECONDS)
        deadline = time.time() + wait
        with self._ready:
            while True:
                taken = self._take(most, visibility)
                now = time.time()
                if taken or now >= deadline:
                    break
                next_visible = self._heap[0][0] if self._heap else deadline
                self._ready.wait(max(0.001, min(deadline, next_visible) - now))
        self.counts["delivered"] += len(taken)
        return {"Messages": taken} if taken else {}

    def delete_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        succeeded, failed = list[dict[str, Any]](), list[dict[str, Any]]()
        with self._ready:
            for entry in body.get("Entries") or []:
                message_id, _, generation = str(entry.get("ReceiptHandle", "")).rpartition(":")
                message = self._messages.get(message_id)
                if message is None or not generation.isdigit() or message["generation"] != int(generation):
                    # SQS deletes with a stale handle too while the message is not received again; a handle
                    # of a message received since, or of one deleted, is refused here (counted).
                    failed.append(
                        {
                            "Id": entry.get("Id"),
                            "SenderFault": True,
                            "Code": "ReceiptHandleIsInvalid",
                            "Message": "stale",
                        }
                    )
                    continue
                del self._messages[message_id]
                succeeded.append({"Id": entry.get("Id")})
        self.counts["deleted"] += len(succeeded)
        self.counts["delete_failed"] += len(failed)
        return {"Successful": succeeded, "Failed": failed}

    def handle(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        if action == "ReceiveMessage":
            return self.receive(body)
        if action == "DeleteMessageBatch":
            return self.delete_batch(body)
        return {"QueueUrl": self.url}  # GetQueueUrl: there is one queue

    def stats(self) -> dict[str, Any]:
        with self._ready:
            return {
                **dict(self.counts),
                "in_queue": len(self._messages),
                "faults": {"drop": self.drop, "duplicate": self.duplicate, "reorder": self.reorder},
            }


def _event(job: dict[str, Any], when: float) -> dict[str, Any]:
    """A "Batch Job State Change" event as EventBridge delivers it to an SQS queue."""
    return {
        "version": "0",
        "id": hashlib.md5(f"{job['jobId']}:{job['status']}".encode()).hexdigest(),
        "detail-type": "Batch Job State Change",
        "source": "aws.batch",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)),
        "region": REGION,
        "resources": [job["jobArn"]],
        "detail": job,
    }


def serve(fake: FakeAws, port: int = 0) -> ThreadingHTTPServer:
    """Serve `fake` on 127.0.0.1 (a free port by default) from a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY. The handler writes an answer's headers and body in two writes; on a kept-alive
        # connection (botocore keeps them) Nagle holds the body back until the client's delayed ACK of
        # the headers, about 40 ms, so every call took ~45 ms of which ~5 ms were work. Real AWS has no
        # such stall, and a poller making 25 calls in a row waited 1.2 s on the benchmark, not on itself.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, code: int, payload: object) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer(200, fake.stats())

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw or b"{}")
            # Batch is a REST-JSON API (POST /v1/describejobs), CloudWatch Logs a JSON-1.1 one and SQS a
            # JSON-1.0 one (X-Amz-Target: Logs_20140328.FilterLogEvents, AmazonSQS.ReceiveMessage).
            target = self.headers.get("X-Amz-Target")
            action = target.split(".")[-1] if target else _REST_ACTIONS.get(self.path.rstrip("/"), self.path)
            answer = fake.handle(action, body)
            if answer is None:
                self._answer(400, {"__type": "InvalidAction", "message": f"{action} is not served by the benchmark"})
            else:
                self._answer(200, answer)

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            """Quiet about clients that hang up: a trigger process killed at the end of a run is not news.

            The amazon provider's triggers each keep a connection; thousands of them dropping at once
            printed thousands of tracebacks over the benchmark's output.
            """
            if not isinstance(sys.exc_info()[1], ConnectionError):
                super().handle_error(request, client_address)

    server = Server(("127.0.0.1", port), Handler)
    if fake.events is not None:
        fake.events.url = f"http://127.0.0.1:{server.server_address[1]}{QUEUE_PATH}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


_REST_ACTIONS = {"/v1/describejobs": "DescribeJobs"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job-seconds", type=float, required=True)
    parser.add_argument("--jitter", type=float, default=0.0, help="each job runs up to this much longer")
    parser.add_argument("--log-rate", type=float, default=0.0, help="lines per second per job")
    parser.add_argument("--start-seconds", type=float, default=0.0, help="RUNNABLE, then STARTING, this long")
    parser.add_argument("--fail-fraction", type=float, default=0.0, help="this fraction of jobs ends FAILED")
    parser.add_argument("--events", action="store_true", help=f"serve the SQS queue of job events ({QUEUE_PATH})")
    parser.add_argument("--drop", type=float, default=0.0, help="fraction of events never delivered")
    parser.add_argument("--duplicate", type=float, default=0.0, help="fraction of events delivered twice")
    parser.add_argument("--reorder", type=float, default=0.0, help="fraction of events swapped with a neighbour")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    events = EventQueue(args.drop, args.duplicate, args.reorder) if args.events else None
    fake = FakeAws(
        args.job_seconds,
        args.jitter,
        args.log_rate,
        start_seconds=args.start_seconds,
        fail_fraction=args.fail_fraction,
        events=events,
    )
    server = serve(fake, args.port)
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
