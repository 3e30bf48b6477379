"""Conformance: ECS-properties jobs (an ECS task of several containers) and EKS-properties jobs (a pod).

ECS: each container is a process with its own CloudWatch stream `<prefix>/<container>/<task id>`; the first
essential container to exit stops the others and decides the job. EKS: each pod container is a process whose
output goes to the pod's logs, never CloudWatch; the pod ends when every container has, and fails if one did.
Both obey overrides, TerminateJob, timeouts and retries like container jobs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import assert_conforms, log_messages, wait_for

from airflow_batch_plus.jobs import JobSnapshot
from airflow_batch_plus.local import LocalBatch

ECS_DEFINITION = "ecs-job"
EKS_DEFINITION = "eks-job"


@pytest.fixture
def batch(batch_client: Any) -> Any:
    return batch_client


def ecs_container(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "local", "command": ["sh", "-c", script], **extra}


def eks_container(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "local", "command": ["sh", "-c", script], **extra}


def register_ecs(batch: Any, *containers: dict[str, Any], **extra: Any) -> None:
    batch.register_job_definition(
        jobDefinitionName=ECS_DEFINITION,
        type="container",
        platformCapabilities=["FARGATE"],
        ecsProperties={"taskProperties": [{"containers": list(containers)}]},
        **extra,
    )


def register_eks(
    batch: Any, *containers: dict[str, Any], init: list[dict[str, Any]] | None = None, **extra: Any
) -> None:
    pod: dict[str, Any] = {"containers": list(containers)}
    if init:
        pod["initContainers"] = init
    batch.register_job_definition(
        jobDefinitionName=EKS_DEFINITION, type="container", eksProperties={"podProperties": pod}
    )


def submit_to(local_batch: LocalBatch, definition: str, **request: Any) -> str:
    assert local_batch.env is not None
    request.setdefault("jobName", "multi-container")
    return str(
        local_batch.client("batch").submit_job(
            jobQueue=local_batch.env.queue_name, jobDefinition=definition, **request
        )["jobId"]
    )


def ecs_containers(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (task,) = job["ecsProperties"]["taskProperties"]
    return {container["name"]: container for container in task["containers"]}


def ends(lines: list[str]) -> list[str]:
    return [lines[0], lines[-1]] if lines else []


def wait_until(condition: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# ----- ECS-properties jobs ----------------------------------------------------------------------------


def test_each_ecs_container_runs_and_writes_its_own_stream_named_as_aws_names_it(
    local_batch: LocalBatch, batch: Any
) -> None:
    register_ecs(
        batch,
        ecs_container("main", "echo main-1; sleep 0.3; echo main-2"),
        ecs_container(
            "sidecar",
            "echo side-1",
            essential=False,
            logConfiguration={
                "logDriver": "awslogs",
                "options": {"awslogs-group": "/custom/group", "awslogs-stream-prefix": "pre"},
            },
        ),
    )
    job = wait_for(batch, submit_to(local_batch, ECS_DEFINITION))
    assert (job["status"], job["statusReason"]) == ("SUCCEEDED", "Essential container in task exited")
    containers = ecs_containers(job)
    (task,) = job["ecsProperties"]["taskProperties"]
    task_id = task["taskArn"].rsplit("/", 1)[1]
    assert containers["main"]["logStreamName"] == f"{ECS_DEFINITION}/main/{task_id}"
    assert containers["sidecar"]["logStreamName"] == f"pre/sidecar/{task_id}"
    logs = local_batch.client("logs")
    assert log_messages(logs, containers["main"]["logStreamName"]) == ["main-1", "main-2"]
    assert log_messages(logs, containers["sidecar"]["logStreamName"], "/custom/group") == ["side-1"]
    (attempt,) = job["attempts"]
    assert attempt["taskProperties"][0]["containers"] == [
        {"name": "main", "exitCode": 0, "logStreamName": containers["main"]["logStreamName"]},
        {"name": "sidecar", "exitCode": 0, "logStreamName": containers["sidecar"]["logStreamName"]},
    ]
    assert "container" not in job  # a multi-container job has no single container
    assert_conforms("DescribeJobs", batch.describe_jobs(jobs=[job["jobId"]]))
    # What the provider reads from it: every container's stream, labelled by container, in its own group.
    streams = JobSnapshot.from_describe(job).log_streams
    assert [(stream.group, stream.name, stream.label) for stream in streams] == [
        ("/aws/batch/job", containers["main"]["logStreamName"], "main"),
        ("/custom/group", containers["sidecar"]["logStreamName"], "sidecar"),
    ]


def test_ecs_job_definitions_are_registered_and_described_with_their_ecs_properties(
    local_batch: LocalBatch, batch: Any
) -> None:
    register_ecs(batch, ecs_container("main", "true"))
    (definition,) = batch.describe_job_definitions(jobDefinitionName=ECS_DEFINITION)["jobDefinitions"]
    assert definition["ecsProperties"]["taskProperties"][0]["containers"][0]["name"] == "main"
    assert "containerProperties" not in definition
    assert_conforms("DescribeJobDefinitions", batch.describe_job_definitions(jobDefinitions=[f"{ECS_DEFINITION}:1"]))


@pytest.mark.parametrize(
    ("containers", "message"),
    [
        ([ecs_container("a", "true", essential=False)], "at least one container must be essential"),
        ([ecs_container("a", "true"), ecs_container("a", "true")], "container names must be unique"),
    ],
)
def test_an_ecs_definition_that_cannot_run_is_refused_at_registration(
    local_batch: LocalBatch, batch: Any, containers: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(ClientError, match=message):
        register_ecs(batch, *containers)


def test_ecs_overrides_apply_by_container_name_and_the_host_environment_is_not_inherited(
    local_batch: LocalBatch, batch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOST_ONLY_SECRET", "leaked")
    script = 'echo "$NAME $SHARED ${HOST_ONLY_SECRET:-none} $AWS_BATCH_JOB_ID $AWS_BATCH_JOB_ATTEMPT"'
    register_ecs(
        batch,
        ecs_container("main", script, environment=[{"name": "NAME", "value": "main"}]),
        ecs_container("helper", "echo never", essential=False),
    )
    job_id = submit_to(
        local_batch,
        ECS_DEFINITION,
        ecsPropertiesOverride={
            "taskProperties": [
                {
                    "containers": [
                        {"name": "main", "environment": [{"name": "SHARED", "value": "overridden"}]},
                        {"name": "helper", "command": ["sh", "-c", "echo helper-overridden"]},
                    ]
                }
            ]
        },
    )
    job = wait_for(batch, job_id)
    containers = ecs_containers(job)
    logs = local_batch.client("logs")
    assert log_messages(logs, containers["main"]["logStreamName"]) == [f"main overridden none {job_id} 1"]
    assert log_messages(logs, containers["helper"]["logStreamName"]) == ["helper-overridden"]
    assert containers["helper"]["command"] == ["sh", "-c", "echo helper-overridden"]


def test_an_ecs_override_naming_no_container_of_the_task_is_refused(local_batch: LocalBatch, batch: Any) -> None:
    register_ecs(batch, ecs_container("main", "true"))
    override = {"taskProperties": [{"containers": [{"name": "nope", "command": ["true"]}]}]}
    with pytest.raises(ClientError, match="no container named 'nope'"):
        submit_to(local_batch, ECS_DEFINITION, ecsPropertiesOverride=override)


def test_an_essential_container_exit_stops_the_others_and_decides_the_job(local_batch: LocalBatch, batch: Any) -> None:
    register_ecs(
        batch,
        ecs_container("main", "sleep 0.2; exit 3"),
        ecs_container(
            "sidecar", "trap 'echo sidecar-stopped; exit 0' TERM; while true; do sleep 0.05; done", essential=False
        ),
    )
    job = wait_for(batch, submit_to(local_batch, ECS_DEFINITION))
    assert (job["status"], job["statusReason"]) == ("FAILED", "Essential container in task exited")
    containers = ecs_containers(job)
    assert containers["main"]["exitCode"] == 3
    assert containers["sidecar"]["exitCode"] == 0  # stopped with SIGTERM, which it handled
    assert log_messages(local_batch.client("logs"), containers["sidecar"]["logStreamName"])[-1] == "sidecar-stopped"
    assert local_batch.engine.processes() == []


def test_a_container_that_ignores_sigterm_is_killed_after_the_grace_period(local_batch: LocalBatch, batch: Any) -> None:
    register_ecs(
        batch,
        ecs_container("main", "sleep 0.2"),
        ecs_container("stubborn", "trap '' TERM; while :; do sleep 0.05; done", essential=False),
    )
    started = time.monotonic()
    job = wait_for(batch, submit_to(local_batch, ECS_DEFINITION))
    assert job["status"] == "SUCCEEDED"
    assert ecs_containers(job)["stubborn"]["exitCode"] == 137  # SIGKILL, terminate_grace_seconds (1 s) after SIGTERM
    assert time.monotonic() - started >= 1.0
    assert local_batch.engine.processes() == []


def test_a_failed_non_essential_container_does_not_fail_the_job(local_batch: LocalBatch, batch: Any) -> None:
    register_ecs(
        batch,
        ecs_container("main", "sleep 0.3; exit 0"),
        ecs_container("flaky", "exit 7", essential=False),
    )
    job = wait_for(batch, submit_to(local_batch, ECS_DEFINITION))
    assert job["status"] == "SUCCEEDED"
    assert {name: container["exitCode"] for name, container in ecs_containers(job).items()} == {"main": 0, "flaky": 7}


def test_terminate_stops_every_container_of_the_task(local_batch: LocalBatch, batch: Any) -> None:
    forever = "trap 'echo {0}-got-term; exit 0' TERM; echo {0}-up; while true; do sleep 0.05; done"
    register_ecs(batch, ecs_container("main", forever.format("main")), ecs_container("side", forever.format("side")))
    job_id = submit_to(local_batch, ECS_DEFINITION)
    wait_for(batch, job_id, "RUNNING")
    wait_until(lambda: len(local_batch.engine.processes()) == 2)
    logs = local_batch.client("logs")
    streams = {name: c["logStreamName"] for name, c in ecs_containers(wait_for(batch, job_id, "RUNNING")).items()}
    wait_until(lambda: all(log_messages(logs, stream) for stream in streams.values()))
    batch.terminate_job(jobId=job_id, reason="stop the task")
    job = wait_for(batch, job_id)
    assert (job["status"], job["statusReason"], job["isTerminated"]) == ("FAILED", "stop the task", True)
    for name, stream in streams.items():  # (sh may print "Terminated" for its sleep in between)
        assert ends(log_messages(logs, stream)) == [f"{name}-up", f"{name}-got-term"]
    assert local_batch.engine.processes() == []


def test_an_attempt_timeout_stops_every_container(local_batch: LocalBatch, batch: Any) -> None:
    register_ecs(batch, ecs_container("main", "sleep 30"), ecs_container("side", "sleep 30", essential=False))
    job = wait_for(batch, submit_to(local_batch, ECS_DEFINITION, timeout={"attemptDurationSeconds": 60}))
    assert (job["status"], job["statusReason"]) == ("FAILED", "Job attempt duration exceeded timeout")
    assert {container["exitCode"] for container in ecs_containers(job).values()} == {143}
    assert local_batch.engine.processes() == []


def test_each_retry_runs_a_new_task_whose_streams_the_provider_labels_by_attempt(
    local_batch: LocalBatch, batch: Any
) -> None:
    script = 'echo {0}-try-$AWS_BATCH_JOB_ATTEMPT; [ "$AWS_BATCH_JOB_ATTEMPT" = 2 ]'
    register_ecs(
        batch, ecs_container("main", script.format("main")), ecs_container("side", "echo side", essential=False)
    )
    job = wait_for(batch, submit_to(local_batch, ECS_DEFINITION, retryStrategy={"attempts": 2}))
    assert job["status"] == "SUCCEEDED"
    first, second = job["attempts"]
    assert first["taskProperties"][0]["taskArn"] != second["taskProperties"][0]["taskArn"]
    assert [c["exitCode"] for c in first["taskProperties"][0]["containers"]] == [1, 0]
    logs = local_batch.client("logs")
    labelled = {stream.label: stream for stream in JobSnapshot.from_describe(job).log_streams}
    assert sorted(labelled) == ["attempt 1 main", "attempt 1 side", "attempt 2 main", "attempt 2 side"]
    assert log_messages(logs, labelled["attempt 1 main"].name) == ["main-try-1"]
    assert log_messages(logs, labelled["attempt 2 main"].name) == ["main-try-2"]


def test_an_ecs_container_that_cannot_start_fails_the_attempt_and_stops_the_others(
    local_batch: LocalBatch, batch: Any
) -> None:
    register_ecs(
        batch,
        ecs_container("side", "sleep 30", essential=False),
        {"name": "main", "image": "x", "command": ["/no/such"]},
    )
    job = wait_for(batch, submit_to(local_batch, ECS_DEFINITION))
    assert (job["status"], job["statusReason"]) == ("FAILED", "Task failed to start")
    assert ecs_containers(job)["main"]["reason"].startswith("CannotStartContainerError")
    assert local_batch.engine.processes() == []


def test_an_ecs_array_job_runs_a_task_per_child(local_batch: LocalBatch, batch: Any) -> None:
    register_ecs(batch, ecs_container("main", "echo child-$AWS_BATCH_JOB_ARRAY_INDEX"))
    parent = submit_to(local_batch, ECS_DEFINITION, arrayProperties={"size": 2})
    assert wait_for(batch, parent)["status"] == "SUCCEEDED"
    logs = local_batch.client("logs")
    for index in range(2):
        child = wait_for(batch, f"{parent}:{index}")
        assert log_messages(logs, ecs_containers(child)["main"]["logStreamName"]) == [f"child-{index}"]


# ----- EKS-properties jobs ----------------------------------------------------------------------------


def _log_stream_count(local_batch: LocalBatch) -> int:
    logs = local_batch.client("logs")
    groups = logs.describe_log_groups()["logGroups"]
    return sum(len(logs.describe_log_streams(logGroupName=group["logGroupName"])["logStreams"]) for group in groups)


def test_an_eks_job_runs_its_pod_containers_whose_output_is_in_the_pod_log_not_cloudwatch(
    local_batch: LocalBatch, batch: Any
) -> None:
    register_eks(
        batch,
        eks_container("app", "echo app-$AWS_BATCH_JOB_ATTEMPT; sleep 0.2"),
        eks_container("helper", "echo helper"),
    )
    streams_before = _log_stream_count(local_batch)
    job = wait_for(batch, submit_to(local_batch, EKS_DEFINITION))
    assert job["status"] == "SUCCEEDED"
    pod = job["eksProperties"]["podProperties"]
    assert pod["podName"].startswith("aws-batch.")
    assert pod["nodeName"]
    assert {c["name"]: c["exitCode"] for c in pod["containers"]} == {"app": 0, "helper": 0}
    (attempt,) = job["eksAttempts"]
    assert (attempt["podName"], attempt["podNamespace"], attempt["nodeName"]) == (
        pod["podName"],
        "default",
        pod["nodeName"],
    )
    assert [c["name"] for c in attempt["containers"]] == ["app", "helper"]
    assert job["attempts"] == []
    assert_conforms("DescribeJobs", batch.describe_jobs(jobs=[job["jobId"]]))
    assert local_batch.engine.pod_log(pod["podName"], "app") == ["app-1"]
    assert local_batch.engine.pod_log(pod["podName"], "helper") == ["helper"]
    assert _log_stream_count(local_batch) == streams_before  # nothing went to CloudWatch
    snapshot = JobSnapshot.from_describe(job)
    assert JobSnapshot.from_dict(snapshot.to_dict()) == snapshot  # what XCom and trigger events carry
    assert (snapshot.is_eks, snapshot.pod_name, snapshot.pod_namespace, snapshot.log_streams) == (
        True,
        pod["podName"],
        "default",
        (),
    )


def test_eks_overrides_command_args_env_and_namespace_and_expand_kubernetes_variables(
    local_batch: LocalBatch, batch: Any, tmp_path: Path
) -> None:
    register_eks(batch, eks_container("app", "echo from-definition", env=[{"name": "KEPT", "value": "kept"}]))
    out = tmp_path / "out"
    job = wait_for(
        batch,
        submit_to(
            local_batch,
            EKS_DEFINITION,
            eksPropertiesOverride={
                "podProperties": {
                    "containers": [
                        {
                            "name": "app",
                            "command": ["sh", "-c"],
                            "args": [f'echo "$(GREETING) $KEPT $$(GREETING) ${{HOME:+home}}" > {out}'],
                            "env": [{"name": "GREETING", "value": "hello"}],
                        }
                    ],
                    "metadata": {"namespace": "batch-jobs", "labels": {"team": "data"}},
                }
            },
        ),
    )
    assert job["status"] == "SUCCEEDED"
    # $(GREETING) expanded by Kubernetes; $$(GREETING) passed as $(GREETING), which sh runs and fails on.
    assert out.read_text().startswith("hello kept ")
    pod = job["eksProperties"]["podProperties"]
    assert pod["metadata"] == {"namespace": "batch-jobs", "labels": {"team": "data"}}
    assert job["eksAttempts"][0]["podNamespace"] == "batch-jobs"


def test_a_pod_waits_for_every_container_and_fails_if_one_failed(local_batch: LocalBatch, batch: Any) -> None:
    register_eks(batch, eks_container("quick-fail", "exit 4"), eks_container("slow", "sleep 0.4; echo slow-done"))
    job = wait_for(batch, submit_to(local_batch, EKS_DEFINITION))
    assert job["status"] == "FAILED"
    pod = job["eksProperties"]["podProperties"]
    assert {c["name"]: c["exitCode"] for c in pod["containers"]} == {"quick-fail": 4, "slow": 0}
    assert local_batch.engine.pod_log(pod["podName"], "slow") == ["slow-done"]  # not stopped by the failure


def test_init_containers_run_first_one_after_the_other(local_batch: LocalBatch, batch: Any, tmp_path: Path) -> None:
    trail = tmp_path / "trail"
    register_eks(
        batch,
        eks_container("app", f"echo app >> {trail}"),
        init=[
            eks_container("init-1", f"sleep 0.2; echo init-1 >> {trail}"),
            eks_container("init-2", f"echo init-2 >> {trail}"),
        ],
    )
    job = wait_for(batch, submit_to(local_batch, EKS_DEFINITION))
    assert job["status"] == "SUCCEEDED"
    assert trail.read_text().split() == ["init-1", "init-2", "app"]
    assert [c["name"] for c in job["eksAttempts"][0]["initContainers"]] == ["init-1", "init-2"]


def test_a_failed_init_container_fails_the_pod_before_its_containers_start(
    local_batch: LocalBatch, batch: Any, tmp_path: Path
) -> None:
    trail = tmp_path / "trail"
    register_eks(batch, eks_container("app", f"echo app >> {trail}"), init=[eks_container("init", "exit 2")])
    job = wait_for(batch, submit_to(local_batch, EKS_DEFINITION))
    assert job["status"] == "FAILED"
    assert job["eksAttempts"][0]["initContainers"][0]["exitCode"] == 2
    assert not trail.exists()


def test_terminate_stops_every_pod_container(local_batch: LocalBatch, batch: Any) -> None:
    forever = "trap 'echo {0}-got-term; exit 0' TERM; echo {0}-up; while true; do sleep 0.05; done"
    register_eks(batch, eks_container("a", forever.format("a")), eks_container("b", forever.format("b")))
    job_id = submit_to(local_batch, EKS_DEFINITION)
    pod_name = wait_for(batch, job_id, "RUNNING")["eksProperties"]["podProperties"]["podName"]
    engine = local_batch.engine
    wait_until(lambda: engine.pod_log(pod_name, "a") and engine.pod_log(pod_name, "b"))
    batch.terminate_job(jobId=job_id, reason="stop the pod")
    job = wait_for(batch, job_id)
    assert (job["status"], job["statusReason"]) == ("FAILED", "stop the pod")
    assert ends(engine.pod_log(pod_name, "a")) == ["a-up", "a-got-term"]
    assert ends(engine.pod_log(pod_name, "b")) == ["b-up", "b-got-term"]
    assert engine.processes() == []


def test_an_eks_timeout_stops_the_pod_and_a_retry_runs_a_new_pod(local_batch: LocalBatch, batch: Any) -> None:
    register_eks(batch, eks_container("app", '[ "$AWS_BATCH_JOB_ATTEMPT" = 2 ] || exit 1'))
    job = wait_for(batch, submit_to(local_batch, EKS_DEFINITION, retryStrategy={"attempts": 2}))
    assert job["status"] == "SUCCEEDED"
    first, second = job["eksAttempts"]
    assert first["podName"] != second["podName"]
    assert [first["containers"][0]["exitCode"], second["containers"][0]["exitCode"]] == [1, 0]
    assert job["eksProperties"]["podProperties"]["podName"] == second["podName"]

    register_eks(batch, eks_container("app", "sleep 30"))
    job = wait_for(batch, submit_to(local_batch, EKS_DEFINITION, timeout={"attemptDurationSeconds": 60}))
    assert (job["status"], job["statusReason"]) == ("FAILED", "Job attempt duration exceeded timeout")
    assert local_batch.engine.processes() == []


def test_cancel_of_a_waiting_eks_job_fails_it_without_a_pod(local_batch: LocalBatch, batch: Any) -> None:
    register_eks(batch, eks_container("app", "true"))
    job_id = submit_to(local_batch, EKS_DEFINITION, dependsOn=[{"jobId": submit_to(local_batch, EKS_DEFINITION)}])
    batch.cancel_job(jobId=job_id, reason="not needed")
    job = wait_for(batch, job_id)
    assert (job["status"], job["eksAttempts"]) == ("FAILED", [])
    assert "podName" not in job["eksProperties"]["podProperties"]


# ----- both kinds: retry rules, capacity, arrays ------------------------------------------------------


def test_evaluate_on_exit_reads_the_essential_containers_exit_code(local_batch: LocalBatch, batch: Any) -> None:
    register_ecs(batch, ecs_container("main", "exit 3"), ecs_container("side", "exit 4", essential=False))
    strategy = {"attempts": 3, "evaluateOnExit": [{"onExitCode": "3", "action": "EXIT"}]}
    job = wait_for(batch, submit_to(local_batch, ECS_DEFINITION, retryStrategy=strategy))
    assert (job["status"], len(job["attempts"])) == ("FAILED", 1)
    register_eks(batch, eks_container("app", "exit 5"))
    strategy = {"attempts": 2, "evaluateOnExit": [{"onExitCode": "5", "action": "RETRY"}]}
    job = wait_for(batch, submit_to(local_batch, EKS_DEFINITION, retryStrategy=strategy))
    assert (job["status"], len(job["eksAttempts"])) == ("FAILED", 2)


def test_a_task_or_pod_bigger_than_every_compute_environment_stays_runnable(
    local_batch: LocalBatch, batch: Any
) -> None:
    # The bootstrapped compute environment has 256 vCPUs: 200 + 100 (ECS) and 300 (EKS) do not fit.
    vcpus = [{"type": "VCPU", "value": "200"}]
    register_ecs(
        batch,
        ecs_container("main", "true", resourceRequirements=vcpus),
        ecs_container("side", "true", resourceRequirements=[{"type": "VCPU", "value": "100"}]),
    )
    register_eks(batch, eks_container("app", "true", resources={"limits": {"cpu": "300"}}))
    ecs_job = submit_to(local_batch, ECS_DEFINITION)
    eks_job = submit_to(local_batch, EKS_DEFINITION)
    for job_id in (ecs_job, eks_job):
        wait_for(batch, job_id, "RUNNABLE")
    time.sleep(0.3)
    assert {job["status"] for job in batch.describe_jobs(jobs=[ecs_job, eks_job])["jobs"]} == {"RUNNABLE"}
    register_ecs(batch, ecs_container("main", "true", resourceRequirements=vcpus))  # 200 fits
    assert wait_for(batch, submit_to(local_batch, ECS_DEFINITION))["status"] == "SUCCEEDED"
    batch.terminate_job(jobId=ecs_job, reason="cleanup")
    batch.terminate_job(jobId=eks_job, reason="cleanup")


def test_an_eks_array_job_runs_a_pod_per_child(local_batch: LocalBatch, batch: Any) -> None:
    register_eks(batch, eks_container("app", "echo child-$AWS_BATCH_JOB_ARRAY_INDEX"))
    parent = submit_to(local_batch, EKS_DEFINITION, arrayProperties={"size": 2})
    assert wait_for(batch, parent)["status"] == "SUCCEEDED"
    for index in range(2):
        pod = wait_for(batch, f"{parent}:{index}")["eksProperties"]["podProperties"]["podName"]
        assert local_batch.engine.pod_log(pod, "app") == [f"child-{index}"]


def test_a_new_revision_of_another_kind_keeps_only_its_own_properties(local_batch: LocalBatch, batch: Any) -> None:
    """moto copies the previous revision's containerProperties or eksProperties into a revision that has none."""
    assert local_batch.env is not None
    name = local_batch.env.job_definition_name  # revision 1: containerProperties
    batch.register_job_definition(
        jobDefinitionName=name,
        type="container",
        eksProperties={"podProperties": {"containers": [eks_container("app", "echo pod")]}},
    )
    batch.register_job_definition(
        jobDefinitionName=name,
        type="container",
        ecsProperties={"taskProperties": [{"containers": [ecs_container("main", "true")]}]},
    )
    described = batch.describe_job_definitions(jobDefinitionName=name)["jobDefinitions"]
    kinds = {
        item["revision"]: sorted(
            key for key in item if key in ("containerProperties", "eksProperties", "ecsProperties")
        )
        for item in described
    }
    assert kinds == {1: ["containerProperties"], 2: ["eksProperties"], 3: ["ecsProperties"]}
    job = wait_for(batch, submit_to(local_batch, f"{name}:2"))
    assert (job["status"], "container" in job, "ecsProperties" in job) == ("SUCCEEDED", False, False)
    assert local_batch.engine.pod_log(job["eksProperties"]["podProperties"]["podName"], "app") == ["pod"]
