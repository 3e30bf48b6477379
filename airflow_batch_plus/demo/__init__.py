"""`airflow-batch-plus demo`: an Airflow on 127.0.0.1 in front of the local AWS Batch (`supervisor`), and
the Airflow-free three-job tour of the local Batch (`tour`, `demo --jobs-only`).

This package imports nothing: every process of the demo's Airflow imports `airflow_batch_plus.demo.sqlite`
(its database settings) and each Celery worker `airflow_batch_plus.demo.hostname`, and must not pay for
moto or the supervisor to do so.
"""
