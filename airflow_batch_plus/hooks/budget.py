"""A request budget shared by every CloudWatch Logs call of one process.

CloudWatch Logs allows a few FilterLogEvents / GetLogEvents calls a second per account, far fewer than
the number of jobs a triggerer may follow. Every Logs client this provider creates draws from one
budget per process, so thousands of waiting jobs slow their log reads down instead of being throttled.
Calls run in threads (triggers use `asyncio.to_thread`), so waiting for the budget blocks a thread,
never the event loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

DEFAULT_LOGS_REQUESTS_PER_SECOND = 5.0


class RequestBudget:
    """A token bucket: `rate` requests a second on average, up to `burst` at once."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError(f"rate={rate!r}: a request budget needs a positive number of requests a second")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one request from the budget, waiting until it is available; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1  # reserved now, so concurrent callers queue behind each other
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait:
            self._sleep(wait)
        return wait


_shared: dict[str, RequestBudget] = {}
_shared_lock = threading.Lock()


def shared_budget(name: str, rate: float = DEFAULT_LOGS_REQUESTS_PER_SECOND) -> RequestBudget:
    """The process-wide budget called `name`, created with `rate` on first use."""
    with _shared_lock:
        if name not in _shared:
            _shared[name] = RequestBudget(rate)
        return _shared[name]
