"""LogCursor: no line lost or repeated across resumes, however many lines share a millisecond.

The property test is the contract of the logs layer: 10,000 lines written to several streams, some
ingested late (after newer lines were already read), read back in rounds by a new hook each time
with the cursor carried through JSON, as a trigger carries it across a deferral or a restart.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_batch_plus.hooks.budget import RequestBudget
from airflow_batch_plus.hooks.logs import BatchLogsHook, LogCursor, LogLine
from airflow_batch_plus.jobs import LogStream
from airflow_batch_plus.local import LocalBatch, LocalBatchConfig

TOTAL_LINES = 10_000
GROUP = "/aws/batch/job"


@pytest.fixture(scope="module")
def logs_backend() -> Iterator[LocalBatch]:
    """One local Batch for the whole module (hypothesis runs many examples in one test)."""
    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    with LocalBatch(LocalBatchConfig.fast()) as batch:
        batch.client("logs").create_log_group(logGroupName=GROUP)
        yield batch
    if previous is None:
        os.environ.pop("AWS_DEFAULT_REGION", None)
    else:
        os.environ["AWS_DEFAULT_REGION"] = previous


def new_hook() -> BatchLogsHook:
    return BatchLogsHook(aws_conn_id=None, region_name="us-east-1", budget=RequestBudget(rate=1000))


_example = iter(range(1_000_000))


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    stream_count=st.integers(1, 4),
    spread_ms=st.sampled_from([1, 40, 1_500, 9_000]),  # 1: all 10,000 lines in two milliseconds
    lateness=st.sampled_from([0, 50, 2_000]),  # how many lines a late line may arrive behind
    resume_points=st.lists(st.integers(1, TOTAL_LINES - 1), max_size=8, unique=True),
)
def test_every_line_is_read_exactly_once_across_json_resumes(
    logs_backend: LocalBatch,
    *,
    seed: int,
    stream_count: int,
    spread_ms: int,
    lateness: int,
    resume_points: list[int],
) -> None:
    rng = random.Random(seed)
    logs = logs_backend.client("logs")
    example = next(_example)
    streams = [LogStream(GROUP, f"example-{example}/stream-{index}") for index in range(stream_count)]
    for stream in streams:
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream.name)
    start = int(time.time() * 1000) - 60_000
    written = [
        (rng.randrange(stream_count), start + rng.randrange(spread_ms + 1), f"line-{example}-{index}")
        for index in range(TOTAL_LINES)
    ]
    written.sort(key=lambda line: line[1])  # written in time order ...
    arrival = sorted(range(TOTAL_LINES), key=lambda index: index + rng.randint(0, lateness))  # ... ingested late
    cuts = [0, *sorted(resume_points), TOTAL_LINES]

    saved = json.dumps(LogCursor().to_dict())  # as a trigger saves it (an XCom is JSON)
    read: list[LogLine] = []
    for begin, end in itertools.pairwise(cuts):
        by_stream: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for index in arrival[begin:end]:
            stream_index, timestamp, message = written[index]
            by_stream[stream_index].append((timestamp, message))
        for stream_index, events in by_stream.items():
            events.sort()
            logs.put_log_events(
                logGroupName=GROUP,
                logStreamName=streams[stream_index].name,
                logEvents=[{"timestamp": timestamp, "message": message} for timestamp, message in events],
            )
        cursor = LogCursor.from_dict(json.loads(saved))
        new_lines = new_hook().read_new(streams, cursor)
        for new_line in new_lines:
            read.append(new_line)
            cursor.mark(new_line)
        round_lines = len(new_lines)
        assert [line.timestamp for line in read[-round_lines:]] == sorted(
            line.timestamp for line in read[-round_lines:]
        )
        saved = json.dumps(cursor.to_dict())

    assert Counter(line.message for line in read) == Counter(message for _, _, message in written)
    for stream_index, stream in enumerate(streams):
        mine = sorted((timestamp, message) for index, timestamp, message in written if index == stream_index)
        got = sorted((line.timestamp, line.message) for line in read if line.stream == stream)
        assert got == mine


def line(stream: LogStream, timestamp: int, event_id: str) -> LogLine:
    return LogLine(stream, timestamp, f"message {event_id}", event_id)


STREAM = LogStream(GROUP, "s")


def test_a_cursor_round_trips_through_json() -> None:
    cursor = LogCursor(overlap_ms=5_000)
    for timestamp, event_id in [(1_000, "a"), (1_000, "b"), (4_000, "c"), (9_000, "d")]:
        cursor.mark(line(STREAM, timestamp, event_id))
    again = LogCursor.from_dict(json.loads(json.dumps(cursor.to_dict())))
    assert again.to_dict() == cursor.to_dict()
    assert again.start_time(STREAM) == 4_000
    assert not again.is_new(line(STREAM, 4_000, "c")) and again.is_new(line(STREAM, 4_000, "e"))


def test_lines_sharing_a_millisecond_are_told_apart_by_event_id() -> None:
    cursor = LogCursor()
    cursor.mark(line(STREAM, 7, "first"))
    assert not cursor.is_new(line(STREAM, 7, "first"))
    assert cursor.is_new(line(STREAM, 7, "second"))
    assert cursor.is_new(line(LogStream(GROUP, "other"), 7, "first"))  # positions are per stream


def test_a_line_older_than_the_overlap_window_counts_as_read() -> None:
    """The documented limit: a line ingested more than `overlap_ms` behind the newest one read is not read."""
    cursor = LogCursor(overlap_ms=10_000)
    cursor.mark(line(STREAM, 20_000, "new"))
    assert cursor.is_new(line(STREAM, 10_000, "late-but-inside"))
    assert not cursor.is_new(line(STREAM, 9_999, "too-late"))
    assert cursor.start_time(STREAM) == 10_000
    assert LogCursor().start_time(STREAM) == 0


def test_the_union_of_cursors_reads_for_all_of_them() -> None:
    first, second = LogCursor(), LogCursor()
    first.mark(line(LogStream(GROUP, "a"), 5, "x"))
    second.mark(line(LogStream(GROUP, "b"), 9, "y"))
    union = LogCursor.union([first, second])
    assert not union.is_new(line(LogStream(GROUP, "a"), 5, "x"))
    assert not union.is_new(line(LogStream(GROUP, "b"), 9, "y"))
    assert union.is_new(line(LogStream(GROUP, "c"), 1, "z"))


def test_a_negative_overlap_is_refused() -> None:
    with pytest.raises(ValueError, match="overlap_ms=-1"):
        LogCursor(overlap_ms=-1)
