"""The local AWS Batch as a context manager (in process, through moto's mock) and as an HTTP server."""

from __future__ import annotations

import errno
import functools
import socket
import threading
from collections import Counter
from types import TracebackType
from typing import Any

import boto3
import botocore.session
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from airflow_batch_plus.local.api import registry
from airflow_batch_plus.local.auth import AccessKey, SignatureGate
from airflow_batch_plus.local.bootstrap import BootstrapResult, bootstrap
from airflow_batch_plus.local.cloudwatch import moto_logs_lock
from airflow_batch_plus.local.config import LocalBatchConfig
from airflow_batch_plus.local.engine import LocalBatchEngine

# In process, nothing checks signatures; moto maps any unknown key to its default account 123456789012.
IN_PROCESS_KEY = AccessKey("testing", "testing")


@functools.cache
def _shared_botocore_session() -> botocore.session.Session:
    """One botocore session per process, so service models are loaded once (they are read-only)."""
    return botocore.session.get_session()


class LocalBatch:
    """AWS Batch and CloudWatch Logs in this process, jobs run as local processes.

    In process (the default), moto's `mock_aws` intercepts every boto3 call made inside the block, so
    code under test needs no endpoint. With `endpoint_url`, clients go to a `LocalBatchServer` instead,
    signed with its `key`.
    """

    def __init__(
        self,
        config: LocalBatchConfig | None = None,
        *,
        region_name: str = "us-east-1",
        endpoint_url: str | None = None,
        key: AccessKey = IN_PROCESS_KEY,
    ):
        self.config = config or LocalBatchConfig()
        self.region_name = region_name
        self.endpoint_url = endpoint_url
        self.key = key
        self.env: BootstrapResult | None = None
        self._mock: Any = None
        self._clients: dict[str, Any] = {}

    def __enter__(self) -> LocalBatch:
        registry.install(self.config)
        if self.endpoint_url is None:
            self._mock = mock_aws()
            self._mock.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        registry.uninstall()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None

    def client(self, service: str) -> Any:
        """A boto3 client bound to this local Batch (any boto3 client made in the block is, in process).

        Clients are cached per service: creating one loads its service model, which dominates test setup.
        """
        if service not in self._clients:
            session = boto3.session.Session(
                aws_access_key_id=self.key.access_key_id,
                aws_secret_access_key=self.key.secret_access_key,
                region_name=self.region_name,
                botocore_session=_shared_botocore_session(),
            )
            self._clients[service] = session.client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]
        return self._clients[service]

    def bootstrap(self, **options: Any) -> BootstrapResult:
        """Create a compute environment, queue and job definition; see `bootstrap.bootstrap` for options."""
        self.env = bootstrap(self.client, **options)
        return self.env

    @property
    def engine(self) -> LocalBatchEngine:
        """The engine running this region's jobs (tests read `engine.processes()`)."""
        return registry.engine(DEFAULT_ACCOUNT_ID, self.region_name)


class _QuietRequestHandler(MotoRequestHandler):  # type: ignore[misc]
    """No access log line per request: a job poller would drown everything else."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


# Batch is a REST-JSON API: its action is the last part of the path (POST /v1/describejobs).
_BATCH_PATH_PREFIX = "/v1/"


class _CountingApp:
    """Counts every request by AWS action on its way to moto: what AWS would see, not what a client meant.

    CloudWatch Logs names its action in `X-Amz-Target` ("Logs_20140328.FilterLogEvents"); Batch's is its
    lower-case path ("describejobs"), kept as it is.
    """

    def __init__(self, app: Any):
        self.app = app
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET")
        path = str(environ.get("PATH_INFO", ""))
        if target:
            action = str(target).rsplit(".", 1)[-1]
        elif path.startswith(_BATCH_PATH_PREFIX):
            action = path[len(_BATCH_PATH_PREFIX) :].strip("/")
        else:
            action = path
        with self._lock:
            self.calls[action] += 1
        if str(target).startswith("Logs_"):
            with moto_logs_lock:  # moto answers within the call: the read cannot overlap a job line's write
                return self.app(environ, start_response)
        return self.app(environ, start_response)

    def counted(self) -> Counter[str]:
        with self._lock:
            return Counter(self.calls)


class PortInUseError(RuntimeError):
    """The local Batch server's port is taken."""


class LocalBatchServer:
    """The local Batch over HTTP on 127.0.0.1, for `AWS_ENDPOINT_URL` and other processes.

    `port=0` picks a free port. Only requests signed with `key` (a fresh random pair unless given) are
    served; the others get AWS's answer for an unknown key or a bad signature. Leaving the block stops
    the server and kills every job process.
    """

    def __init__(
        self,
        port: int = 0,
        config: LocalBatchConfig | None = None,
        *,
        region_name: str = "us-east-1",
        key: AccessKey | None = None,
    ):
        self._requested_port = port
        self._config = config or LocalBatchConfig()
        self._region_name = region_name
        self.key = key or AccessKey.generate()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._app = _CountingApp(DomainDispatcherApplication(create_backend_app))
        self._gate = SignatureGate(self._app, self.key)
        self.local_batch: LocalBatch | None = None

    @property
    def calls(self) -> Counter[str]:
        """Requests served so far by action: "describejobs", "FilterLogEvents", ... (benchmarks read it)."""
        return self._app.counted()

    @property
    def refused(self) -> int:
        """Requests refused because they were not signed with `key`."""
        return self._gate.refused

    def client_environment(self) -> dict[str, str]:
        """What another process needs to use this server: endpoint, key pair and region."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            **self.key.environment(),
            "AWS_DEFAULT_REGION": self._region_name,
        }

    @property
    def port(self) -> int:
        assert self._server is not None, "the server is not started"
        return int(self._server.server_address[1])

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _check_port(self) -> None:
        """Fail with our own message: werkzeug's server exits the interpreter on a taken port."""
        if self._requested_port == 0:
            return
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", self._requested_port))
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    raise PortInUseError(
                        f"Port {self._requested_port} on 127.0.0.1 is already in use; "
                        "pick another with --port, or stop what listens there"
                    ) from error
                raise

    def __enter__(self) -> LocalBatchServer:
        self._check_port()
        self._server = make_server(
            "127.0.0.1",
            self._requested_port,
            self._gate,
            threaded=True,
            request_handler=_QuietRequestHandler,
        )
        self.local_batch = LocalBatch(
            self._config, region_name=self._region_name, endpoint_url=self.endpoint_url, key=self.key
        )
        self.local_batch.__enter__()
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-batch-server", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.local_batch is not None:
            self.local_batch.__exit__(kind, error, trace)
