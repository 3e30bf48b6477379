"""LogReader: the log lines of every waiting trigger of a poller, read together.

Requests that arrive within a moment of each other (COALESCE_SECONDS) become one FilterLogEvents read of
up to 100 streams, instead of one read per trigger; a stream two triggers follow is read once per round.
The Logs hook's own budget paces the calls; the reads run the hook's boto3 code in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_batch_plus.hooks.logs import BatchLogsHook, LogCursor, LogLine
    from airflow_batch_plus.jobs import LogStream

# Requests that arrive within this window share one read.
COALESCE_SECONDS = 0.05


@dataclass
class _LogRequest:
    streams: Sequence[LogStream]
    cursor: LogCursor
    result: asyncio.Future[list[LogLine]]


class LogReader:
    """Coalesces the log reads of one poller's triggers. `logs_hook` makes (or returns) the Logs hook."""

    def __init__(self, logs_hook: Callable[[], BatchLogsHook]):
        self._logs_hook = logs_hook
        self._requests: list[_LogRequest] = []
        self._task: asyncio.Task[None] | None = None

    async def read(self, streams: Sequence[LogStream], cursor: LogCursor) -> list[LogLine]:
        """The lines of `streams` that `cursor` has not marked, read together with other triggers' requests.

        The cursor is not changed: the caller marks each line once it has logged it.
        """
        if not streams:
            return []
        future: asyncio.Future[list[LogLine]] = asyncio.get_running_loop().create_future()
        self._requests.append(_LogRequest(streams, cursor, future))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._flush_logs(), name="airflow-batch-plus log reader", context=contextvars.Context()
            )
        return await future

    async def _flush_logs(self) -> None:
        await asyncio.sleep(COALESCE_SECONDS)
        while self._requests:
            pending, self._requests = self._requests, []
            for batch in _rounds_of_distinct_streams(pending):
                await self._read_batch(batch)

    async def _read_batch(self, batch: list[_LogRequest]) -> None:
        from airflow_batch_plus.hooks.logs import LogCursor

        live = [request for request in batch if not request.result.done()]
        if not live:
            return
        streams = [stream for request in live for stream in request.streams]
        cursor = LogCursor.union([request.cursor for request in live])
        try:
            lines = await asyncio.to_thread(self._logs_hook().read_new, streams, cursor)
        except Exception as error:
            for request in live:
                if not request.result.done():
                    request.result.set_exception(error)
            return
        by_stream: dict[str, list[LogLine]] = defaultdict(list)
        for line in lines:
            by_stream[line.stream.key].append(line)
        for request in live:
            if not request.result.done():
                mine = [line for stream in request.streams for line in by_stream.get(stream.key, ())]
                mine.sort(key=lambda line: line.timestamp)  # stable: a stream's same-millisecond order holds
                request.result.set_result(mine)


def _rounds_of_distinct_streams(requests: list[_LogRequest]) -> list[list[_LogRequest]]:
    """Split requests so no stream is read twice in one call (two triggers may follow one job)."""
    rounds: list[tuple[set[str], list[_LogRequest]]] = []
    for request in requests:
        keys = {stream.key for stream in request.streams}
        for taken, members in rounds:
            if not taken & keys:
                taken.update(keys)
                members.append(request)
                break
        else:
            rounds.append((keys, [request]))
    return [members for _, members in rounds]
