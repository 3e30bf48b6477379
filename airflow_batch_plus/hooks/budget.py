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
from collections import deque
from collections.abc import Callable

DEFAULT_LOGS_REQUESTS_PER_SECOND = 5.0


# Requests are counted where they arrive; a little slack per window keeps a request that reaches AWS a
# few milliseconds late from landing in the same second as the next window's first one.
ARRIVAL_SLACK_SECONDS = 0.05


class RequestBudget:
    """At most `burst` requests in any window of `burst / rate` seconds (by default, `rate` in any second).

    A sliding window rather than a token bucket: a bucket lets a full burst through and then the
    refill in the same second, twice the rate; AWS quotas (CloudWatch Logs: 5 FilterLogEvents a second
    per account) count every second. Each caller reserves its slot before it waits, so concurrent
    callers queue in order.
    """

    def __init__(
        self,
        rate: float,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError(f"rate={rate!r}: a request budget needs a positive number of requests a second")
        self.rate = rate
        self.burst = burst if burst is not None else max(1, int(rate))
        self.window = self.burst / rate + ARRIVAL_SLACK_SECONDS
        self._clock = clock
        self._sleep = sleep
        self._slots: deque[float] = deque(maxlen=self.burst)
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one request from the budget, waiting until it is available; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = now
            if len(self._slots) == self.burst:
                slot = max(now, self._slots[0] + self.window)
            self._slots.append(slot)  # the oldest slot falls out: `burst` slots later need not look at it
            wait = slot - now
        if wait:
            self._sleep(wait)
        return wait

    def try_acquire(self) -> bool:
        """Take one request only if it is available now, without waiting; whether it was taken."""
        with self._lock:
            now = self._clock()
            if len(self._slots) == self.burst and self._slots[0] + self.window > now:
                return False
            self._slots.append(now)
            return True


_shared: dict[str, RequestBudget] = {}
_shared_lock = threading.Lock()


def shared_budget(name: str, rate: float = DEFAULT_LOGS_REQUESTS_PER_SECOND) -> RequestBudget:
    """The process-wide budget called `name`, created with `rate` on first use."""
    with _shared_lock:
        if name not in _shared:
            _shared[name] = RequestBudget(rate)
        return _shared[name]
