"""The amazon provider's environment for the benchmarks: the same Airflow and provider versions as ours.

Prints pip requirements: Airflow and the amazon provider pinned to the versions in this environment
(that is, our lock), the provider with its `[aiobotocore]` extra, which its deferrable trigger needs.
"""

from __future__ import annotations

from importlib.metadata import version

if __name__ == "__main__":
    print(
        f"apache-airflow=={version('apache-airflow')} "
        f"apache-airflow-providers-amazon[aiobotocore]=={version('apache-airflow-providers-amazon')}"
    )
