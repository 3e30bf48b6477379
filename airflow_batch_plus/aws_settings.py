"""How a task of ours reaches AWS beyond its connection and region: a botocore config.

The amazon provider's operators take `botocore_config`, a dict of botocore.config.Config's arguments
(timeouts, retries, pool size); ours do too, and a trigger carries it serialized. Its shape is checked
at DAG parse without importing botocore; its arguments, when a hook is made, before any call
(hooks/base.py `as_botocore_config`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def check_botocore_config(value: Any) -> dict[str, Any] | None:
    """`botocore_config` as a plain dict (or None), or a ValueError naming the field and its fix."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise ValueError(
            f"botocore_config={value!r}: give a dict of botocore.config.Config's arguments, like "
            "{'read_timeout': 30, 'retries': {'mode': 'standard', 'max_attempts': 5}}"
        )
    return dict(value)
