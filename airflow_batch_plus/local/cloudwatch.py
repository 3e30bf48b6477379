"""Writes job output into moto's CloudWatch Logs, as the awslogs driver does on AWS."""

from __future__ import annotations

import threading
from typing import Any

from moto.logs.models import logs_backends

# moto's CloudWatch Logs is not thread-safe: a FilterLogEvents walking a group's streams while a job's first
# line creates another fails ("dictionary changed size during iteration"). Job lines are written under this
# lock, and the local Batch's server serves every Logs request under it.
moto_logs_lock = threading.Lock()


class LogSink:
    """Appends lines to log streams of one account and region, creating groups and streams on first use."""

    def __init__(self, account_id: str, region_name: str):
        self._account_id = account_id
        self._region_name = region_name
        self._known: set[tuple[str, str]] = set()

    @property
    def _backend(self) -> Any:
        return logs_backends[self._account_id][self._region_name]

    def open_stream(self, group: str, stream: str) -> None:
        with moto_logs_lock:
            backend = self._backend
            if group not in backend.groups:
                backend.create_log_group(group, tags={})
            if stream not in backend.groups[group].streams:
                backend.create_log_stream(group, stream)
            self._known.add((group, stream))

    def write(self, group: str, stream: str, message: str, timestamp_ms: int) -> None:
        if (group, stream) not in self._known:
            self.open_stream(group, stream)
        with moto_logs_lock:
            self._backend.put_log_events(group, stream, [{"timestamp": timestamp_ms, "message": message}])
