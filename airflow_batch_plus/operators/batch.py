"""BatchSubmitJobOperator: what DAG authors put in their DAGs to run a Batch job.

It submits a job (or follows the live job an earlier try submitted), waits for it in the triggerer
(or in the worker), logs its lines as they arrive, and stops it per its stop policy on every way the
task can end. The kill switch, which only stops jobs, is `BatchStopJobsOperator` in operators/stop.py.
Heavy imports (boto3, the hooks) wait until a task runs, so parsing a DAG that uses the operator stays
cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_batch_plus import links
from airflow_batch_plus.aws_settings import check_botocore_config
from airflow_batch_plus.deferral import default_deferrable, deferral_timeout, try_deadline
from airflow_batch_plus.environment import override_environment_names
from airflow_batch_plus.jobs import JobSnapshot, JobStatus, StopPolicy
from airflow_batch_plus.operators import request as submit_job
from airflow_batch_plus.operators.reattach_lookup import ReattachLookup
from airflow_batch_plus.orphans import SupervisorWatch
from airflow_batch_plus.ownership import ExitPath, StopGuard, task_stop_reason
from airflow_batch_plus.reattach import JOB_ID_XCOM_KEY, revision_label
from airflow_batch_plus.waiting import JobEvent, Outcome, failure_message, first_event, is_tolerated, tolerated_count

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_batch_plus.hooks.batch import BatchHook, StopResult
    from airflow_batch_plus.hooks.logs import BatchLogsHook
    from airflow_batch_plus.triggers.batch import BatchJobTrigger


def _seconds(value: timedelta | float | int | None, field_name: str) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds <= 0:
        raise ValueError(f"{field_name}={value!r}: must be a positive duration (seconds or a timedelta)")
    return seconds


class BatchSubmitJobOperator(BaseOperator):
    """Submit an AWS Batch job and wait for it, streaming its CloudWatch logs into the task log.

    Every SubmitJob field is a templated parameter (snake_case). The job is named and tagged after
    the task (`ownership.derived_job_name`: DAG, task, run and map index, unless `job_name` is given), so a
    retry finds and follows a job an earlier try left running instead of submitting a duplicate.

    :param stop_policy: what happens to a live job when the task ends any other way than by the job
        ending (killed, marked, cleared, timed out, failed): ``terminate`` (default) stops it whatever
        its state, ``cancel`` stops it only if it has not started, ``keep`` leaves it running.
    :param deferrable: wait in the triggerer (default, unless `[batch_plus] default_deferrable` is false).
    :param poll_interval: seconds between looks at the job.
    :param stream_logs: log every line of every stream of the job as it arrives.
    :param max_runnable_time: fail if the job waits in RUNNABLE longer than this, applying the stop
        policy to it (terminate and cancel cancel it; keep leaves it queued).
    :param tolerated_failures: for an array job, how many children may fail (a count, or a
        percentage such as ``"10%"``) with the task still succeeding.
    :param end_from_trigger: when the deferred task's job ends, the trigger ends the task itself (success with
        the same return value and XComs, failure with the same message and retries), sparing Airflow a second
        run of the task in a worker. The default, `[batch_plus] end_from_trigger` (true unless set false),
        does so wherever the task needs nothing only a worker does: an ending that does (on_success_callback,
        outlets, failure callbacks, a listener plugin... airflow_batch_plus/ending.py) resumes in a worker,
        as does any end but the job's own (a timeout, a job stuck in RUNNABLE, a failed wait).
    :param reattach: follow a live job an earlier try of this task submitted, rather than submitting again.
    :param botocore_config: botocore.config.Config's arguments as a dict (timeouts, retries, pool size), as the
        amazon provider's operators take them; used in the worker and by the trigger. Adaptive retries are
        added unless it sets `retries`.
    """

    template_fields: Sequence[str] = (
        "job_name",
        "job_queue",
        "job_definition",
        "array_properties",
        "depends_on",
        "parameters",
        "container_overrides",
        "node_overrides",
        "ecs_properties_override",
        "eks_properties_override",
        "retry_strategy",
        "job_timeout",
        "tags",
        "propagate_tags",
        "share_identifier",
        "scheduling_priority_override",
        "consumable_resource_properties",
        "aws_conn_id",
        "region_name",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "parameters": "json",
        "container_overrides": "json",
        "node_overrides": "json",
        "ecs_properties_override": "json",
        "eks_properties_override": "json",
        "tags": "json",
    }
    ui_color = "#f7b35d"
    operator_extra_links = links.ALL_LINKS

    def __init__(
        self,
        *,
        job_queue: str,
        job_definition: str,
        job_name: str | None = None,
        array_properties: dict[str, Any] | None = None,
        depends_on: list[dict[str, Any]] | None = None,
        parameters: dict[str, str] | None = None,
        container_overrides: dict[str, Any] | None = None,
        node_overrides: dict[str, Any] | None = None,
        ecs_properties_override: dict[str, Any] | None = None,
        eks_properties_override: dict[str, Any] | None = None,
        retry_strategy: dict[str, Any] | None = None,
        job_timeout: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
        propagate_tags: bool | None = None,
        share_identifier: str | None = None,
        scheduling_priority_override: int | None = None,
        consumable_resource_properties: dict[str, Any] | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        botocore_config: dict[str, Any] | None = None,
        deferrable: bool | None = None,
        poll_interval: float = 30,
        stream_logs: bool = True,
        stop_policy: str = "terminate",
        max_runnable_time: timedelta | float | None = None,
        tolerated_failures: int | str | None = None,
        reattach: bool = True,
        end_from_trigger: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_queue = job_queue
        self.job_definition = job_definition
        self.job_name = job_name
        self.array_properties = array_properties
        self.depends_on = depends_on
        self.parameters = parameters
        self.container_overrides = container_overrides
        self.node_overrides = node_overrides
        self.ecs_properties_override = ecs_properties_override
        self.eks_properties_override = eks_properties_override
        self.retry_strategy = retry_strategy
        self.job_timeout = job_timeout
        self.tags = tags
        self.propagate_tags = propagate_tags
        self.share_identifier = share_identifier
        self.scheduling_priority_override = scheduling_priority_override
        self.consumable_resource_properties = consumable_resource_properties
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.botocore_config = check_botocore_config(botocore_config)
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        if poll_interval <= 0:
            raise ValueError(f"poll_interval={poll_interval!r}: must be a positive number of seconds")
        self.poll_interval = poll_interval
        self.stream_logs = stream_logs
        self.stop_policy = StopPolicy.parse(stop_policy).value
        self.max_runnable_seconds = _seconds(max_runnable_time, "max_runnable_time")
        self.tolerated_failures = tolerated_failures
        tolerated_count(tolerated_failures, 100)  # refuse a bad value at DAG parse
        self.reattach = reattach
        self.end_from_trigger = end_from_trigger
        self.job_id: str | None = None
        self._stop_guard: StopGuard | None = None  # made once the job is known: the job's stop, once
        self._supervisor: SupervisorWatch | None = None
        submit_job.refuse_known_bad(self.job_name, submit_job.optional_fields(self))  # the rest once rendered

    # Hooks (built when a task runs, never at DAG parse)

    @property
    def hook(self) -> BatchHook:
        from airflow_batch_plus.hooks.batch import BatchHook

        if getattr(self, "_hook", None) is None:
            self._hook = BatchHook(
                aws_conn_id=self.aws_conn_id, region_name=self.region_name, config=self.botocore_config
            )
        return self._hook

    @property
    def logs_hook(self) -> BatchLogsHook:
        from airflow_batch_plus.hooks.logs import BatchLogsHook

        return BatchLogsHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, config=self.botocore_config)

    # Execution

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Render, then mask every override environment value before Airflow stores the rendered fields."""
        from airflow_batch_plus.masking import mask_override_environment

        super().render_template_fields(context, jinja_env)
        mask_override_environment(submit_job.overrides(self))

    def execute(self, context: Context) -> Any:
        from airflow.sdk.exceptions import AirflowFailException

        self._supervisor = SupervisorWatch()
        try:
            request = self.build_request(context)  # refused here, before anything is submitted
            self.hook  # noqa: B018 -- a botocore_config botocore refuses is refused here too
        except ValueError as error:  # BatchRequestError included
            raise AirflowFailException(str(error)) from None  # the same request fails the same way on a retry
        lookup = ReattachLookup(context, lambda: self.hook, self.log)
        previous, earlier_job = lookup.earlier_try(request, reattach=self.reattach)
        snapshot = lookup.job_to_follow(previous, earlier_job) if self.reattach else None
        try:
            if snapshot is None:
                request["jobDefinition"] = lookup.pin_job_definition(request, previous, earlier_job)
                job_id = self.hook.submit_job(request).job_id
                self._follow(context, job_id)
                lookup.record(job_id, request["jobDefinition"])
            else:
                job_id = snapshot.job_id
                if snapshot.job_definition:  # the revision it runs, for the log and the link
                    request["jobDefinition"] = snapshot.job_definition
                self.log.info("Batch job %s runs job definition %s", job_id, revision_label(request["jobDefinition"]))
                self._follow(context, job_id)
                context["ti"].xcom_push(key=JOB_ID_XCOM_KEY, value=job_id)
            links.persist_submit_links(context, lambda: self.hook, job_id, request, self.log)
            if snapshot is not None and snapshot.status is JobStatus.SUCCEEDED:
                return self._succeed(context, snapshot)
            trigger = self._trigger(context)
            if self.deferrable:
                assert self._stop_guard is not None
                self._stop_guard.hand_to_trigger()
                self.defer(trigger=trigger, method_name="execute_complete", timeout=self._deferral_timeout(context))
            event = first_event(trigger)
            return self.execute_complete(context, event)
        except BaseException as error:
            if _is_deferral(error):
                raise
            self._exit(context, ExitPath.FAILED_IN_WORKER, f"the task failed in the worker ({type(error).__name__})")
            raise

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> Any:
        """Resume after the trigger's event: succeed with the job's snapshot, or stop it and fail."""
        parsed = JobEvent.parse(event)
        snapshot = parsed.snapshot
        self._follow(context, parsed.job_id).note_event(
            stopped=parsed.stopped, job_ended=snapshot is not None and snapshot.is_done
        )
        if parsed.cursor_saved:
            self._forget_saved_cursor(context)
        if snapshot is not None:
            self._persist_log_links(context, snapshot)
        ended = parsed.ended_job
        if ended is not None and (
            parsed.outcome is Outcome.JOB_SUCCEEDED or is_tolerated(ended, self.tolerated_failures, self.log)
        ):
            return self._succeed(context, ended)
        if parsed.outcome is Outcome.TIMED_OUT:
            from airflow.sdk.exceptions import AirflowTaskTimeout

            self._exit(context, ExitPath.RESUMED_AFTER_TIMEOUT, "the task's execution_timeout passed while deferred")
            raise AirflowTaskTimeout(self._failure_message(parsed, snapshot))
        self._exit(context, ExitPath.RESUMED_AFTER_FAILURE, f"the task failed after a {parsed.status} event")
        raise RuntimeError(self._failure_message(parsed, snapshot))

    def _forget_saved_cursor(self, context: Context) -> None:
        """The trigger's saved log cursor (an XCom kept for a triggerer restart) has done its job."""
        from airflow_batch_plus.triggers.checkpoint import CursorCheckpoint, TaskKey

        task = TaskKey.of(context["ti"])
        if task is None or self.job_id is None:
            return
        try:
            CursorCheckpoint(task, self.job_id).clear()
        except Exception as error:  # harmless: a new try clears it, and it names this job only
            self.log.warning("Could not delete the saved log cursor: %s", error)

    def on_kill(self) -> None:
        """The worker is ending the task (marked, cleared, SIGTERM, execution_timeout): stop the job per policy,
        unless the task has deferred, when the job is the trigger's to stop."""
        why = "the task was killed in the worker (marked, cleared, timed out or terminated)"
        self._exit(None, ExitPath.KILLED_IN_WORKER, why)

    # Submitting

    def build_request(self, context: Context) -> dict[str, Any]:
        """The SubmitJob request from the rendered fields, checked against Batch's service model."""
        return submit_job.build(
            context["ti"],
            job_name=self.job_name,
            job_queue=self.job_queue,
            job_definition=self.job_definition,
            fields=submit_job.optional_fields(self),
            tags=self.tags,
        )

    # Waiting

    def _trigger(self, context: Context) -> BatchJobTrigger:
        from airflow_batch_plus.triggers.batch import BatchJobTrigger

        assert self.job_id is not None
        return BatchJobTrigger(
            job_id=self.job_id,
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            botocore_config=self.botocore_config,
            poll_interval=self.poll_interval,
            stream_logs=self.stream_logs,
            deadline=self._deadline(context) if self.deferrable else None,
            stop_policy=self.stop_policy,
            stop_reason=task_stop_reason(context["ti"], self.dag_id, self.task_id),
            max_runnable_seconds=self.max_runnable_seconds,
            masked_environment=override_environment_names(submit_job.overrides(self)),
            end_task=self._task_ending() if self.deferrable else None,
        )

    def _task_ending(self) -> dict[str, Any] | None:
        """What the trigger may end itself once the job has ended (airflow_batch_plus/ending.py); says in the
        task log which ending resumes in a worker, and why, when one does though ending there was asked for."""
        from airflow_batch_plus import ending

        enabled = ending.default_end_from_trigger() if self.end_from_trigger is None else self.end_from_trigger
        planned, why = ending.plan(self, enabled=enabled, tolerated_failures=self.tolerated_failures)
        for outcome, reasons in (("success", why.success), ("failure", why.failure)):
            if reasons:
                self.log.info("When its job ends, this task resumes in a worker on %s: %s", outcome, "; ".join(reasons))
        return planned.to_dict() if planned is not None else None

    def _deadline(self, context: Context) -> float | None:
        """When execution_timeout runs out (epoch seconds), counted from the start of this try."""
        if self.execution_timeout is None:
            return None
        return try_deadline(context["ti"], self.execution_timeout.total_seconds())

    def _deferral_timeout(self, context: Context) -> timedelta | None:
        deadline = self._deadline(context)
        return None if deadline is None else deferral_timeout(deadline)

    # Ending

    def _succeed(self, context: Context, snapshot: JobSnapshot) -> dict[str, Any]:
        self._persist_log_links(context, snapshot)
        if snapshot.is_array_parent:
            self.log.info("Array job %s children: %s", snapshot.job_id, dict(snapshot.status_summary))
        self.log.info("Batch job %s %s", snapshot.job_id, snapshot.status.value)
        return snapshot.to_dict()

    def _persist_log_links(self, context: Context, snapshot: JobSnapshot) -> None:
        """The log links once the job has ended (links.persist_log_links), once per run of the task: both
        resuming and succeeding reach here with the same snapshot. Best effort."""
        if getattr(self, "_log_links_saved", False):
            return
        self._log_links_saved = True
        links.persist_log_links(context, lambda: self.hook, snapshot, self.log)

    def _failure_message(self, event: JobEvent, snapshot: JobSnapshot | None) -> str:
        """What the task fails with (waiting.failure_message), read after the job was stopped: its last log
        lines through a Logs hook made only if the job has streams."""
        return failure_message(event, snapshot, job_id=self.job_id, logs_hook=lambda: self.logs_hook, log=self.log)

    def _follow(self, context: Context, job_id: str) -> StopGuard:
        """From here this run of the task follows `job_id`: its stop goes through one guard (ownership.py)."""
        if self._stop_guard is None or self._stop_guard.job_id != job_id:
            prefix = task_stop_reason(context["ti"], self.dag_id, self.task_id)
            self._stop_guard = StopGuard(job_id, self.stop_policy, prefix, self.log)
        self.job_id = job_id
        return self._stop_guard

    def _exit(self, context: Context | None, path: ExitPath, why: str) -> None:
        """The task is ending on `path`: apply the stop policy to its job unless the guard holds it. Never raises."""
        guard = self._stop_guard
        if guard is None:
            return  # no job yet: nothing to stop
        context = context or self._context_or_none()
        ti = context["ti"] if context is not None else None
        # The worker that ran this task died without this process (airflow_batch_plus/orphans.py): a retry,
        # if one is to come, follows the job. Without a context the tries cannot be read: the policy applies.
        lost = self._supervisor is not None and ti is not None and self._supervisor.lost()
        retry_to_come = lost and ti is not None and int(ti.try_number) <= int(ti.max_tries)
        guard.apply(self._stop_job, path, why, supervisor_lost=lost, retry_to_come=retry_to_come)

    def _stop_job(self, job_id: str, policy: StopPolicy, reason: str) -> StopResult:
        """The stop call, with the hook made only when a stop is due (making it may look up a connection)."""
        return self.hook.stop_job(job_id, policy, reason)

    @staticmethod
    def _context_or_none() -> Context | None:
        try:
            from airflow.sdk import get_current_context

            return get_current_context()
        except Exception:
            return None


def _is_deferral(error: BaseException) -> bool:
    from airflow.sdk.exceptions import TaskDeferred

    return isinstance(error, TaskDeferred)
