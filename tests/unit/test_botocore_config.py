"""`botocore_config`: every task of ours takes botocore's Config arguments as the amazon provider's
operators do, refuses a bad one naming the field, and its clients (the trigger's shared poller's too)
use it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_batch_plus.hooks.base import as_botocore_config
from airflow_batch_plus.hooks.batch import BatchHook
from airflow_batch_plus.local import LocalBatch
from airflow_batch_plus.operators.batch import BatchSubmitJobOperator
from airflow_batch_plus.operators.stop import BatchStopJobsOperator
from airflow_batch_plus.sensors.batch import BatchJobQueueSensor, BatchJobSensor
from airflow_batch_plus.triggers.batch import BatchJobTrigger
from airflow_batch_plus.triggers.poller import JobPoller

CONFIG = {"read_timeout": 17, "connect_timeout": 3, "retries": {"mode": "standard", "max_attempts": 2}}


def client_config(hook: Any) -> Any:
    return hook.client.meta.config


@pytest.mark.parametrize(
    "make",
    [
        lambda config: BatchJobSensor(task_id="s", job_id="j", botocore_config=config),
        lambda config: BatchJobQueueSensor(task_id="q", job_queue="queue", botocore_config=config),
        lambda config: BatchStopJobsOperator(task_id="k", job_ids=["j"], botocore_config=config),
        lambda config: BatchSubmitJobOperator(task_id="b", job_queue="q", job_definition="d", botocore_config=config),
    ],
    ids=["job-sensor", "queue-sensor", "kill-switch", "submit-operator"],
)
def test_a_config_that_is_not_a_dict_is_refused_at_dag_parse(make: Any) -> None:
    with pytest.raises(ValueError, match=r"botocore_config='read_timeout=5': give a dict of botocore.config.Config"):
        make("read_timeout=5")


def test_an_unknown_argument_is_refused_naming_the_field_before_any_call() -> None:
    with pytest.raises(ValueError, match=r"botocore_config=\{'read_timeot': 5\} is not a botocore config: "):
        as_botocore_config({"read_timeot": 5})
    with pytest.raises(
        ValueError, match=r'botocore_config=.* is not a botocore config: Invalid value provided to "mode"'
    ):
        BatchHook(aws_conn_id=None, region_name="us-east-1", config={"retries": {"mode": "fast"}})


def test_the_hooks_of_the_sensors_and_the_kill_switch_use_it(local_batch: LocalBatch) -> None:
    sensor = BatchJobSensor(task_id="s", job_id="j", aws_conn_id=None, region_name="us-east-1", botocore_config=CONFIG)
    queue_sensor = BatchJobQueueSensor(
        task_id="q", job_queue="queue", aws_conn_id=None, region_name="us-east-1", botocore_config=CONFIG
    )
    kill_switch = BatchStopJobsOperator(
        task_id="k", job_ids=["j"], aws_conn_id=None, region_name="us-east-1", botocore_config=CONFIG
    )
    for hook in (sensor.hook, queue_sensor.hook, kill_switch.hook):
        config = client_config(hook)
        # botocore counts the first attempt too: two retries are three attempts
        assert (config.read_timeout, config.connect_timeout, config.retries["total_max_attempts"]) == (17, 3, 3)


def test_a_sensors_trigger_carries_it_and_triggers_share_a_poller_only_with_the_same_config(
    local_batch: LocalBatch,
) -> None:
    def trigger(config: dict[str, Any] | None) -> BatchJobTrigger:
        return BatchJobTrigger("j", aws_conn_id=None, region_name="us-east-1", botocore_config=config)

    async def pollers() -> tuple[JobPoller, JobPoller, JobPoller]:
        return trigger(CONFIG).poller, trigger(dict(CONFIG)).poller, trigger(None).poller

    configured, same, default = asyncio.run(pollers())
    assert configured is same and configured is not default
    config = client_config(configured.batch_hook)
    assert (config.read_timeout, config.retries["total_max_attempts"]) == (17, 3)
    assert client_config(configured.logs_hook).read_timeout == 17
    assert client_config(default.batch_hook).retries == {"mode": "adaptive", "total_max_attempts": 11}


def test_the_run_callback_reaches_each_tasks_jobs_with_that_tasks_config(
    local_batch: LocalBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two tasks, one with a botocore config: the callback stops both jobs, each through a hook made with its
    own task's config (the queue listing finds them here: outside a task runner no XCom can be read)."""
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from airflow.sdk import DAG

    from airflow_batch_plus.callbacks import stop_batch_jobs
    from airflow_batch_plus.hooks import batch as batch_hooks
    from airflow_batch_plus.ownership import job_tags
    from airflow_batch_plus.testing.status import wait_for_status

    assert local_batch.env is not None
    queue, definition = local_batch.env.queue_name, local_batch.env.job_definition_name
    run_id = "manual__callback_config"
    with DAG("callback_config", schedule=None) as dag:
        for task_id, config in (("tuned", CONFIG), ("plain", None)):
            BatchSubmitJobOperator(
                task_id=task_id, job_queue=queue, job_definition=definition, aws_conn_id=None,
                region_name="us-east-1", botocore_config=config,
            )  # fmt: skip
    client = local_batch.client("batch")
    job_ids = {}
    for task_id in ("tuned", "plain"):
        ti = SimpleNamespace(
            dag_id="callback_config", task_id=task_id, run_id=run_id, map_index=-1, try_number=1, max_tries=0
        )
        request = {"jobName": task_id, "jobQueue": queue, "jobDefinition": definition, "tags": job_tags(ti)}
        request["containerOverrides"] = {"command": ["sleep", "60"]}
        job_ids[task_id] = client.submit_job(**request)["jobId"]
    configs: list[Any] = []
    made = batch_hooks.BatchHook.__init__

    def recording(self: Any, *args: Any, **kwargs: Any) -> None:
        configs.append(kwargs.get("config"))
        made(self, *args, **kwargs)

    monkeypatch.setattr(batch_hooks.BatchHook, "__init__", recording)
    dag_run = SimpleNamespace(dag_id="callback_config", run_id=run_id, start_date=datetime.now(UTC))
    outcomes = stop_batch_jobs({"dag_run": dag_run, "dag": dag, "reason": "test"})
    assert set(outcomes) == set(job_ids.values())
    assert sorted(configs, key=str) == sorted([CONFIG, None], key=str)
    for job_id in job_ids.values():
        assert wait_for_status(client, job_id, {"FAILED"}, 10)["status"] == "FAILED"


def test_the_submit_operators_hooks_and_trigger_use_it(local_batch: LocalBatch) -> None:
    from types import SimpleNamespace

    operator = BatchSubmitJobOperator(
        task_id="b", job_queue="q", job_definition="d", aws_conn_id=None, region_name="us-east-1",
        botocore_config=CONFIG,
    )  # fmt: skip
    assert client_config(operator.hook).read_timeout == 17
    assert client_config(operator.logs_hook).read_timeout == 17
    operator.job_id = "job-1"
    ti = SimpleNamespace(dag_id="d", task_id="b", run_id="r", map_index=-1, try_number=1, max_tries=0)
    assert operator._trigger({"ti": ti}).serialize()[1]["botocore_config"] == CONFIG  # type: ignore[typeddict-item]
