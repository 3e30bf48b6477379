"""airflow-batch-plus: an Apache Airflow provider for AWS Batch.

Airflow finds this provider through the ``apache_airflow_provider`` entry point, which names
:func:`get_provider_info`. The dictionary it returns lists only what exists in the package today
(the local AWS Batch is a library and a command, not a provider component, so there is nothing to
register for it). Each entry points at a real, importable module or class: Airflow imports every
entry it is given.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

PACKAGE_NAME = "airflow-batch-plus"
"""The distribution name. Airflow refuses the provider (for every component) unless ``package-name`` equals it."""

CONFIG_SECTION = "batch_plus"
"""This provider's section of Airflow's configuration (environment variables ``AIRFLOW__BATCH_PLUS__*``)."""

INTEGRATION_NAME = "AWS Batch"
"""The integration every hook, operator, sensor and trigger of this provider will be filed under."""


def get_provider_info() -> dict[str, Any]:
    """Describe this provider to Airflow's providers manager (validated against ``provider_info.schema.json``).

    A new dictionary every call: Airflow writes into the one it is given.
    """
    return {
        "package-name": PACKAGE_NAME,
        "name": "AWS Batch Plus",
        # Plain words: `airflow providers list` strips RST punctuation and renders square brackets as markup.
        "description": (
            "An Apache Airflow provider for AWS Batch: submit jobs and follow them with live CloudWatch logs "
            "(deferrable through one shared poller), stop them on every way a task ends, reattach on retry, "
            "a kill switch, and a local AWS Batch (the 'local' extra) for tests and demos."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION_NAME,
                "external-doc-url": "https://aws.amazon.com/batch/",
                "tags": ["aws"],
            }
        ],
        "hooks": [
            {
                "integration-name": INTEGRATION_NAME,
                "python-modules": [
                    "airflow_batch_plus.hooks.batch",
                    "airflow_batch_plus.hooks.logs",
                    "airflow_batch_plus.hooks.alarm_state",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION_NAME,
                "python-modules": ["airflow_batch_plus.operators.batch", "airflow_batch_plus.operators.stop"],
            }
        ],
        "sensors": [{"integration-name": INTEGRATION_NAME, "python-modules": ["airflow_batch_plus.sensors.batch"]}],
        "triggers": [
            {
                "integration-name": INTEGRATION_NAME,
                "python-modules": ["airflow_batch_plus.triggers.batch", "airflow_batch_plus.triggers.cost_alarm"],
            }
        ],
        "config": {
            CONFIG_SECTION: {
                "description": "Defaults of the AWS Batch Plus operators and sensors.",
                "options": {
                    "default_deferrable": {
                        "description": (
                            "Whether BatchSubmitJobOperator and BatchJobSensor wait in the triggerer when a DAG "
                            "does not say (deferrable=None). Airflow's own [operators] default_deferrable is not "
                            "used: Airflow writes it as false into every generated airflow.cfg."
                        ),
                        "version_added": "0.1.0",
                        "type": "boolean",
                        "example": "False",
                        "default": "True",
                    },
                    "log_cursor_saves_per_second": {
                        "description": (
                            "How many log cursors a triggerer saves a second, at most (each an XCom write), so a "
                            "restarted triggerer resumes each job's lines after the last one logged. Raise it for "
                            "exact resumes with many printing jobs; lower it to spare the API server."
                        ),
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "10",
                        "default": "2",
                    },
                    "job_events_queue_url": {
                        "description": (
                            "The SQS queue this triggerer reads Batch's job state change events from (an "
                            "EventBridge rule on source aws.batch, detail-type 'Batch Job State Change', delivers "
                            "them). Give each triggerer a queue of its own. Empty: poll DescribeJobs instead."
                        ),
                        "version_added": "0.2.0",
                        "type": "string",
                        "example": "https://sqs.us-east-1.amazonaws.com/123456789012/batch-job-events-1",
                        "default": "",
                    },
                    "job_events_reconcile_seconds": {
                        "description": (
                            "With job_events_queue_url: how often every waiting job is still described, so a "
                            "lost event costs at most this much latency, never a wrong outcome."
                        ),
                        "version_added": "0.2.0",
                        "type": "float",
                        "example": "120",
                        "default": "300",
                    },
                    "job_events_confirm_seconds": {
                        "description": (
                            "With job_events_queue_url: how long a job's end, told by an event, waits for other "
                            "ends to share the DescribeJobs call that confirms it (100 waiting ends go at once). "
                            "Longer: fewer calls while jobs end steadily, later task ends."
                        ),
                        "version_added": "0.2.0",
                        "type": "float",
                        "example": "2",
                        "default": "0.5",
                    },
                },
            }
        },
        "extra-links": [
            "airflow_batch_plus.links.BatchJobLink",
            "airflow_batch_plus.links.BatchJobQueueLink",
            "airflow_batch_plus.links.BatchJobDefinitionLink",
            "airflow_batch_plus.links.BatchJobLogsLink",
        ],
    }
