"""BatchLogsHook and LogCursor: every line of every stream of a job, once, in order, resumable.

CloudWatch Logs ingests lines late (seconds) and not in timestamp order, and FilterLogEvents selects
by timestamp. So the cursor keeps, per stream, the newest timestamp emitted and the event ids emitted
within an overlap window behind it; a read starts that window early and drops what was already emitted.
Lines that share a millisecond are told apart by event id, never by sleeping (apache/airflow#40875).
The cursor is plain JSON, so a trigger carries it across a triggerer restart or a deferral.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.config import Config
from botocore.exceptions import ClientError

from airflow_batch_plus.hooks.base import BaseBatchPlusHook, chunked
from airflow_batch_plus.hooks.budget import RequestBudget, shared_budget
from airflow_batch_plus.jobs import LogStream

if TYPE_CHECKING:
    from mypy_boto3_logs.client import CloudWatchLogsClient

log = logging.getLogger(__name__)

# FilterLogEvents names at most 100 streams a call.
STREAMS_PER_CALL = 100
# How far behind the newest line a late-ingested line is still caught (CloudWatch lags by seconds).
DEFAULT_OVERLAP_MS = 10_000


@dataclass(frozen=True)
class LogLine:
    """One log event of one stream, with its CloudWatch timestamp (epoch ms)."""

    stream: LogStream
    timestamp: int
    message: str
    event_id: str

    def render(self) -> str:
        """The line as a task log shows it: prefixed by whose stream it is (array index, node) if anyone's.

        Terminal control sequences are removed: a job's output must not recolour, move the cursor in,
        retitle or rewrite the terminal of whoever reads the task log (`airflow tasks logs`, `tail`).
        Values registered with Airflow's secrets masker (the override environment) become ***, whatever
        logger or message the line ends up in.
        """
        message = masked(sanitise(self.message))
        return f"{self.stream.label} {message}" if self.stream.label else message


# ESC-introduced sequences: CSI (colours, cursor moves), OSC (titles, hyperlinks; ended by BEL or ST),
# and the two-character ones; then every other C0/C1 control character but tab and newline.
_ESCAPE_SEQUENCE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -/]*[0-~])")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def masked(text: str) -> str:
    """`text` with every value registered with this process's Airflow secrets masker replaced by ***."""
    from airflow.sdk.log import redact  # type: ignore[attr-defined]  # re-exported from its private home

    return str(redact(text))


def sanitise(message: str) -> str:
    """`message` without terminal control sequences or control characters (tabs and newlines stay)."""
    return _CONTROL_CHARACTER.sub("", _ESCAPE_SEQUENCE.sub("", message))


@dataclass
class _StreamPosition:
    newest: int
    # event ids emitted, by timestamp, for timestamps inside the overlap window behind `newest`
    recent: dict[int, set[str]] = field(default_factory=dict)


class LogCursor:
    """Where a reader stands in each stream: which lines it has emitted. Pure state, no I/O."""

    def __init__(self, overlap_ms: int = DEFAULT_OVERLAP_MS):
        if overlap_ms < 0:
            raise ValueError(f"overlap_ms={overlap_ms!r}: must be zero or more milliseconds")
        self.overlap_ms = overlap_ms
        self._positions: dict[str, _StreamPosition] = {}

    def start_time(self, stream: LogStream) -> int:
        """The earliest timestamp a read of `stream` must ask for (0: from its first line)."""
        position = self._positions.get(stream.key)
        return max(0, position.newest - self.overlap_ms) if position else 0

    def is_new(self, line: LogLine) -> bool:
        """Whether `line` has not been emitted yet (a line older than the window counts as emitted)."""
        position = self._positions.get(line.stream.key)
        if position is None:
            return True
        if line.timestamp < position.newest - self.overlap_ms:
            return False
        return line.event_id not in position.recent.get(line.timestamp, ())

    def mark(self, line: LogLine) -> None:
        """Record `line` as emitted. Call it once the line has been handed on, not before."""
        position = self._positions.get(line.stream.key)
        if position is None:
            position = self._positions[line.stream.key] = _StreamPosition(newest=line.timestamp)
        position.recent.setdefault(line.timestamp, set()).add(line.event_id)
        if line.timestamp > position.newest:
            position.newest = line.timestamp
            oldest = position.newest - self.overlap_ms
            for timestamp in [timestamp for timestamp in position.recent if timestamp < oldest]:
                del position.recent[timestamp]

    def to_dict(self) -> dict[str, Any]:
        return {
            "overlap_ms": self.overlap_ms,
            "streams": {
                key: {
                    "newest": position.newest,
                    "recent": {str(timestamp): sorted(ids) for timestamp, ids in position.recent.items()},
                }
                for key, position in self._positions.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogCursor:
        cursor = cls(overlap_ms=int(data.get("overlap_ms", DEFAULT_OVERLAP_MS)))
        for key, position in (data.get("streams") or {}).items():
            cursor._positions[key] = _StreamPosition(
                newest=int(position["newest"]),
                recent={int(timestamp): set(ids) for timestamp, ids in position["recent"].items()},
            )
        return cursor

    @classmethod
    def union(cls, cursors: Iterable[LogCursor]) -> LogCursor:
        """One cursor over the streams of many, for one read on behalf of several readers.

        The positions are shared, not copied (the union is for reading only); a stream in two cursors
        keeps the first one's position, so give it cursors over distinct streams.
        """
        cursors = list(cursors)
        union = cls(overlap_ms=max((cursor.overlap_ms for cursor in cursors), default=DEFAULT_OVERLAP_MS))
        for cursor in cursors:
            for key, position in cursor._positions.items():
                union._positions.setdefault(key, position)
        return union


class BatchLogsHook(BaseBatchPlusHook):
    """Reads jobs' CloudWatch log streams through the amazon provider's `aws` connection.

    Every call waits on `budget` first (by default one budget per process for all Logs calls).
    """

    default_client_type = "logs"

    def __init__(
        self,
        aws_conn_id: str | None = AwsBaseHook.default_conn_name,
        region_name: str | None = None,
        *,
        config: Config | Mapping[str, Any] | None = None,
        budget: RequestBudget | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(aws_conn_id=aws_conn_id, region_name=region_name, config=config, **kwargs)
        self.budget = budget if budget is not None else shared_budget("logs")

    def get_client_type(self, *args: Any, **kwargs: Any) -> Any:
        client: Any = super().get_client_type(*args, **kwargs)
        # Per HTTP request, retries included: the budget is about what CloudWatch sees.
        client.meta.events.register("before-send.cloudwatch-logs", self._spend_budget)
        return client

    def _spend_budget(self, **_: Any) -> None:
        self.budget.acquire()

    @property
    def client(self) -> CloudWatchLogsClient:
        return self.conn  # type: ignore[no-any-return]

    def read_new(self, streams: Iterable[LogStream], cursor: LogCursor) -> list[LogLine]:
        """Every line of `streams` not yet marked in `cursor`, read until caught up, oldest first.

        Streams of one log group are read together, up to 100 a FilterLogEvents call. A stream or log
        group that does not exist yet has no lines yet. The cursor is not changed: mark each line once
        it has been handed on (`cursor.mark`), so a line that failed to go out is read again.
        """
        by_group: dict[str, list[LogStream]] = defaultdict(list)
        for stream in dict.fromkeys(streams):
            by_group[stream.group].append(stream)
        lines: list[LogLine] = []
        for group, group_streams in by_group.items():
            for chunk in chunked(group_streams, STREAMS_PER_CALL):
                lines.extend(self._read_group(group, chunk, cursor))
        lines.sort(key=lambda line: line.timestamp)  # stable: same-millisecond lines keep their order
        return lines

    def tail(self, streams: Sequence[LogStream], count: int, max_streams: int = 5) -> list[LogLine]:
        """The last `count` lines of the last `max_streams` streams, oldest first: for a failure message."""
        lines: list[LogLine] = []
        for stream in list(streams)[-max_streams:]:
            try:
                response = self.client.get_log_events(
                    logGroupName=stream.group, logStreamName=stream.name, startFromHead=False, limit=count
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise
                continue
            for event in response.get("events", []):
                lines.append(LogLine(stream, int(event.get("timestamp", 0)), event.get("message", ""), ""))
        lines.sort(key=lambda line: line.timestamp)
        return lines[-count:]

    def _read_group(self, group: str, streams: Sequence[LogStream], cursor: LogCursor) -> list[LogLine]:
        by_name = {stream.name: stream for stream in streams}
        request: dict[str, Any] = {
            "logGroupName": group,
            "logStreamNames": list(by_name),
            "startTime": min(cursor.start_time(stream) for stream in by_name.values()),
        }
        lines: list[LogLine] = []
        seen: set[tuple[str, str]] = set()
        try:
            for page in self.client.get_paginator("filter_log_events").paginate(**request):
                for event in page.get("events", []):
                    stream = by_name.get(event.get("logStreamName", ""))
                    if stream is None or (stream.name, event["eventId"]) in seen:
                        continue
                    line = LogLine(stream, int(event["timestamp"]), event.get("message", ""), event["eventId"])
                    if cursor.is_new(line):
                        seen.add((stream.name, line.event_id))
                        lines.append(line)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            log.debug("Log group %s does not exist yet: no lines yet", group)
        return lines
