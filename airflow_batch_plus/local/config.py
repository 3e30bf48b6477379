"""Timings of the local AWS Batch: real AWS takes seconds to minutes per state, tests want milliseconds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LocalBatchConfig:
    """How long a job dwells in each state, and how stop signals are escalated.

    The defaults are paced for a human watching the demo; `fast()` is the preset the tests use.
    """

    submitted_seconds: float = 0.5
    pending_seconds: float = 0.5
    runnable_seconds: float = 1.0
    starting_seconds: float = 1.0
    # TerminateJob sends SIGTERM, then SIGKILL this long after, as ECS StopTask does (30 s on AWS).
    terminate_grace_seconds: float = 30.0
    tick_seconds: float = 0.05
    # AWS rejects attemptDurationSeconds below 60 s; tests shrink time instead of breaking that rule.
    attempt_duration_scale: float = 1.0

    @classmethod
    def fast(cls) -> LocalBatchConfig:
        """Tens of milliseconds per state: what unit and integration tests use."""
        return cls(
            submitted_seconds=0.02,
            pending_seconds=0.02,
            runnable_seconds=0.02,
            starting_seconds=0.02,
            terminate_grace_seconds=1.0,
            tick_seconds=0.01,
            attempt_duration_scale=0.005,
        )
