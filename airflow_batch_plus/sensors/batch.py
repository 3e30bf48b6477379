"""Sensors for work that other hands put on AWS Batch: one job, or a whole job queue.

`BatchJobSensor` waits on a job this task did not submit, so it never stops it: not on timeout, not
when killed. It pokes from the worker or waits in the triggerer through the same `BatchJobTrigger`
the submit operator uses (with `stop_policy="keep"`). `BatchJobQueueSensor` waits for a queue to be
usable or to be empty. Heavy imports (boto3, the hooks) wait until a task runs, so parsing a DAG that
uses these sensors stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_batch_plus import links
from airflow_batch_plus.aws_settings import check_botocore_config
from airflow_batch_plus.deferral import default_deferrable, deferral_timeout, try_deadline
from airflow_batch_plus.jobs import JobSnapshot, JobStatus, StopPolicy
from airflow_batch_plus.ownership import sensor_keep_reason
from airflow_batch_plus.waiting import JobEvent, Outcome

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_batch_plus.hooks.batch import BatchHook

WAIT_FOR = {
    "ready": "the queue's state is ENABLED and its status VALID",
    "drained": "no job of the queue is SUBMITTED, PENDING, RUNNABLE, STARTING or RUNNING",
}
_GONE_QUEUE_STATUSES = {"DELETING", "DELETED"}


class BatchJobSensor(BaseSensorOperator):
    """Wait for Batch job `job_id`, submitted elsewhere, to end: succeed if it SUCCEEDED, fail if it FAILED.

    The job is not this task's, so nothing here ever stops it: a sensor that times out, or is marked
    or cleared, leaves the job running for whoever owns it.

    In ``poke`` and ``reschedule`` modes each poke is one DescribeJobs call. Deferrable (the default,
    unless `[batch_plus] default_deferrable` is false), the task waits in the triggerer, sharing the
    triggerer's poller (one DescribeJobs per 100 waiting jobs) with every other Batch wait; the
    sensor's `timeout` travels with the trigger, because Airflow does not enforce it while deferred.

    :param job_id: the Batch job to wait on (templated).
    :param deferrable: wait in the triggerer instead of poking from a worker.
    :param poll_interval: seconds between looks at the job while deferred (default: `poke_interval`).
    :param stream_logs: while deferred, log the job's lines into this task's log as they arrive
        (in poke and reschedule modes no lines are logged).

    ``deferrable=True`` takes precedence over ``mode``; the timeout counts from the start of the try.
    :returns: the job's snapshot (`JobSnapshot.to_dict()`), pushed to XCom.
    """

    template_fields: Sequence[str] = ("job_id", "aws_conn_id", "region_name")
    ui_color = "#f7d35d"
    operator_extra_links = (links.JOB_LINK,)

    def __init__(
        self,
        *,
        job_id: str,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        botocore_config: dict[str, Any] | None = None,
        deferrable: bool | None = None,
        poll_interval: float | None = None,
        stream_logs: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not job_id:
            raise ValueError("job_id is empty: give the id of the Batch job to wait for (it may be templated)")
        self.job_id = job_id
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.botocore_config = check_botocore_config(botocore_config)
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        interval = self.poke_interval if poll_interval is None else poll_interval
        if interval <= 0:
            raise ValueError(f"poll_interval={interval!r}: must be a positive number of seconds")
        self.poll_interval = float(interval)
        self.stream_logs = stream_logs

    @cached_property
    def hook(self) -> BatchHook:
        """One hook, so one boto3 client, for every poke of this task."""
        from airflow_batch_plus.hooks.batch import BatchHook

        return BatchHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, config=self.botocore_config)

    def execute(self, context: Context) -> Any:
        hook = self.hook
        links.persist(context, links.JOB_LINK, links.job_url(hook.region, self.job_id))
        if not self.deferrable:
            return super().execute(context)
        # One look first: a job that already ended (or does not exist) needs no triggerer. An ended
        # job is then settled by an ordinary poke, so soft_fail and never_fail apply as usual.
        if hook.describe_job(self.job_id).is_done:
            return super().execute(context)
        self._defer(context)

    def poke(self, context: Context) -> PokeReturnValue:
        snapshot = self.hook.describe_job(self.job_id)
        if not snapshot.is_done:
            self.log.info("Batch job %s is %s", self.job_id, snapshot.status.value)
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=self._ended(snapshot))

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> dict[str, Any]:
        """Resume after the trigger's event: the job's outcome, or the sensor's timeout."""
        from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout

        parsed = JobEvent.parse(event)
        if parsed.ended_job is not None:
            return self._ended(parsed.ended_job)
        snapshot = parsed.snapshot
        seen = f" (last seen {snapshot.status.value})" if snapshot is not None else ""
        if parsed.outcome is Outcome.TIMED_OUT:
            raise AirflowSensorTimeout(
                f"Sensor timed out after {self.timeout:g} s waiting for Batch job {self.job_id}{seen}; "
                "the job was left running"
            )
        raise AirflowException(f"Waiting for Batch job {self.job_id} failed{seen}: {parsed.message}")

    def _defer(self, context: Context) -> None:
        from airflow_batch_plus.triggers.batch import BatchJobTrigger

        ti = context["ti"]
        deadline = try_deadline(ti, self.timeout)
        trigger = BatchJobTrigger(
            job_id=self.job_id,
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            botocore_config=self.botocore_config,
            poll_interval=self.poll_interval,
            stream_logs=self.stream_logs,
            deadline=deadline,
            stop_policy=StopPolicy.KEEP.value,
            stop_reason=sensor_keep_reason(ti),
            deadline_reason=f"the sensor's timeout of {self.timeout:g} s passed",
        )
        # Airflow's own deferral timeout is a backstop behind the trigger's deadline, which fires first.
        self.defer(trigger=trigger, method_name="execute_complete", timeout=deferral_timeout(deadline))

    def _ended(self, snapshot: JobSnapshot) -> dict[str, Any]:
        """The snapshot of a job that SUCCEEDED; a failure that says why for one that FAILED."""
        from airflow.sdk.exceptions import AirflowFailException

        if snapshot.status is JobStatus.SUCCEEDED:
            self.log.info("Batch job %s SUCCEEDED", snapshot.job_id)
            return snapshot.to_dict()
        # A FAILED job stays FAILED: retrying the sensor cannot help, so fail without retries.
        raise AirflowFailException(snapshot.failure_summary())


class BatchJobQueueSensor(BaseSensorOperator):
    """Wait for a Batch job queue to be ready to take jobs, or to have no live job left.

    ``wait_for="ready"``: the queue's state is ENABLED and its status VALID (one DescribeJobQueues
    call a poke), e.g. after the queue was created or updated elsewhere; a queue being deleted fails
    the sensor. ``wait_for="drained"``: no job of the queue is SUBMITTED, PENDING, RUNNABLE, STARTING
    or RUNNING, e.g. before changing its compute environment; a poke lists one job at most per status
    and stops at the first live job, so it costs at most five small ListJobs calls however busy the
    queue. Array and multi-node jobs count through their parent job.

    Poke and reschedule modes only (no deferrable mode): each poke is cheap, and ``reschedule`` frees
    the worker slot between pokes.

    :param job_queue: the queue's name or ARN (templated).
    :param wait_for: ``"ready"`` or ``"drained"``.
    :returns: for ``ready``, the queue's name, ARN, state and status.
    """

    template_fields: Sequence[str] = ("job_queue", "aws_conn_id", "region_name")
    ui_color = "#f7d35d"
    operator_extra_links = (links.QUEUE_LINK,)

    def __init__(
        self,
        *,
        job_queue: str,
        wait_for: str = "ready",
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        botocore_config: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if wait_for not in WAIT_FOR:
            choices = "; ".join(f"{name!r} ({meaning})" for name, meaning in WAIT_FOR.items())
            raise ValueError(f"wait_for={wait_for!r} is not something to wait for: use {choices}")
        self.job_queue = job_queue
        self.wait_for = wait_for
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.botocore_config = check_botocore_config(botocore_config)

    @cached_property
    def hook(self) -> BatchHook:
        """One hook, so one boto3 client, for every poke of this task."""
        from airflow_batch_plus.hooks.batch import BatchHook

        return BatchHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, config=self.botocore_config)

    def execute(self, context: Context) -> Any:
        links.persist(context, links.QUEUE_LINK, links.queue_url(self.hook.region, self.job_queue))
        return super().execute(context)

    def poke(self, context: Context) -> PokeReturnValue:
        if self.wait_for == "drained":
            return PokeReturnValue(is_done=self._drained())
        return self._ready()

    def _ready(self) -> PokeReturnValue:
        from airflow.sdk.exceptions import AirflowFailException

        queue = self.hook.describe_job_queue(self.job_queue)
        if queue is None:
            raise LookupError(f"job_queue={self.job_queue!r}: Batch has no such job queue in this account and region")
        state, status = queue.get("state"), queue.get("status")
        if status in _GONE_QUEUE_STATUSES:
            raise AirflowFailException(f"Batch job queue {self.job_queue} is {status}: it will never be ready")
        if state == "ENABLED" and status == "VALID":
            self.log.info("Batch job queue %s is ENABLED and VALID", self.job_queue)
            return PokeReturnValue(
                is_done=True,
                xcom_value={
                    "job_queue": queue.get("jobQueueName"),
                    "job_queue_arn": queue.get("jobQueueArn"),
                    "state": state,
                    "status": status,
                },
            )
        reason = f": {queue['statusReason']}" if queue.get("statusReason") else ""
        self.log.info("Batch job queue %s is %s and %s%s", self.job_queue, state, status, reason)
        return PokeReturnValue(is_done=False)

    def _drained(self) -> bool:
        live = self.hook.first_live_job(self.job_queue)
        if live is None:
            self.log.info("Batch job queue %s has no live job", self.job_queue)
            return True
        self.log.info("Batch job queue %s still has job %s (%s)", self.job_queue, live.job_id, live.status.value)
        return False
