"""The demo's SQLite settings, read by every process of its Airflow through an import path.

SQLite allows one writer at a time; Python's sqlite3 gives up after 5 s of waiting for the lock, and an
Airflow component that gets "database is locked" dies (a triggerer did, with 1,000 tasks starting at
once). Waiting longer is right for a demo's single-file database. `[database] sql_alchemy_connect_args`
(and its async twin) take an import path, so this module imports nothing: every Airflow process loads it.
"""

CONNECT_ARGS: dict[str, object] = {"timeout": 120}
