"""Wait on an AWS Batch job someone else submitted, with `BatchJobSensor`.

Jobs often start outside Airflow: a Lambda on an S3 upload, another team's scheduler, a CLI. Here a
plain Python task stands in for that system: it submits a job with boto3 (through `BatchHook`) and
returns the job id. `BatchJobSensor` then waits for it in the triggerer, logs its lines as they
arrive (`stream_logs=True`), and succeeds when the job SUCCEEDED (or fails, with exit code and
reason, when it FAILED), returning the job's snapshot.

The job is not the sensor's, so the sensor never stops it: not on timeout, not when the sensor is
marked failed or cleared. To wait on a job id from outside, pass it in the run's config:
`job_id="{{ dag_run.conf['job_id'] }}"`. Jobs your own tasks submit need no sensor:
`BatchSubmitJobOperator` already waits.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Variable, task

from airflow_batch_plus.sensors.batch import BatchJobSensor

with DAG(
    dag_id="example_batch_sensor",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["airflow-batch-plus", "example"],
):

    @task
    def submit_elsewhere() -> str:
        """Stands in for the outside system: submit a job and hand over only its id."""
        from airflow_batch_plus.hooks.batch import BatchHook

        submitted = BatchHook(aws_conn_id="aws_default").submit_job(
            {
                "jobName": "submitted-elsewhere",
                "jobQueue": Variable.get("batch_job_queue", default="local-queue"),
                "jobDefinition": Variable.get("batch_job_definition", default="local-job"),
                "containerOverrides": {
                    "command": ["sh", "-c", 'for i in 1 2 3; do echo "outside job: part $i of 3"; sleep 0.5; done']
                },
            }
        )
        return submitted.job_id

    BatchJobSensor(
        task_id="wait_for_job",
        job_id=submit_elsewhere(),
        stream_logs=True,
        poll_interval=1,  # seconds-long jobs; for real ones keep the default 30 s
        timeout=3600,  # the sensor fails after an hour; the job goes on
        aws_conn_id="aws_default",
    )
