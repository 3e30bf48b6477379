"""DAGs the integration tests run with `dag.test()` against the local AWS Batch.

Each run says what its job does through `dag_run.conf` (`script`, and optionally `token`, `vcpus`),
rendered into the overrides the way DAG authors template them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_batch_plus.callbacks import stop_batch_jobs
from airflow_batch_plus.operators.batch import BatchSubmitJobOperator
from airflow_batch_plus.operators.stop import BatchStopJobsOperator

OVERRIDES = {
    "command": ["sh", "-c", "{{ dag_run.conf['script'] }}"],
    "environment": [{"name": "SECRET_TOKEN", "value": "{{ dag_run.conf.get('token', 'no-token-given') }}"}],
    "resourceRequirements": [{"type": "VCPU", "value": "{{ dag_run.conf.get('vcpus', '1') }}"}],
}


def submit_dag(dag_id: str, **operator_kwargs: Any) -> DAG:
    with DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["test"]) as dag:
        BatchSubmitJobOperator(
            task_id="job",
            job_queue="local-queue",
            job_definition="local-job",
            container_overrides=OVERRIDES,
            region_name="us-east-1",
            poll_interval=0.2,
            **{"aws_conn_id": None, **operator_kwargs},
        )
    return dag


deferred = submit_dag("batch_deferred", deferrable=True)
in_worker = submit_dag("batch_in_worker", deferrable=False)
in_worker_with_retry = submit_dag("batch_in_worker_retry", deferrable=False, retries=1, retry_delay=timedelta(0))
deferred_timeout = submit_dag("batch_deferred_timeout", deferrable=True, execution_timeout=timedelta(seconds=4))
in_worker_timeout = submit_dag("batch_in_worker_timeout", deferrable=False, execution_timeout=timedelta(seconds=4))
deferred_stuck = submit_dag("batch_deferred_stuck", deferrable=True, max_runnable_time=timedelta(seconds=2))
# Through the fault proxy: the test defines connection `aws_through_faults` (its endpoint is the proxy).
deferred_faults = submit_dag("batch_deferred_faults", deferrable=True, aws_conn_id="aws_through_faults")
in_worker_faults = submit_dag("batch_in_worker_faults", deferrable=False, aws_conn_id="aws_through_faults")
deferred_retry = submit_dag("batch_deferred_retry", deferrable=True, retries=1, retry_delay=timedelta(0))


def _say_success(context: Any) -> None:
    print("on_success_callback ran for", context["ti"].task_id)  # the test reads it in the task log


deferred_success_callback = submit_dag(
    "batch_deferred_success_callback", deferrable=True, on_success_callback=_say_success
)
deferred_array = submit_dag("batch_deferred_array", deferrable=True, array_properties={"size": 3}, tolerated_failures=1)


def kill_switch_dag(dag_id: str, **operator_kwargs: Any) -> DAG:
    with DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["test"]) as dag:
        BatchStopJobsOperator(
            task_id="stop",
            job_queue="local-queue",
            job_name="{{ dag_run.conf['job_name'] }}",
            aws_conn_id=None,
            region_name="us-east-1",
            **operator_kwargs,
        )
    return dag


kill_switch_cancel = kill_switch_dag("batch_kill_switch_cancel", stop_policy="cancel")
kill_switch_terminate = kill_switch_dag("batch_kill_switch_terminate", stop_policy="terminate")
kill_switch_dry_run = kill_switch_dag("batch_kill_switch_dry_run", stop_policy="terminate", dry_run=True)

# The task keeps its job when it times out; the failed run's callback stops it.
with DAG(
    "batch_run_failure_callback",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["test"],
    on_failure_callback=stop_batch_jobs,
) as run_failure_callback:
    BatchSubmitJobOperator(
        task_id="job",
        job_queue="local-queue",
        job_definition="local-job",
        container_overrides=OVERRIDES,
        aws_conn_id=None,
        region_name="us-east-1",
        poll_interval=0.2,
        deferrable=False,
        stop_policy="keep",
        execution_timeout=timedelta(seconds=4),
    )

# A multi-node job: the test registers the `multinode-test` job definition first.
with DAG("batch_deferred_multinode", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as multinode:
    BatchSubmitJobOperator(
        task_id="job",
        job_queue="local-queue",
        job_definition="multinode-test",
        node_overrides={"numNodes": 3},
        aws_conn_id=None,
        region_name="us-east-1",
        poll_interval=0.2,
        deferrable=True,
    )

# A request Batch would refuse, known only once rendered (a literal bad name is refused at DAG parse):
# the task fails at once, without retrying or submitting anything.
bad_request = submit_dag("batch_bad_request", deferrable=False, job_name="{{ 'not a valid name' }}", retries=2)
# botocore_config, as the amazon provider's operators take it: one botocore refuses fails the task at once;
# a good one is carried by the trigger, rebuilt from its serialized form.
bad_botocore_config = submit_dag(
    "batch_bad_botocore_config", deferrable=False, botocore_config={"read_timeot": 5}, retries=2
)
deferred_botocore_config = submit_dag(
    "batch_deferred_botocore_config",
    deferrable=True,
    botocore_config={"read_timeout": 17, "retries": {"mode": "standard", "max_attempts": 4}},
)
