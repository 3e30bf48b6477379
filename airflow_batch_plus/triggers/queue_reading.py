"""Reading an SQS queue from a triggerer: long polls in threads of their own, failures waited out.

Both of our queue readers, the job event reader (triggers/job_event_reader.py) and the cost alarm
trigger (triggers/cost_alarm.py), block in ReceiveMessage for up to 20 s when the queue is quiet. They
must not do it in the event loop's default executor: that one has os.cpu_count() + 4 threads (6 on 2
cores), which every trigger's `asyncio.to_thread` shares, the poller's DescribeJobs and log reads
included; a few long polls would hold all of them and every other call of the triggerer would wait.
A failed receive is logged and tried again after a growing wait: a queue that cannot be read for a
while (a network blip, a missing permission being fixed) must not end the reader.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from airflow_batch_plus.hooks.sqs import QueueMessage, SqsHook

log = logging.getLogger(__name__)
_T = TypeVar("_T")

RECEIVE_WAIT_SECONDS = 20  # SQS's longest long poll: an idle queue costs three receives a minute
RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)


class QueueReading:
    """One SQS queue, read through `SqsHook` in `threads` threads of its own (one per concurrent receiver).

    :param what: what the queue holds, for log lines ("job events", "cost alarms").
    """

    def __init__(
        self,
        queue_url: str,
        make_hook: Callable[[], SqsHook],
        *,
        what: str,
        wait_seconds: int = RECEIVE_WAIT_SECONDS,
        threads: int = 1,
    ):
        self.queue_url = queue_url
        self.what = what
        self.wait_seconds = wait_seconds
        self.threads = threads
        self.failed_receives = 0
        self._make_hook = make_hook
        self._hook: SqsHook | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def hook(self) -> SqsHook:
        if self._hook is None:
            self._hook = self._make_hook()
        return self._hook

    async def in_own_thread(self, call: Callable[..., _T], *args: Any) -> _T:
        """Run a blocking SQS call in one of this queue's threads."""
        if self._executor is None:
            name = "batch-plus-" + self.what.replace(" ", "-")
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix=name)
        return await asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(call, *args))

    async def receive(self, still_wanted: Callable[[], bool] = lambda: True) -> list[QueueMessage] | None:
        """The next batch of messages (empty when a long poll found none); a failed receive is logged and
        tried again after RETRY_SECONDS, for as long as `still_wanted()`: None once it is not."""
        failures = 0
        while still_wanted():
            try:
                return await self.in_own_thread(self.hook.receive, self.queue_url, self.wait_seconds)
            except Exception as error:
                self.failed_receives += 1
                wait = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("Could not read %s from %s (%s); again in %.0f s", self.what, self.queue_url, error, wait)
                await asyncio.sleep(wait)
        return None

    async def delete(self, messages: list[QueueMessage]) -> int:
        """Delete what was read; how many were. A failure is logged: the messages come back after their
        visibility timeout, and both readers take a message read twice without harm."""
        try:
            failed = await self.in_own_thread(self.hook.delete, self.queue_url, messages)
        except Exception as error:
            log.warning("Could not delete %d of the %s from %s: %s", len(messages), self.what, self.queue_url, error)
            return 0
        if failed:
            log.warning("SQS did not delete %s %s from %s", self.what, failed, self.queue_url)
        return len(messages) - len(failed)
