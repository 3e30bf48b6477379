"""The reattach decision: a retry follows its earlier try's live job; a clear or a re-made run starts fresh."""

from __future__ import annotations

import pytest

from airflow_batch_plus.jobs import JobStatus
from airflow_batch_plus.ownership import MAX_TRIES_TAG, TRY_NUMBER_TAG
from airflow_batch_plus.reattach import (
    Decision,
    Submission,
    decide,
    is_exact_revision,
    job_definition_name,
    pinned_revision,
)

# Try 1 of a task with retries=2 submitted job "j" (max_tries starts at retries).
FIRST_TRY = Submission("j", try_number=1, max_tries=2)


@pytest.mark.parametrize(
    ("previous", "status", "try_number", "max_tries", "expected"),
    [
        pytest.param(None, None, 1, 2, Decision.SUBMIT, id="first-try"),
        pytest.param(FIRST_TRY, JobStatus.RUNNING, 2, 2, Decision.REATTACH, id="retry-job-running"),
        pytest.param(FIRST_TRY, JobStatus.RUNNABLE, 2, 2, Decision.REATTACH, id="retry-job-not-started"),
        pytest.param(FIRST_TRY, JobStatus.STARTING, 3, 2, Decision.REATTACH, id="second-retry-job-starting"),
        pytest.param(FIRST_TRY, JobStatus.SUCCEEDED, 2, 2, Decision.ALREADY_SUCCEEDED, id="retry-job-succeeded"),
        pytest.param(FIRST_TRY, JobStatus.FAILED, 2, 2, Decision.SUBMIT, id="retry-job-failed"),
        pytest.param(FIRST_TRY, None, 2, 2, Decision.SUBMIT, id="retry-job-gone-from-batch"),
        # A clear raises max_tries to try_number + retries (here 1 + 2).
        pytest.param(FIRST_TRY, JobStatus.RUNNING, 2, 3, Decision.SUBMIT, id="cleared-job-running"),
        pytest.param(FIRST_TRY, JobStatus.SUCCEEDED, 2, 3, Decision.SUBMIT, id="cleared-job-succeeded"),
        # The run was deleted and made again: try 1 once more, same max_tries.
        pytest.param(FIRST_TRY, JobStatus.SUCCEEDED, 1, 2, Decision.SUBMIT, id="run-made-anew"),
    ],
)
def test_decide(
    previous: Submission | None, status: JobStatus | None, try_number: int, max_tries: int, expected: Decision
) -> None:
    assert decide(previous, status, try_number, max_tries) is expected


def test_a_record_round_trips_and_anything_else_is_no_record() -> None:
    assert Submission.from_dict(FIRST_TRY.to_dict()) == FIRST_TRY
    for foreign in (None, "j", {"job_id": "j"}, {"job_id": "j", "try_number": "x", "max_tries": 1}):
        assert Submission.from_dict(foreign) is None


def test_a_record_is_read_back_from_job_tags() -> None:
    assert Submission.from_tags("j", {TRY_NUMBER_TAG: "1", MAX_TRIES_TAG: "2"}) == FIRST_TRY
    assert Submission.from_tags("j", {TRY_NUMBER_TAG: "1"}) is None


ARN_1 = "arn:aws:batch:us-east-1:123456789012:job-definition/etl:1"


def test_a_record_keeps_the_revision_its_job_ran_and_older_records_still_read() -> None:
    pinned = Submission("j", try_number=1, max_tries=2, job_definition=ARN_1)
    assert Submission.from_dict(pinned.to_dict()) == pinned
    assert Submission.from_dict({"job_id": "j", "try_number": 1, "max_tries": 2}) == FIRST_TRY  # before pinning


@pytest.mark.parametrize(
    ("reference", "name", "exact"),
    [
        ("etl", "etl", False),
        ("etl:3", "etl", True),
        (ARN_1, "etl", True),
        ("arn:aws-cn:batch:cn-north-1:123456789012:job-definition/my-etl_2:17", "my-etl_2", True),
    ],
)
def test_job_definition_names(reference: str, name: str, exact: bool) -> None:
    assert (job_definition_name(reference), is_exact_revision(reference)) == (name, exact)


@pytest.mark.parametrize(
    ("previous", "ran", "reference", "tries", "expected"),
    [
        pytest.param(None, None, "etl", (1, 2), None, id="first-try-resolves"),
        pytest.param(FIRST_TRY, ARN_1, "etl", (2, 2), ARN_1, id="retry-reuses-what-try-1-ran"),
        pytest.param(FIRST_TRY, ARN_1, "etl", (3, 2), ARN_1, id="second-retry-too"),
        pytest.param(FIRST_TRY, None, "etl", (2, 2), None, id="retry-nothing-known-resolves"),
        pytest.param(FIRST_TRY, ARN_1, "etl", (2, 3), None, id="cleared-resolves-afresh"),
        pytest.param(FIRST_TRY, ARN_1, "etl", (1, 2), None, id="run-made-anew-resolves-afresh"),
        pytest.param(FIRST_TRY, ARN_1, "etl:4", (2, 2), None, id="exact-reference-as-given"),
        pytest.param(FIRST_TRY, ARN_1, "other", (2, 2), None, id="task-now-names-another-definition"),
    ],
)
def test_pinned_revision(
    previous: Submission | None, ran: str | None, reference: str, tries: tuple[int, int], expected: str | None
) -> None:
    """`tries`: this try's (try_number, max_tries)."""
    assert pinned_revision(previous, ran, reference, *tries) == expected
