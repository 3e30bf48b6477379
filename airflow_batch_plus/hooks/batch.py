"""BatchHook: every call this provider makes to the AWS Batch API.

Frugal by construction: DescribeJobs takes up to 100 ids a call, stops go out as bulk CancelJobs /
TerminateJobs of up to 50 ids, ListJobs pages are fetched only as they are read, and throttling, 5xx
answers, resets and timeouts of these idempotent calls are retried by botocore's own adaptive retry
mode rather than loops of ours. SubmitJob is the exception (see `submit_job`): retrying it blindly
after a lost answer would start a second, paid job. Triggers call these same methods through
`asyncio.to_thread`; there is no second, async copy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from airflow_batch_plus.hooks.base import BaseBatchPlusHook, chunked
from airflow_batch_plus.jobs import (
    DESCRIBE_BATCH_SIZE,
    DONE,
    LIVE_IN_ORDER,
    JobSnapshot,
    JobStatus,
    JobSummary,
    StopAction,
    StopOutcome,
    StopPolicy,
    decide_stop,
    outcome_without_call,
    trim_reason,
)
from airflow_batch_plus.listing import filter_values, list_jobs_request
from airflow_batch_plus.masking import mask_override_environment
from airflow_batch_plus.validation import validate_request, validate_submit_job

if TYPE_CHECKING:
    from mypy_boto3_batch.client import BatchClient

log = logging.getLogger(__name__)
STOP_BATCH_SIZE = 50
CONTENT_HASH_TAG = "airflow-batch-plus:content-hash"
# SubmitJob goes out once per attempt of ours, never retried inside botocore (see BatchHook.submit_job).
SINGLE_ATTEMPT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1})
SUBMISSION_TAG = "airflow-batch-plus:submission"
# Error codes that mean the request was refused before Batch acted on it: safe to send again.
THROTTLING_CODES = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "SlowDown",
        "LimitExceededException",
    }
)


@dataclass(frozen=True)
class SubmitRetry:
    """How SubmitJob is retried: `attempts` in all, waits drawn from [0, min(cap, base * 2**n)] (full jitter)."""

    attempts: int = 8
    base_seconds: float = 1.0
    cap_seconds: float = 20.0


class SubmitJobFailedError(RuntimeError):
    """SubmitJob kept failing; the message says whether any job was left behind (none is, when raised)."""


class JobNotFoundError(LookupError):
    """DescribeJobs did not return the job: a wrong id, or a job older than Batch keeps (about 7 days)."""


@dataclass(frozen=True)
class SubmittedJob:
    job_id: str
    job_name: str
    job_arn: str


@dataclass(frozen=True)
class DescribeResult:
    """What DescribeJobs said about the ids asked for: a snapshot for each found id, and the rest."""

    jobs: dict[str, JobSnapshot] = field(default_factory=dict)
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class StopResult:
    """What stopping did to one job. `status` is the status it was seen in before the call, if known."""

    job_id: str
    outcome: StopOutcome
    status: JobStatus | None = None
    error: str | None = None


def retry_outcome(error: BaseException) -> str | None:
    """What a failed AWS call says about AWS: "refused" (it did nothing, send again), "uncertain" (it may
    have acted: for SubmitJob, look before sending again), or None (sending again cannot help)."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in THROTTLING_CODES or status == 429:
            return "refused"
        return "uncertain" if status >= 500 else None
    if isinstance(error, HTTPClientError):
        return "uncertain"  # a read timeout or a reset: the request may have gone out, its answer did not come back
    if isinstance(error, ConnectionError):
        return "refused"  # no connection, so no request (connect timeout, refused, DNS)
    return None


def content_hash(spec: Mapping[str, Any]) -> str:
    """A stable hash of a job definition's content, whatever the order of its keys."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class BatchHook(BaseBatchPlusHook):
    """Talks to AWS Batch through the amazon provider's `aws` connection (credentials, role, region, endpoint).

    :param aws_conn_id: the Airflow connection; None uses boto3's default credential chain.
    :param region_name: overrides the connection's region.
    :param config: a botocore Config or its keyword arguments (else the connection's `config_kwargs`);
        adaptive retries are added unless it sets its own.
    :param submit_retry: how often and how patiently SubmitJob is tried.
    """

    default_client_type = "batch"

    def __init__(
        self,
        aws_conn_id: str | None = AwsBaseHook.default_conn_name,
        region_name: str | None = None,
        *,
        config: Config | Mapping[str, Any] | None = None,
        submit_retry: SubmitRetry = SubmitRetry(),
        **kwargs: Any,
    ) -> None:
        super().__init__(aws_conn_id=aws_conn_id, region_name=region_name, config=config, **kwargs)
        self.submit_retry = submit_retry

    @property
    def client(self) -> BatchClient:
        return self.conn  # type: ignore[no-any-return]

    @cached_property
    def submit_client(self) -> BatchClient:
        """A client that sends each SubmitJob once: botocore must not resend one whose answer was lost."""
        client: BatchClient = self.get_client_type(
            region_name=self.region_name, config=self.config.merge(SINGLE_ATTEMPT_CONFIG)
        )
        return client

    # Submit

    def submit_job(self, request: Mapping[str, Any]) -> SubmittedJob:
        """SubmitJob exactly once, after checking the whole request against Batch's service model.

        Batch has no idempotency token, and a SubmitJob whose answer is lost (a reset, a read timeout, a
        5xx) may have started the job. So botocore never resends it; each attempt carries the same
        random submission tag, and before sending again the job's name is looked up (ListJobs' JOB_NAME
        filter) for a job with that tag: found, it is the one this call submitted. Throttling answers
        mean Batch did nothing, and are simply waited out. Waits use full jitter.

        Environment values of the overrides are registered with Airflow's secrets masker before the
        call, so neither our logs nor botocore's can print them in a task log.
        """
        validate_submit_job(request)
        mask_override_environment(request)
        token = uuid.uuid4().hex
        tagged = {**request, "tags": {**dict(request.get("tags") or {}), SUBMISSION_TAG: token}}
        policy = self.submit_retry
        uncertain: list[BaseException] = []
        retrying = Retrying(
            stop=stop_after_attempt(policy.attempts),
            wait=wait_random_exponential(multiplier=policy.base_seconds, max=policy.cap_seconds),
            retry=retry_if_exception(lambda error: retry_outcome(error) is not None),
            before_sleep=lambda state: log.warning(
                "SubmitJob of %s failed (%s); trying again in %.1f s",
                request.get("jobName"),
                state.outcome.exception() if state.outcome else "?",
                state.upcoming_sleep,
            ),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    if uncertain and (found := self.find_submission(tagged, token)) is not None:
                        log.info("SubmitJob's lost answer had started job %s; not submitting again", found.job_id)
                        return found
                    try:
                        response = self.submit_client.submit_job(**tagged)
                    except Exception as error:
                        if retry_outcome(error) == "uncertain":
                            uncertain.append(error)
                        raise
        except Exception as error:
            if retry_outcome(error) is None:
                raise  # refused for a reason sending again cannot cure (bad request, no permission)
            found = self.find_submission(tagged, token) if uncertain else None
            if found is not None:
                return found
            raise SubmitJobFailedError(
                f"SubmitJob of {request.get('jobName')!r} failed {policy.attempts} times ({error}); no job "
                f"carries this submission's tag {SUBMISSION_TAG}={token}, so none was started"
            ) from error
        submitted = SubmittedJob(job_id=response["jobId"], job_name=response["jobName"], job_arn=response["jobArn"])
        if uncertain:  # an earlier attempt may still land after this one: keep one job of the two
            submitted = self.find_submission(tagged, token) or submitted
        log.info("Submitted Batch job %s (%s)", submitted.job_id, submitted.job_name)
        return submitted

    def find_submission(self, request: Mapping[str, Any], token: str) -> SubmittedJob | None:
        """The job `request` started if one carries submission tag `token` (an answer was lost), else None.

        If lost answers started two (a resend raced a slow first attempt), the newer ones are cancelled
        or terminated and the oldest is the one returned: one submission, one job.
        """
        mine = sorted(
            (
                job
                for job in self.jobs_named(request["jobQueue"], request["jobName"])
                if job.tags.get(SUBMISSION_TAG) == token
            ),
            key=lambda job: (job.created_at or 0, job.job_id),
        )
        if not mine:
            return None
        kept, extra = mine[0], mine[1:]
        if extra:
            self.stop_jobs(
                extra, StopPolicy.TERMINATE, f"A duplicate of Batch job {kept.job_id}: one submission, one job"
            )
        return SubmittedJob(job_id=kept.job_id, job_name=kept.job_name, job_arn=kept.job_arn or "")

    # Describe

    def describe_jobs(self, job_ids: Iterable[str]) -> DescribeResult:
        """Snapshots of `job_ids`, 100 ids a DescribeJobs call; ids Batch does not return are listed in `missing`."""
        wanted = list(dict.fromkeys(job_ids))
        found: dict[str, JobSnapshot] = {}
        for chunk in chunked(wanted, DESCRIBE_BATCH_SIZE):
            for item in self.client.describe_jobs(jobs=list(chunk))["jobs"]:
                snapshot = JobSnapshot.from_describe(item)
                found[snapshot.job_id] = snapshot
        missing = tuple(job_id for job_id in wanted if job_id not in found)
        return DescribeResult(jobs={job_id: found[job_id] for job_id in wanted if job_id in found}, missing=missing)

    def describe_job(self, job_id: str) -> JobSnapshot:
        result = self.describe_jobs([job_id])
        if job_id not in result.jobs:
            raise JobNotFoundError(f"Batch has no job {job_id!r} (a wrong id, or a job older than Batch keeps)")
        return result.jobs[job_id]

    # List

    def list_jobs(
        self,
        *,
        job_queue: str | None = None,
        array_job_id: str | None = None,
        multi_node_job_id: str | None = None,
        status: JobStatus | str | None = None,
        job_name: str | None = None,
        job_definition: str | None = None,
        created_before: datetime | int | None = None,
        created_after: datetime | int | None = None,
        page_size: int = 100,
    ) -> Iterator[JobSummary]:
        """Every job ListJobs returns, newest first, one page fetched at a time as the iterator is read.

        Exactly one of `job_queue`, `array_job_id`, `multi_node_job_id`. Then a `status` (Batch's
        default is RUNNING only) or at most one filter: `job_name` (case-insensitive; a trailing `*`
        matches a prefix), `job_definition`, `created_before` or `created_after` (datetimes or epoch
        ms). With a filter Batch returns every status and ignores `status`, so the two are refused together.
        """
        request = list_jobs_request(
            job_queue=job_queue,
            array_job_id=array_job_id,
            multi_node_job_id=multi_node_job_id,
            status=status,
            job_name=job_name,
            job_definition=job_definition,
            created_before=created_before,
            created_after=created_after,
        )
        paginator = self.client.get_paginator("list_jobs")
        for page in paginator.paginate(**request, PaginationConfig={"PageSize": page_size}):
            for item in page["jobSummaryList"]:
                yield JobSummary.from_list_item(item)

    def jobs_named(self, job_queue: str, job_name: str) -> list[JobSnapshot]:
        """Every job of `job_queue` named exactly `job_name`, any status, described (tags included)."""
        summaries = self.list_jobs(job_queue=job_queue, job_name=job_name)
        candidates = [summary.job_id for summary in summaries if summary.job_name == job_name]
        return list(self.describe_jobs(candidates).jobs.values()) if candidates else []

    def list_live_jobs(self, job_queue: str, **one_filter: Any) -> Iterator[JobSummary]:
        """Every job of `job_queue` that has not ended, optionally narrowed by one ListJobs filter.

        With a filter Batch returns every status in one listing, and ended jobs are skipped here;
        without one, Batch lists one status at a time, so each live status is listed in turn.
        """
        if any(value is not None for value in filter_values(one_filter).values()):
            for summary in self.list_jobs(job_queue=job_queue, **one_filter):
                if summary.status not in DONE:
                    yield summary
            return
        for status in LIVE_IN_ORDER:
            yield from self.list_jobs(job_queue=job_queue, status=status)

    def first_live_job(self, job_queue: str) -> JobSummary | None:
        """Any one job of `job_queue` that has not ended, or None when the queue is drained.

        Lists one live status at a time, one job a page, and stops at the first job found: at most
        five small ListJobs calls, however busy the queue is.
        """
        for status in LIVE_IN_ORDER:
            for summary in self.list_jobs(job_queue=job_queue, status=status, page_size=1):
                return summary
        return None

    # Queues

    def describe_job_queue(self, job_queue: str) -> dict[str, Any] | None:
        """The DescribeJobQueues item of `job_queue` (a name or ARN), or None if Batch has no such queue."""
        found = self.client.describe_job_queues(jobQueues=[job_queue])["jobQueues"]
        return dict(found[0]) if found else None

    # Stop

    def stop_jobs(
        self, jobs: Iterable[str | JobSnapshot], policy: StopPolicy | str, reason: str
    ) -> dict[str, StopResult]:
        """Apply `policy` to each job, in bulk CancelJobs / TerminateJobs calls of up to 50 ids.

        Ids are described first (100 a call) so the result says what happened to each job; pass
        snapshots to skip that. The reason is trimmed to Batch's 1,024 characters.
        """
        policy = StopPolicy.parse(policy)
        reason = trim_reason(reason)
        given = list(jobs)
        job_ids = list(dict.fromkeys(job if isinstance(job, str) else job.job_id for job in given))
        statuses: dict[str, JobStatus | None] = {
            job.job_id: job.status for job in given if isinstance(job, JobSnapshot)
        }
        missing: set[str] = set()
        to_describe = [job_id for job_id in job_ids if job_id not in statuses]
        if to_describe and policy is not StopPolicy.KEEP:
            try:
                described = self.describe_jobs(to_describe)
            except (ClientError, BotoCoreError) as error:  # stopping matters more than knowing the status
                log.warning("Could not describe %d job(s) before stopping them: %s", len(to_describe), error)
            else:
                statuses.update({job_id: snapshot.status for job_id, snapshot in described.jobs.items()})
                missing.update(described.missing)
        results: dict[str, StopResult] = {}
        to_send: dict[StopAction, list[str]] = {StopAction.CANCEL: [], StopAction.TERMINATE: []}
        for job_id in job_ids:
            status = statuses.get(job_id)
            action = decide_stop(policy, status)
            if job_id in missing:
                results[job_id] = StopResult(job_id, StopOutcome.NOT_FOUND)
            elif action is StopAction.NONE:
                results[job_id] = StopResult(job_id, outcome_without_call(policy, status), status)
            else:
                to_send[action].append(job_id)
        for action, ids in to_send.items():
            results.update(self._send_stop(action, ids, reason, statuses))
        return {job_id: results[job_id] for job_id in job_ids}

    def stop_job(self, job: str | JobSnapshot, policy: StopPolicy | str, reason: str) -> StopResult:
        job_id = job if isinstance(job, str) else job.job_id
        return self.stop_jobs([job], policy, reason)[job_id]

    def _send_stop(
        self, action: StopAction, job_ids: list[str], reason: str, statuses: Mapping[str, JobStatus | None]
    ) -> dict[str, StopResult]:
        call = self.client.cancel_jobs if action is StopAction.CANCEL else self.client.terminate_jobs
        requested = StopOutcome.CANCEL_REQUESTED if action is StopAction.CANCEL else StopOutcome.TERMINATE_REQUESTED
        results: dict[str, StopResult] = {}
        for chunk in chunked(job_ids, STOP_BATCH_SIZE):
            response = call(jobs=list(chunk), reason=reason)
            for job_id in response.get("successful", []):
                results[job_id] = StopResult(job_id, requested, statuses.get(job_id))
            for error in response.get("errors", []):
                job_id = error.get("job", "")
                message = f"{error.get('code', 'Error')}: {error.get('message', '')}".strip(": ")
                results[job_id] = StopResult(job_id, StopOutcome.FAILED, statuses.get(job_id), message)
            for job_id in chunk:
                results.setdefault(job_id, StopResult(job_id, requested, statuses.get(job_id)))
        if job_ids:
            log.info("%s %d Batch job(s): %s", action.value.capitalize(), len(job_ids), reason)
        return results

    # Job definitions

    def resolve_job_definition(self, reference: str) -> str:
        """The ARN of the exact revision `reference` names: an ARN, `name:revision`, or a bare name
        (its latest ACTIVE revision). Pinning a revision makes a retry run what the first try ran.
        """
        if ":" in reference:  # an ARN or name:revision names one revision
            found = self.client.describe_job_definitions(jobDefinitions=[reference])["jobDefinitions"]
        else:
            found = self._active_revisions(reference)
        if not found:
            raise LookupError(
                f"jobDefinition={reference!r}: no such job definition (or no ACTIVE revision) in this "
                "account and region; register it first, or check the name"
            )
        return str(max(found, key=lambda definition: definition["revision"])["jobDefinitionArn"])

    def ensure_job_definition(self, name: str, spec: Mapping[str, Any]) -> str:
        """The ARN of a revision of `name` with exactly `spec`, registering one only if none has it.

        The content hash is kept in a tag, so a DAG that declares its job definition inline registers
        a new revision when the declaration changes, not on every run.
        """
        request = {**spec, "jobDefinitionName": name}
        validate_request("RegisterJobDefinition", request)
        digest = content_hash({key: value for key, value in request.items() if key != "tags"})
        latest = max(self._active_revisions(name), key=lambda definition: definition["revision"], default=None)
        if latest is not None and (latest.get("tags") or {}).get(CONTENT_HASH_TAG) == digest:
            return str(latest["jobDefinitionArn"])
        tags = {**dict(spec.get("tags") or {}), CONTENT_HASH_TAG: digest}
        response = self.client.register_job_definition(**{**request, "tags": tags})
        log.info("Registered job definition %s revision %s", name, response["revision"])
        return response["jobDefinitionArn"]

    def _active_revisions(self, name: str) -> list[Any]:
        paginator = self.client.get_paginator("describe_job_definitions")
        pages = paginator.paginate(jobDefinitionName=name, status="ACTIVE")
        return [definition for page in pages for definition in page["jobDefinitions"]]
