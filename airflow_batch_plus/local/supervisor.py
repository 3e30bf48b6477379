"""`airflow-batch-plus demo`: a local AWS Batch and a whole Airflow on 127.0.0.1, owned by one process.

Not `airflow standalone`: it binds log servers on every interface and leaves its children behind on
SIGTERM. This supervisor starts each Airflow component itself, each in its own process group with
its output in a log file under the state directory, binds everything to 127.0.0.1, waits until the
API server says every component is healthy, triggers the first example DAG, and on Ctrl-C or SIGTERM
stops every process group it started (SIGTERM, then SIGKILL after a grace) and the local Batch with
its job processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from airflow_batch_plus.local import sqlite
from airflow_batch_plus.local.runtime import LocalBatchServer, PortInUseError

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
HEALTHY_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
LOGIN = ("admin", "admin")
STOP_GRACE_SECONDS = 10.0


class DemoError(RuntimeError):
    """The demo cannot start: the message says what is wrong and what to do."""


@dataclass
class DemoSettings:
    state_dir: Path
    dags_folder: Path
    api_port: int = 8080
    batch_port: int = 0
    first_dag: str | None = "example_batch_deferrable"
    startup_timeout: float = 180.0
    # Four task slots and four vCPUs of Batch capacity: a demo on a laptop. Benchmarks raise them.
    parallelism: int = 4
    max_vcpus: int = 4
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass
class _Component:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes] = field(repr=False)


def default_dags_folder() -> Path:
    """The project's example_dags/ (a clean clone), else the current directory's."""
    here = Path(__file__).resolve().parents[2] / "example_dags"
    return here if here.is_dir() else Path.cwd() / "example_dags"


def check_port_free(port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise DemoError(
                f"port {port} on 127.0.0.1 is taken, so the {what} cannot start there: stop what uses it "
                f"(`ss -ltnp 'sport = :{port}'` shows it) or pass another port (--port)"
            ) from None


def airflow_environment(settings: DemoSettings, endpoint_url: str, jwt_secret: str) -> dict[str, str]:
    """The environment every Airflow component of the demo shares."""
    home = settings.state_dir / "airflow"
    passwords = home / "passwords.json"
    api = f"http://127.0.0.1:{settings.api_port}"
    return {
        **{key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW__")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{LOGIN[0]}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(settings.api_port),
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": f"{sqlite.__name__}.CONNECT_ARGS",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": f"{sqlite.__name__}.CONNECT_ARGS",
        "AIRFLOW__CORE__PARALLELISM": str(settings.parallelism),
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({"conn_type": "aws", "extra": {"region_name": "us-east-1"}}),
        **settings.extra_env,
    }


class Supervisor:
    """Starts, watches and stops the demo's processes. Use as a context manager."""

    def __init__(self, settings: DemoSettings, say: Callable[[str], None] = print):
        self.settings = settings
        self.say = say
        self.components: dict[str, _Component] = {}
        self.batch: LocalBatchServer | None = None
        self.env: dict[str, str] = {}
        self._stopping = False

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Starting

    def start(self) -> str:
        """Start everything and return the UI's URL once Airflow is healthy and the first DAG is triggered."""
        settings = self.settings
        if not settings.dags_folder.is_dir():
            raise DemoError(f"no DAG folder at {settings.dags_folder}: run the demo from the project's directory")
        check_port_free(settings.api_port, "Airflow API server")
        if settings.batch_port:
            check_port_free(settings.batch_port, "local AWS Batch")
        started = time.monotonic()
        try:
            self.batch = LocalBatchServer(port=settings.batch_port).__enter__()
        except PortInUseError as error:
            raise DemoError(str(error)) from None
        assert self.batch.local_batch is not None
        env = self.batch.local_batch.bootstrap(max_vcpus=settings.max_vcpus)
        self.say(
            f"Local AWS Batch on {self.batch.endpoint_url} (queue {env.queue_name}, job definition "
            f"{env.job_definition_name})"
        )
        home = settings.state_dir / "airflow"
        home.mkdir(parents=True, exist_ok=True)
        (home / "passwords.json").write_text(json.dumps({LOGIN[0]: LOGIN[1]}))
        self.env = airflow_environment(settings, self.batch.endpoint_url, secrets.token_hex(16))
        self.say("Preparing the Airflow database (SQLite under " + str(home) + ")")
        self._run_airflow("db", "migrate", timeout=300)
        for name in COMPONENTS:
            self._start_component(name)
        url = f"http://127.0.0.1:{settings.api_port}"
        self._wait_healthy(url, deadline=started + settings.startup_timeout)
        if settings.first_dag:
            self.trigger(settings.first_dag, deadline=started + settings.startup_timeout)
        self.say(f"Airflow is ready in {time.monotonic() - started:.0f} s: {url}  (login {LOGIN[0]} / {LOGIN[1]})")
        return url

    def _airflow(self) -> list[str]:
        return [sys.executable, "-m", "airflow"]

    def _run_airflow(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [*self._airflow(), *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise DemoError(f"`airflow {' '.join(args)}` failed:\n{_tail(result.stderr or result.stdout)}")
        return result.stdout

    def _start_component(self, name: str, *, append_log: bool = False) -> None:
        logs = self.settings.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{name}.log"
        log_file = log_path.open("ab" if append_log else "wb")
        extra = ["--skip-serve-logs"] if name in ("scheduler", "triggerer") else []
        process = subprocess.Popen(
            [*self._airflow(), name, *extra],
            env=self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped as a whole, children included
        )
        self.components[name] = _Component(name, process, log_path, log_file)
        self.say(f"Started airflow {name} (pid {process.pid}, log {log_path})")

    def restart(self, name: str, signum: int = signal.SIGTERM) -> float | None:
        """Stop one component and start it again, as a deployment or a crash does: SIGTERM is a graceful
        stop, SIGKILL a crash (its whole process group, children included, with no chance to clean up).

        Returns how long the component took to exit, or None if it had to be SIGKILLed after the grace.
        """
        component = self.components[name]
        signalled = time.monotonic()
        _signal_group(component.process, signum)
        took: float | None
        try:
            component.process.wait(timeout=STOP_GRACE_SECONDS)
            took = time.monotonic() - signalled
        except subprocess.TimeoutExpired:
            _signal_group(component.process, signal.SIGKILL)
            component.process.wait()
            took = None
        component.log_file.close()
        how = f"in {took:.1f} s" if took is not None else f"SIGKILLed after {STOP_GRACE_SECONDS:g} s"
        self.say(f"airflow {name} stopped by signal {signal.Signals(signum).name} ({how}); starting it again")
        self._start_component(name, append_log=True)
        return took

    def check_alive(self) -> None:
        """Raise DemoError, with the end of its log, if an Airflow component has exited."""
        for component in self.components.values():
            code = component.process.poll()
            if code is not None:
                raise DemoError(
                    f"airflow {component.name} exited with code {code}; its log "
                    f"({component.log_path}) ends with:\n{_tail(component.log_path.read_text(errors='replace'))}"
                )

    def _wait_healthy(self, url: str, deadline: float) -> None:
        while True:
            self.check_alive()
            health = _get_json(f"{url}/api/v2/monitor/health")
            if health and all((health.get(part) or {}).get("status") == "healthy" for part in HEALTHY_COMPONENTS):
                return
            if time.monotonic() > deadline:
                raise DemoError(f"Airflow was not healthy after {self.settings.startup_timeout:.0f} s: {health}")
            time.sleep(1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    def api(self) -> AirflowApi:
        """A client of the demo Airflow's REST API, logged in."""
        return AirflowApi(self.url, *LOGIN)

    def trigger(self, dag_id: str, deadline: float) -> str:
        """Unpause and trigger `dag_id` through the REST API once the DAG processor has loaded it; the run id."""
        api = self.api()
        while api.call("GET", f"/api/v2/dags/{dag_id}") is None:
            self.check_alive()
            if time.monotonic() > deadline:
                raise DemoError(f"the DAG processor did not load {dag_id} from {self.settings.dags_folder}")
            time.sleep(1)
        api.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        run = api.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})
        if run is None:
            raise DemoError(f"could not trigger {dag_id}: see {self.components['api-server'].log_path}")
        self.say(f"Triggered {dag_id}")
        return str(run["dag_run_id"])

    # Running and stopping

    def wait(self, stop: threading.Event) -> int:
        """Block until `stop` is set or a component dies; returns the exit code for the command."""
        while not stop.wait(1):
            for component in self.components.values():
                if component.process.poll() is not None:
                    self.say(
                        f"airflow {component.name} exited with code {component.process.returncode}; "
                        f"see {component.log_path}. Stopping the demo."
                    )
                    return 1
        return 0

    def stop(self) -> None:
        """Stop every process the demo started, then the local Batch (which kills its job processes).

        Each component's process group gets SIGTERM, then SIGKILL after the grace. Airflow runs each
        task in a session of its own, outside the scheduler's group, so every descendant seen before
        stopping is killed too, and the method returns only once all of them are gone. Idempotent.
        """
        import psutil

        if self._stopping:
            return
        self._stopping = True
        descendants: list[psutil.Process] = []
        for component in self.components.values():
            with contextlib.suppress(psutil.Error):
                descendants += psutil.Process(component.process.pid).children(recursive=True)
            _signal_group(component.process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for component in self.components.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            _signal_group(component.process, signal.SIGKILL)  # whatever is left of the group
            component.process.wait()
            component.log_file.close()
        for leftover in descendants:
            with contextlib.suppress(psutil.Error):
                leftover.kill()
        _, alive = psutil.wait_procs(descendants, timeout=10)
        if alive:
            self.say(f"warning: processes {[process.pid for process in alive]} did not exit")
        if self.batch is not None:
            self.batch.__exit__(None, None, None)
            self.batch = None

    @property
    def pids(self) -> Mapping[str, int]:
        return {name: component.process.pid for name, component in self.components.items()}


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _get_json(url: str) -> dict[str, dict[str, str]] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # our own 127.0.0.1 URL
            return json.loads(response.read())  # type: ignore[no-any-return]
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return None


class AirflowApi:
    """Just enough of Airflow's REST API for the demo and benchmarks: a simple auth manager token, JSON calls."""

    def __init__(self, url: str, username: str, password: str):
        self.url = url
        self.credentials = {"username": username, "password": password}
        self.token: str | None = None

    def call(self, method: str, path: str, body: object = None) -> dict[str, object] | None:
        """The JSON answer, or None for an error answer or no answer (yet)."""
        try:
            if self.token is None:
                self.token = str(self._send("POST", "/auth/token", self.credentials, {})["access_token"])
            return self._send(method, path, body, {"Authorization": f"Bearer {self.token}"})
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError, KeyError):
            return None

    def _send(self, method: str, path: str, body: object, headers: dict[str, str]) -> dict[str, object]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method, headers={**headers, "Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # our own 127.0.0.1 URL
            return json.loads(response.read())  # type: ignore[no-any-return]


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


@contextmanager
def signals_set(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop` while inside (then the previous handlers come back)."""

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
