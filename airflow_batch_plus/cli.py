"""The `airflow-batch-plus` command: `demo` and `local-batch`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_batch_plus.local import AccessKey


def _server_key(args: argparse.Namespace) -> AccessKey | None:
    """The key pair given with --access-key-id/--secret-access-key or in the environment; None: generate one."""
    from airflow_batch_plus.local import AccessKey

    if args.access_key_id or args.secret_access_key:
        return AccessKey.of(
            args.access_key_id or "", args.secret_access_key or "", "--access-key-id/--secret-access-key"
        )
    return AccessKey.from_environment()


def _local_batch(args: argparse.Namespace) -> int:
    from airflow_batch_plus.local import LocalBatchConfig, LocalBatchServer, PortInUseError

    try:
        key = _server_key(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    config = LocalBatchConfig.fast() if args.fast else LocalBatchConfig()
    try:
        with LocalBatchServer(port=args.port, config=config, region_name=args.region, key=key) as server:
            assert server.local_batch is not None
            if not args.no_bootstrap:
                env = server.local_batch.bootstrap(max_vcpus=args.max_vcpus, job_event_queues=args.job_event_queues)
                print(f"queue: {env.queue_name}  job definition: {env.job_definition_name}", flush=True)
                for url in env.job_event_queue_urls:
                    print(f"job state change events: {url}", flush=True)
            print(f"Local AWS Batch listening on {server.endpoint_url} (region {args.region})", flush=True)
            # Printed to whoever started the server, and nowhere else: the pair is what lets a client run commands.
            variables = " ".join(f"{name}={value}" for name, value in server.client_environment().items())
            print(f"Use it with: {variables}", flush=True)
            stop.wait()
            print("Stopping: every job process is killed.", flush=True)
    except PortInUseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _demo(args: argparse.Namespace) -> int:
    if args.jobs_only:
        return _jobs_tour(args)
    from pathlib import Path

    from airflow_batch_plus.demo.errors import DemoError
    from airflow_batch_plus.demo.processes import signals_set
    from airflow_batch_plus.demo.settings import DemoSettings, default_dags_folder
    from airflow_batch_plus.demo.supervisor import Supervisor

    state_dir = args.state_dir or (".state/demo-ha" if args.profile == "ha" else ".state/demo")
    settings = DemoSettings(
        state_dir=Path(state_dir).resolve(),
        dags_folder=Path(args.dags_folder).resolve() if args.dags_folder else default_dags_folder(),
        api_port=args.port,
        batch_port=args.batch_port,
        profile=args.profile,
        postgres_port=args.postgres_port,
        redis_port=args.redis_port,
        job_events=args.job_events,
    )
    stop = threading.Event()
    with signals_set(stop), Supervisor(settings, say=lambda line: print(line, flush=True)) as supervisor:
        try:
            supervisor.start()
        except DemoError as error:
            print(f"error: {error}", file=sys.stderr, flush=True)
            return 2
        servers = ", Redis and Postgres" if args.profile == "ha" else ""
        print(f"Press Ctrl-C to stop everything (Airflow, the local Batch and its jobs{servers}).", flush=True)
        code = supervisor.wait(stop)
        print("Stopping the demo...", flush=True)
    print("Stopped: no process of the demo is left.", flush=True)
    return code


def _jobs_tour(args: argparse.Namespace) -> int:
    from airflow_batch_plus.demo.tour import run_tour
    from airflow_batch_plus.local import PortInUseError

    try:
        final = run_tour(port=args.batch_port, say=lambda line: print(line, flush=True))
    except PortInUseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0 if len(final) == 3 else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="airflow-batch-plus", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="a local AWS Batch and Airflow (API server, scheduler, DAG processor, triggerer) on 127.0.0.1"
    )
    demo.add_argument("--port", type=int, default=8080, help="port of the Airflow UI and API (default: 8080)")
    demo.add_argument("--batch-port", type=int, default=0, help="port of the local Batch endpoint (default: any free)")
    demo.add_argument(
        "--profile",
        choices=("sqlite", "ha"),  # demo.settings.PROFILES, not imported here: the parser imports nothing
        default="sqlite",
        help="sqlite: SQLite and the LocalExecutor (default); ha: Postgres, Redis, the CeleryExecutor with two "
        "workers and two triggerers (needs Debian's postgresql and redis-server: `make servers`)",
    )
    demo.add_argument(
        "--state-dir",
        default=None,
        help="where the demo keeps Airflow's home, its logs and the ha profile's servers "
        "(default: .state/demo, or .state/demo-ha for --profile ha)",
    )
    demo.add_argument("--postgres-port", type=int, default=0, help="ha profile: Postgres's port (default: any free)")
    demo.add_argument("--redis-port", type=int, default=0, help="ha profile: Redis's port (default: any free)")
    demo.add_argument("--dags-folder", default=None, help="DAGs to load (default: the project's example_dags/)")
    demo.add_argument(
        "--jobs-only", action="store_true", help="no Airflow: run three jobs on the local Batch and show what happens"
    )
    demo.add_argument(
        "--job-events",
        action="store_true",
        help="triggerers wait on Batch's job state change events (EventBridge to an SQS queue per triggerer) "
        "instead of polling DescribeJobs",
    )
    demo.set_defaults(run=_demo)
    server = commands.add_parser("local-batch", help="serve the local AWS Batch on 127.0.0.1")
    server.add_argument("--port", type=int, default=5000)
    server.add_argument("--region", default="us-east-1")
    server.add_argument("--max-vcpus", type=int, default=256, help="capacity of the bootstrapped compute environment")
    server.add_argument("--no-bootstrap", action="store_true", help="start empty: no queue or job definition")
    server.add_argument("--fast", action="store_true", help="tens of milliseconds per job state (for tests)")
    server.add_argument(
        "--job-event-queues",
        type=int,
        default=0,
        choices=range(6),
        metavar="N",
        help="also bootstrap N (up to 5) SQS queues that get every job state change event through an EventBridge "
        "rule, one per triggerer: batch-job-events, or batch-job-events-1 to -N (default: none)",
    )
    server.add_argument(
        "--access-key-id",
        default=None,
        help="the only access key id the server accepts "
        "(default: LOCAL_BATCH_ACCESS_KEY_ID, else a random one, printed)",
    )
    server.add_argument(
        "--secret-access-key",
        default=None,
        help="its secret (default: LOCAL_BATCH_SECRET_ACCESS_KEY, else random); prefer the variable: "
        "other local users can read command lines",
    )
    server.set_defaults(run=_local_batch)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
