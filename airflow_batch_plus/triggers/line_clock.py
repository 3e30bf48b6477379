"""The time a trigger logs each relayed job line with. Apart from hooks/logs.py, which imports boto3
through the Logs hook, so that importing the trigger module does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_batch_plus.hooks.logs import LogLine

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Lines of one millisecond are logged this far apart at most (then they share the last microsecond).
MAX_SAME_MILLISECOND = 999


class LineClock:
    """The time each relayed line is logged with: when the job printed it (its CloudWatch timestamp), not
    when it was relayed, so ten lines printed over ten seconds read over ten seconds in Airflow's log view.

    Airflow's log view drops a line identical to the one before it, time included; a job printing the same
    line twice in one millisecond (two blank lines) would lose one there. So lines that share a millisecond
    are logged a microsecond apart, in order: invisible at the view's millisecond precision.
    """

    def __init__(self) -> None:
        self._millisecond: int | None = None
        self._same = 0

    def timestamp(self, line: LogLine) -> str:
        """The line's time as Airflow's own log timestamps are written (ISO 8601, UTC, microseconds, "Z")."""
        if line.timestamp == self._millisecond:
            self._same = min(self._same + 1, MAX_SAME_MILLISECOND)
        else:
            self._millisecond, self._same = line.timestamp, 0
        moment = EPOCH + timedelta(milliseconds=line.timestamp, microseconds=self._same)
        return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
