"""AWS Batch's "Batch Job State Change" events, put on moto's EventBridge of the job's account and region.

AWS Batch sends one to EventBridge's default bus each time a job it already has changes state (never for the
submission itself), its `detail` the job as DescribeJobs shows it then, and rules deliver them to their targets
(an SQS queue per triggerer, in this provider's design). The local Batch does the same, so what consumes the
events can be tested against it (docs/local-batch.md, "Job state change events").

The engine records an event while it holds its lock, where the job changes (`record`, called by
`LocalJob.enter`): the description must be the one of that moment. It sends them once the lock is released
(`flush`), so a slow or failing delivery never holds up the jobs; an event that cannot be sent is dropped and
logged, never raised into the engine.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from typing import Any

from moto.events.models import events_backends

from airflow_batch_plus.local.model import LocalJob

SOURCE = "aws.batch"
DETAIL_TYPE = "Batch Job State Change"
DEFAULT_BUS = "default"

log = logging.getLogger(__name__)


def job_event(job: LocalJob, account_id: str, region_name: str, at: float) -> dict[str, Any]:
    """The event AWS sends for `job` in its current state; `time` stays epoch seconds (a float), as moto's
    EventBridge wants it: moto writes it as ISO-8601 UTC ("2022-01-11T23:36:40Z") when it delivers.

    The detail goes through JSON at once: a copy of this moment that later changes to the job cannot reach,
    and exactly what DescribeJobs would have sent over the wire.
    """
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": account_id,
        "time": at,
        "region": region_name,
        "resources": [job.job_arn],
        "detail": json.loads(json.dumps(job.describe())),
    }


class JobEvents:
    """The events of one engine's jobs, from the moment each job changes state until EventBridge has them.

    Recorded in transition order under the engine's lock, sent in that order under this object's own lock
    (several threads flush: the scheduler after each tick, API calls after a cancel or terminate).
    """

    def __init__(self, account_id: str, region_name: str):
        self.account_id = account_id
        self.region_name = region_name
        self._outbox: deque[dict[str, Any]] = deque()
        self._send_lock = threading.Lock()
        self._logged = False

    def record(self, job: LocalJob) -> None:
        """`job` entered a new state: keep its event if a rule of the default bus might want it. Without one
        (the usual case) nothing is built. Never raises: it runs inside the engine's state changes."""
        try:
            if self._rules():
                self._outbox.append(job_event(job, self.account_id, self.region_name, time.time()))
        except Exception:  # an event must never break a job's state change
            self._log_failure("recording")

    def flush(self) -> None:
        """Deliver every recorded event, oldest first. Call without holding the engine's lock."""
        with self._send_lock:
            while self._outbox:
                event = self._outbox.popleft()
                try:
                    self._deliver(event)
                except Exception:  # moto's EventBridge itself failing must not stop the engine
                    self._log_failure("delivering")

    def _rules(self) -> list[Any]:
        """The rules of the default event bus, which is where AWS services put their events."""
        bus = events_backends[self.account_id][self.region_name].event_buses.get(DEFAULT_BUS)
        return list(bus.rules.values()) if bus is not None else []

    def _deliver(self, event: dict[str, Any]) -> None:
        """What EventBridge does with one event: every enabled rule whose pattern matches sends it to its targets.

        Not moto's `put_events`, for three reasons: it stamps its own event id; it sends to a rule's
        targets the event through a default input template that drops `account` (AWS sends the event as it
        is); and it ignores a rule's state and lets a schedule-only rule (no pattern) match every event.
        A rule with an input transformer still goes through moto's templating, which needs `ingestion-time`.
        """
        for rule in self._rules():
            if rule.state != "ENABLED" or not rule.event_pattern.get_pattern():
                continue
            transform = any("InputTransformer" in target for target in rule.targets)
            message = {**event, "ingestion-time": time.time()} if transform else dict(event)
            try:
                rule.send_to_targets(message, transform_input=transform)
            except Exception:  # one rule's broken target (a deleted queue) must not keep the event from the others
                self._log_failure("delivering")

    def _log_failure(self, doing: str) -> None:
        """Once per engine, with the traceback: a broken target would otherwise log every transition."""
        if self._logged:
            return
        self._logged = True
        log.warning(
            "Local Batch %s/%s: %s a job state change event failed; events that fail are dropped "
            "(logged once per region)",
            self.account_id,
            self.region_name,
            doing,
            exc_info=True,
        )
