"""`airflow-batch-plus demo`: a local AWS Batch and a whole Airflow on 127.0.0.1, owned by one process.

Not `airflow standalone`: it binds log servers on every interface and leaves its children behind on
SIGTERM. This supervisor starts each Airflow component itself, each in its own process group with
its output in a log file under the state directory, binds everything to 127.0.0.1, waits until the
API server says every component is healthy, triggers the first example DAG, and on Ctrl-C or SIGTERM
stops every process group it started (SIGTERM, then SIGKILL after a grace) and the local Batch with
its job processes.

Two profiles. "sqlite" (the default): SQLite and the LocalExecutor, one of each component. "ha": the shape
of a production deployment on one machine: Postgres (metadata database and Celery result backend) and
Redis (Celery broker) started first from Debian's binaries under the state directory (see `servers`), then
the API server, scheduler, DAG processor, two triggerers and two Celery workers (CeleryExecutor), all
sharing one AIRFLOW_HOME so task logs are local files; stopping ends Airflow first, then Redis and Postgres.

What each component runs and the environment they share are in `settings`; the REST client in `airflow_api`;
signalling a process group, telling a pid is gone and the command's SIGINT/SIGTERM handling in `processes`.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import IO, TYPE_CHECKING

from airflow_batch_plus.demo.airflow_api import AirflowApi, get_json
from airflow_batch_plus.demo.errors import DemoError, check_port_free
from airflow_batch_plus.demo.login import DemoLogin, ensure_login, read_login
from airflow_batch_plus.demo.private import write_private
from airflow_batch_plus.demo.processes import gone, signal_group, tail
from airflow_batch_plus.demo.settings import (
    CELERY_WORKERS,
    JOB_EVENTS_RECONCILE_VARIABLE,
    DemoSettings,
    HaBackends,
    airflow_environment,
    component_specs,
    triggerers,
    with_job_event_queues,
)
from airflow_batch_plus.local.bootstrap import COST_ALARM_QUEUE_VARIABLE, CostAlarmResources, cost_alarm_resources
from airflow_batch_plus.local.runtime import LocalBatchServer, PortInUseError

if TYPE_CHECKING:
    from airflow_batch_plus.demo.servers import PostgresServer, RedisServer

__all__ = ["DemoError", "Supervisor", "check_port_free"]

HEALTHY_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
STOP_GRACE_SECONDS = 10.0
LOG_TAIL_LINES = 30  # of a dead component's log, in the error that reports it
# What the "ha" profile needs from the `ha` dependency group, by import name.
HA_MODULES = ("airflow.providers.celery", "celery", "psycopg2", "asyncpg")


@dataclass
class _Component:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes] = field(repr=False)


class Supervisor:
    """Starts, watches and stops the demo's processes. Use as a context manager."""

    def __init__(self, settings: DemoSettings, say: Callable[[str], None] = print):
        self.settings = settings
        self.say = say
        self.specs = component_specs(settings)
        self.components: dict[str, _Component] = {}
        self.batch: LocalBatchServer | None = None
        self.postgres: PostgresServer | None = None
        self.redis: RedisServer | None = None
        self.backends: HaBackends | None = None
        self.env: dict[str, str] = {}
        self.login: DemoLogin | None = None  # made by start()
        self.cost_alarm: CostAlarmResources | None = None  # made by start(): docs/cost-alarms.md
        self._stopping = False
        self._stopped: set[str] = set()  # stopped on purpose (stop_component): not a death to report
        self._paused: set[str] = set()

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
            check_port_free(settings.batch_port, "local AWS Batch", "--batch-port")
        started = time.monotonic()
        if settings.profile == "ha":
            self._start_servers()
        try:
            self.batch = LocalBatchServer(port=settings.batch_port).__enter__()
        except PortInUseError as error:
            raise DemoError(str(error)) from None
        assert self.batch.local_batch is not None
        queues = len(triggerers(self.specs)) if settings.job_events else 0
        env = self.batch.local_batch.bootstrap(max_vcpus=settings.max_vcpus, job_event_queues=queues)
        if settings.job_events:
            self.specs = with_job_event_queues(self.specs, list(env.job_event_queue_urls))
            self.say(
                "Triggerers wait on Batch's job state change events (EventBridge rule to SQS), each from its own "
                f"queue: {', '.join(env.job_event_queue_urls)}"
            )
        self.cost_alarm = cost_alarm_resources(self.batch.local_batch.client)
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        key_file = self.batch_key_file
        write_private(
            key_file, "".join(f"export {name}={value}\n" for name, value in self.batch.client_environment().items())
        )
        self.say(
            f"Local AWS Batch on {self.batch.endpoint_url} (queue {env.queue_name}, job definition "
            f"{env.job_definition_name}; its key pair for the AWS CLI: . {key_file})"
        )
        home = settings.state_dir / "airflow"
        home.mkdir(parents=True, exist_ok=True)
        self.login = login = ensure_login(settings.state_dir)  # generated on the first start, 0600; reused after
        self.env = airflow_environment(settings, self.batch.client_environment(), secrets.token_hex(16), self.backends)
        if settings.job_events:
            self.env[JOB_EVENTS_RECONCILE_VARIABLE] = f"{settings.job_events_reconcile_seconds:g}"
        alarm = self.cost_alarm
        self.env.setdefault(COST_ALARM_QUEUE_VARIABLE, alarm.queue_url)
        self.say(
            f"Cost alarm {alarm.alarm_name} (SNS {alarm.topic_arn} to SQS {alarm.queue_url}); set it off with: "
            f". {key_file} && aws cloudwatch set-alarm-state --alarm-name {alarm.alarm_name} "
            "--state-value ALARM --state-reason 'trying the cost alarm DAG'"
        )
        if self.postgres is not None:
            self.say(f"Preparing the Airflow database (Postgres on 127.0.0.1:{self.postgres.port}, home {home})")
        else:
            self.say("Preparing the Airflow database (SQLite under " + str(home) + ")")
        self._run_airflow("db", "migrate", timeout=300)
        for name in self.specs:
            self._launch(name, append_log=False)
        url = f"http://127.0.0.1:{settings.api_port}"
        self._wait_healthy(url, deadline=started + settings.startup_timeout)
        if settings.first_dag:
            self.trigger(settings.first_dag, deadline=started + settings.startup_timeout)
        self.say(
            f"Airflow is ready in {time.monotonic() - started:.0f} s: {url}  "
            f"(login {login.username} / {login.password}, kept in {login.path})"
        )
        return url

    def _start_servers(self) -> None:
        """Postgres and Redis for the "ha" profile, under the state directory, before anything of Airflow."""
        from airflow_batch_plus.demo.servers import PostgresServer, RedisServer

        missing = [module for module in HA_MODULES if not _importable(module)]
        if missing:
            raise DemoError(
                f"the ha profile needs {', '.join(missing)} (the `ha` dependency group): run `make bootstrap`"
            )
        # Both made before either starts: a missing binary is reported before anything runs.
        postgres = PostgresServer(self.settings.state_dir / "postgres", self.settings.postgres_port, say=self.say)
        redis = RedisServer(self.settings.state_dir / "redis", self.settings.redis_port, say=self.say)
        self.postgres = postgres
        postgres.start()
        self.say(f"Postgres on 127.0.0.1:{postgres.port} (pid {postgres.pid}, data {postgres.data_dir})")
        self.redis = redis
        redis.start()
        self.say(f"Redis on 127.0.0.1:{redis.port} (pid {redis.pid}, log {redis.log_path})")
        self.backends = HaBackends.of(postgres, redis)

    def _airflow(self) -> list[str]:
        return [str(self.settings.airflow_python or sys.executable), "-m", "airflow"]

    def _run_airflow(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [*self._airflow(), *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            output = tail(result.stderr or result.stdout, LOG_TAIL_LINES)
            raise DemoError(f"`airflow {' '.join(args)}` failed:\n{output}")
        return result.stdout

    def _launch(self, name: str, *, append_log: bool) -> None:
        spec = self.specs[name]
        logs = self.settings.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{name}.log"
        log_file = log_path.open("ab" if append_log else "wb")
        process = subprocess.Popen(
            [*self._airflow(), *spec.args],
            env={**self.env, **spec.env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped as a whole, children included
        )
        self.components[name] = _Component(name, process, log_path, log_file)
        self._stopped.discard(name)
        self._paused.discard(name)
        self.say(
            f"Started airflow {' '.join(spec.args[:2] if spec.args[0] == 'celery' else spec.args[:1])} "
            f"as {name} (pid {process.pid}, log {log_path})"
        )

    def start_component(self, name: str) -> int:
        """Start component `name` (again: after `stop_component`, or after it died), appending to its log; its pid."""
        if name not in self.specs:
            raise KeyError(f"no component {name!r} in the {self.settings.profile} profile: {sorted(self.specs)}")
        current = self.components.get(name)
        if current is not None:
            if current.process.poll() is None:
                raise DemoError(f"airflow {name} is already running (pid {current.process.pid})")
            current.log_file.close()
        self._launch(name, append_log=True)
        return self.components[name].process.pid

    def stop_component(self, name: str, signum: int = signal.SIGTERM) -> float | None:
        """Send `signum` to component `name`'s whole process group and wait for it to exit, as a deployment
        (SIGTERM) or a crash (SIGKILL: no chance to clean up) would; SIGKILL after STOP_GRACE_SECONDS. Then
        whatever is left of the group is killed, so nothing of it lingers. It stays stopped (not a death
        `check_alive` reports) until `start_component`.

        Returns how long it took to exit, or None if it had to be SIGKILLed after the grace.
        """
        component = self.components[name]
        signalled = time.monotonic()
        signal_group(component.process, signum)
        if name in self._paused:
            signal_group(component.process, signal.SIGCONT)  # a stopped process acts on SIGTERM once continued
        took: float | None
        try:
            component.process.wait(timeout=STOP_GRACE_SECONDS)
            took = time.monotonic() - signalled
        except subprocess.TimeoutExpired:
            signal_group(component.process, signal.SIGKILL)
            component.process.wait()
            took = None
        signal_group(component.process, signal.SIGKILL)  # whatever is left of the group
        component.log_file.close()
        self._stopped.add(name)
        self._paused.discard(name)
        return took

    def restart(self, name: str, signum: int = signal.SIGTERM) -> float | None:
        """Stop one component and start it again, as a deployment or a crash does: SIGTERM is a graceful
        stop, SIGKILL a crash (its whole process group, children included, with no chance to clean up).

        Returns how long the component took to exit, or None if it had to be SIGKILLed after the grace.
        """
        took = self.stop_component(name, signum)
        how = f"in {took:.1f} s" if took is not None else f"SIGKILLed after {STOP_GRACE_SECONDS:g} s"
        self.say(f"airflow {name} stopped by signal {signal.Signals(signum).name} ({how}); starting it again")
        self.start_component(name)
        return took

    def pause(self, name: str) -> None:
        """SIGSTOP component `name`'s whole process group: alive but doing nothing, like a stalled process
        (no heartbeat, no work) that its peers must notice. `resume` continues it; `stop` ends it anyway."""
        signal_group(self.components[name].process, signal.SIGSTOP)
        self._paused.add(name)
        self.say(f"airflow {name} paused (SIGSTOP to process group {self.components[name].process.pid})")

    def resume(self, name: str) -> None:
        """SIGCONT component `name`'s whole process group, after `pause`."""
        signal_group(self.components[name].process, signal.SIGCONT)
        self._paused.discard(name)
        self.say(f"airflow {name} resumed (SIGCONT)")

    def check_alive(self) -> None:
        """Raise DemoError, with the end of its log, if an Airflow component has exited (other than by
        `stop_component`), or if Postgres or Redis has."""
        for component in self.components.values():
            code = component.process.poll()
            if code is not None and component.name not in self._stopped:
                log = tail(component.log_path.read_text(errors="replace"), LOG_TAIL_LINES)
                raise DemoError(
                    f"airflow {component.name} exited with code {code}; its log "
                    f"({component.log_path}) ends with:\n{log}"
                )
        if self.redis is not None and self.redis.process is not None and self.redis.process.poll() is not None:
            raise DemoError(f"Redis exited with code {self.redis.process.returncode}; see {self.redis.log_path}")
        if self.postgres is not None and self.postgres.pid is not None and gone(self.postgres.pid):
            raise DemoError(f"Postgres (pid {self.postgres.pid}) exited; see {self.postgres.log_path}")

    def _wait_healthy(self, url: str, deadline: float) -> None:
        workers = [name for name in self.specs if name in CELERY_WORKERS]
        answering: set[str] = set()
        while True:
            self.check_alive()
            health = get_json(f"{url}/api/v2/monitor/health")
            healthy = bool(health) and all(
                ((health or {}).get(part) or {}).get("status") == "healthy" for part in HEALTHY_COMPONENTS
            )
            if healthy:
                if not workers:
                    return
                answering = self.celery_workers_answering()
                if answering >= set(workers):
                    return
            if time.monotonic() > deadline:
                waiting = f"; Celery workers answering ping: {sorted(answering)} of {workers}" if workers else ""
                raise DemoError(
                    f"Airflow was not healthy after {self.settings.startup_timeout:.0f} s: {health}{waiting}"
                )
            time.sleep(1)

    def celery_workers_answering(self, timeout: float = 1.0) -> set[str]:
        """The Celery workers (component names) that answer a ping through the broker now: the check that a
        worker is up and consuming, which no log line or process state proves. Empty in the sqlite profile."""
        if self.backends is None:
            return set()
        from celery import Celery

        workers = [name for name in self.specs if name in CELERY_WORKERS]
        app = Celery(broker=self.backends.broker_url, set_as_current=False)
        try:
            replies = app.control.ping(destination=[f"celery@{name}" for name in workers], timeout=timeout)
        except (OSError, ConnectionError) as error:
            self.say(f"no answer from the Celery broker: {error}")
            return set()
        finally:
            app.close()
        return {str(node).split("@", 1)[1] for reply in replies for node in reply}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    @property
    def batch_key_file(self) -> Path:
        """The local Batch's endpoint and key pair as shell `export` lines (0600; a new pair every start)."""
        return self.settings.state_dir / "local-batch.env"

    def api(self) -> AirflowApi:
        """A client of the demo Airflow's REST API, logged in (with the login in the state directory when this
        supervisor did not start the demo itself)."""
        login = self.login or read_login(self.settings.state_dir)
        return AirflowApi(self.url, login.username, login.password)

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
                if component.process.poll() is not None and component.name not in self._stopped:
                    self.say(
                        f"airflow {component.name} exited with code {component.process.returncode}; "
                        f"see {component.log_path}. Stopping the demo."
                    )
                    return 1
            try:
                self.check_alive()
            except DemoError as error:
                self.say(f"{error}. Stopping the demo.")
                return 1
        return 0

    def stop(self) -> None:
        """Stop every process the demo started: Airflow, then the local Batch (which kills its job
        processes), then Redis and Postgres (Airflow first: its components flush to them as they stop).

        Each component's process group gets SIGTERM (and SIGCONT, for a paused one), then SIGKILL after
        the grace. Airflow runs each task in a session of its own, outside its worker's group, so every
        descendant seen before stopping is killed too, and the method returns only once all of them are
        gone. Idempotent.
        """
        import psutil

        if self._stopping:
            return
        self._stopping = True
        running = [component for component in self.components.values() if component.name not in self._stopped]
        descendants: list[psutil.Process] = []
        for component in running:
            with contextlib.suppress(psutil.Error):
                descendants += psutil.Process(component.process.pid).children(recursive=True)
            signal_group(component.process, signal.SIGTERM)
            signal_group(component.process, signal.SIGCONT)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for component in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            signal_group(component.process, signal.SIGKILL)  # whatever is left of the group
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
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()

    @property
    def pids(self) -> Mapping[str, int]:
        return {name: component.process.pid for name, component in self.components.items()}

    @property
    def server_pids(self) -> Mapping[str, int]:
        """The pids of the running Postgres postmaster and redis-server ("ha" profile), by name."""
        pids: dict[str, int] = {}
        if self.postgres is not None and self.postgres.pid is not None:
            pids["postgres"] = self.postgres.pid
        if self.redis is not None and self.redis.pid is not None:
            pids["redis"] = self.redis.pid
        return pids


def _importable(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False
