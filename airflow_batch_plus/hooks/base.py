"""BaseBatchPlusHook: what every hook of this provider shares, whatever AWS service it talks to.

One boto3 session per hook and region, botocore's adaptive retries unless the caller chose its own,
the region without making a client, and a cheap user agent. BatchHook and BatchLogsHook both build
on it, so neither needs the other's module.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import botocore.session
from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.config import Config

from airflow_batch_plus.botocore_data import share_loader

T = TypeVar("T")

# Standard retries with client-side rate limiting: throttled callers slow down together instead of
# hammering an account-wide limit of about 50 Batch calls a second.
DEFAULT_RETRY_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 10})


def as_botocore_config(config: Config | Mapping[str, Any] | None, field_name: str = "botocore_config") -> Config | None:
    """`config` as botocore's Config: a task's `botocore_config` is a dict of Config's arguments (as the
    amazon provider's operators take it), which a trigger can serialize. A bad one is refused naming the
    field, before any call is made."""
    if config is None or isinstance(config, Config):
        return config
    if not isinstance(config, Mapping):
        raise ValueError(
            f"{field_name}={config!r}: give a dict of botocore.config.Config's arguments, like "
            "{'read_timeout': 30, 'retries': {'mode': 'standard', 'max_attempts': 5}}"
        )
    try:
        return Config(**config)
    except Exception as error:
        raise ValueError(
            f"{field_name}={dict(config)!r} is not a botocore config: {error}. Use botocore.config.Config's "
            "argument names (connect_timeout, read_timeout, retries, max_pool_connections, ...)"
        ) from None


def with_default_retries(config: Config | Mapping[str, Any] | None) -> Config:
    """The caller's botocore config, with adaptive retries unless it chose its own retry settings."""
    given = as_botocore_config(config)
    return DEFAULT_RETRY_CONFIG if given is None else DEFAULT_RETRY_CONFIG.merge(given)


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """`items` in consecutive slices of at most `size`: AWS's bulk calls take a bounded number of ids."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class BaseBatchPlusHook(AwsBaseHook):
    """The AwsBaseHook our hooks share, with three differences:

    - Its botocore config is the hook's, else the connection's `config_kwargs`, with adaptive retries
      added unless that config sets its own (handing AwsBaseHook a config of our own would make it
      ignore the connection's `config_kwargs`).
    - It makes one boto3 session per region and reuses it for every client. AwsBaseHook makes a session
      per client, and each new session parses botocore's endpoint and service JSON again: a task making
      the hook's client and the single-attempt SubmitJob client paid that twice. Its sessions read
      botocore's JSON through the process's shared loader (`botocore_data`), which request validation
      and the console links use too.
    - The user agent's `Caller/` (the operator's class) is found by walking the frames, where
      AwsBaseHook calls `inspect.stack()`, which reads the source file of every frame on the stack. In a
      fresh task process that was over half of the CPU of making a client (docs/benchmarks.md#load).

    A subclass names its boto3 service in `default_client_type`; a `client_type` argument still wins.
    """

    default_client_type: ClassVar[str | None] = None

    def __init__(
        self,
        aws_conn_id: str | None = AwsBaseHook.default_conn_name,
        region_name: str | None = None,
        *,
        config: Config | Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        given = as_botocore_config(config)
        kwargs.setdefault("client_type", self.default_client_type)
        super().__init__(aws_conn_id=aws_conn_id, region_name=region_name, config=given, **kwargs)
        self._sessions: dict[tuple[str | None, bool], Any] = {}
        self._sessions_lock = threading.Lock()

    @property
    def config(self) -> Config:
        return with_default_retries(super().config)

    def get_session(self, region_name: str | None = None, deferrable: bool = False) -> Any:
        with self._sessions_lock:
            key = (region_name, deferrable)
            if key not in self._sessions:
                session = super().get_session(region_name=region_name, deferrable=deferrable)
                botocore_session = getattr(session, "_session", None)  # a boto3 Session's; boto3 has no public name
                if isinstance(botocore_session, botocore.session.Session):
                    share_loader(botocore_session)
                self._sessions[key] = session
            return self._sessions[key]

    @property
    def region(self) -> str:
        """The region this hook's clients use, found without making one: the hook's, else the
        connection's, else boto3's default (environment, config file), else us-east-1."""
        return str(self.region_name or self.get_session(self.region_name).region_name or "us-east-1")

    def _get_caller(self, target_function_name: str = "execute") -> str:
        try:
            frame = sys._getframe(1)
            while frame is not None:
                if frame.f_code.co_name == target_function_name and "self" in frame.f_locals:
                    return type(frame.f_locals["self"]).__name__
                frame = frame.f_back  # type: ignore[assignment]
        except Exception:  # the user agent is informative only: never fail a call over it
            pass
        return "Unknown"
