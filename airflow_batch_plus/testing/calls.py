"""Count the AWS calls a boto3 client makes, from botocore's own events (tests and benchmarks)."""

from __future__ import annotations

from collections import Counter
from typing import Any


class CallCounter:
    """API calls by operation name, and the parameters of each, for every client it is attached to.

    It listens to `before-parameter-build`, which botocore fires once per API call (not per HTTP
    retry) with the caller's parameters, so it counts what our code asked for, not what we think it did.
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build", self._count)

    def _count(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls[model.name] += 1
        self.requests.append((model.name, params))

    def clear(self) -> None:
        self.calls.clear()
        self.requests.clear()

    def __getitem__(self, operation: str) -> int:
        return self.calls[operation]
