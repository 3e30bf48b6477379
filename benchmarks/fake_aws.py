"""A counting stand-in for the AWS Batch and CloudWatch Logs JSON APIs, run in a process of its own.

Benchmarks need thousands of jobs that do nothing but exist, run for a known time and print lines at a
known rate, and they need every API call counted where AWS would see it: on the server. Each job is
RUNNING from the first time anyone asks about it until its run time is over, then SUCCEEDED. Its run
time is `job_seconds` plus an offset in [0, jitter) fixed by its id, so jobs end at every phase of a
poll cycle as real jobs do. With a log rate, a job prints `bench-line <job> <seq> <epoch ms>` lines;
like CloudWatch, a line becomes visible only after an ingestion delay of 0-2 s (fixed per line), so
lines appear out of timestamp order and keep appearing for 2 s after the job has stopped.

    python benchmarks/fake_aws.py --job-seconds 30 --jitter 5 --log-rate 2

prints its URL on the first line of stdout and serves until killed. `GET /stats` answers the counts.
Only the standard library is used, so any Python runs it.
"""

from __future__ import annotations

import argparse
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


def _fraction(key: str) -> float:
    """A number in [0, 1) fixed by `key`: the same job or line always gets the same offset."""
    return (zlib.crc32(key.encode()) % 10_000) / 10_000


class FakeAws:
    """Jobs, their log lines and a record of every call; thread-safe, as the HTTP server is threaded."""

    def __init__(self, job_seconds: float, jitter: float = 0.0, log_rate: float = 0.0):
        self.job_seconds = job_seconds
        self.jitter = jitter
        self.log_rate = log_rate
        self.calls: Counter[str] = Counter()
        self.ids_asked = 0
        self.logs_call_times: list[float] = []
        # When each DescribeJobs came: a poller's cadence (bursts a poll apart, and how long a burst takes).
        self.describe_call_times: list[float] = []
        self.first_seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def runtime(self, job_id: str) -> float:
        return self.job_seconds + _fraction(job_id) * self.jitter

    def _started(self, job_id: str) -> float:
        with self._lock:
            return self.first_seen.setdefault(job_id, time.time())

    def describe(self, job_id: str) -> dict[str, Any]:
        started = self._started(job_id)
        done = time.time() - started >= self.runtime(job_id)
        stream = f"bench/default/{job_id}"
        started_ms = int(started * 1000)
        job: dict[str, Any] = {
            "jobArn": f"arn:aws:batch:{REGION}:{ACCOUNT}:job/{job_id}",
            "jobName": "bench",
            "jobId": job_id,
            "jobQueue": f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/bench",
            "status": "SUCCEEDED" if done else "RUNNING",
            "createdAt": started_ms,
            "startedAt": started_ms,
            "jobDefinition": f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/bench:1",
            "container": {"logStreamName": stream},
            "attempts": [],
        }
        if done:
            job["stoppedAt"] = started_ms + int(self.runtime(job_id) * 1000)
            job["container"]["exitCode"] = 0
            job["attempts"] = [{"container": {"logStreamName": stream, "exitCode": 0}}]
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
                "log_rate": self.log_rate,
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
            # Batch is a REST-JSON API (POST /v1/describejobs), CloudWatch Logs a JSON-1.1 one (X-Amz-Target).
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
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


_REST_ACTIONS = {"/v1/describejobs": "DescribeJobs"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job-seconds", type=float, required=True)
    parser.add_argument("--jitter", type=float, default=0.0, help="each job runs up to this much longer")
    parser.add_argument("--log-rate", type=float, default=0.0, help="lines per second per job")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = serve(FakeAws(args.job_seconds, args.jitter, args.log_rate), args.port)
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
