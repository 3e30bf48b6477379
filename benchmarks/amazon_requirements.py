"""The amazon provider's environment for the benchmarks: the same Airflow and provider versions as ours.

Prints pip requirements: Airflow and the amazon provider pinned to the versions in this environment
(that is, our lock), the provider with its `[aiobotocore]` extra, which its deferrable trigger needs,
and the demo's ha profile's packages (our `ha` dependency group: Celery, its provider, the Postgres
drivers, Redis) at our versions, so the throughput benchmark runs the amazon provider on both profiles.
"""

from __future__ import annotations

from importlib.metadata import version

HA_PACKAGES = ("apache-airflow-providers-celery", "celery", "psycopg2-binary", "asyncpg", "redis")

if __name__ == "__main__":
    print(
        f"apache-airflow=={version('apache-airflow')} "
        f"apache-airflow-providers-amazon[aiobotocore]=={version('apache-airflow-providers-amazon')} "
        + " ".join(f"{name}=={version(name)}" for name in HA_PACKAGES)
    )
