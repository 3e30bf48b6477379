"""The IAM policy in docs/iam.md is exactly what the provider calls: no action missing, none extra.

The calls are found in the package's source (not in a list kept by hand): every attribute of a boto3
client that is used (`self.client.submit_job(...)`, `call = self.client.cancel_jobs`, `getattr(client,
"...")`) and every paginator (`client.get_paginator("list_jobs")`), mapped from snake_case to the
operation names of botocore's service models, then to IAM actions. botocore's documentation of an
operation names its IAM action when it differs (the bulk `CancelJobs` is authorized as
`batch:CancelJob`). `airflow_batch_plus/local/` (the local AWS Batch), `demo/` and `testing/` are not the
provider: they are skipped.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "airflow_batch_plus"
NOT_THE_PROVIDER = (PACKAGE / "local", PACKAGE / "demo", PACKAGE / "testing")
POLICY_PAGE = ROOT / "docs" / "iam.md"

SERVICES = ("batch", "logs", "sqs", "cloudwatch", "budgets", "sts")
# Attributes of a boto3 client that send no request by themselves. `get_waiter` is left out on
# purpose: a waiter calls operations this scan would not see.
CLIENT_HELPERS = {"meta", "exceptions", "get_paginator", "can_paginate", "close"}
# Names that hold a client, or calls that return one.
CLIENT_NAMES = {"client", "conn", "submit_client", "budgets", "sts"}
CLIENT_FACTORIES = {"client", "get_conn", "get_client_type", "cloudwatch", "budgets"}
# Of those, the ones whose first argument names the service.
SERVICE_FACTORIES = {"client", "get_conn", "get_client_type"}
# Services whose IAM prefix is not their endpoint prefix.
IAM_PREFIXES = {"monitoring": "cloudwatch"}
# Operations whose IAM action has another name, which botocore's documentation does not give (AWS's
# "Actions defined by" pages for SQS and AWS Budgets do): the batch delete is authorized per message, and
# Budgets authorizes every read of a budget as ViewBudget.
ACTION_NAMES = {
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "budgets:DescribeBudget": "budgets:ViewBudget",
    "budgets:DescribeNotificationsForBudget": "budgets:ViewBudget",
}
# Actions AWS authorizes on top of an operation's own: tags sent with SubmitJob or RegisterJobDefinition
# are authorized as batch:TagResource ("tag on create").
IMPLIED_ACTIONS = {"batch:TagResource": ("SubmitJob", "RegisterJobDefinition")}
# Actions AWS cannot scope to a resource: a statement granting them must say "*" or they are refused.
UNSCOPABLE_ACTIONS = {
    "batch:DescribeJobs",
    "batch:ListJobs",
    "batch:DescribeJobQueues",
    "batch:DescribeJobDefinitions",
    "cloudwatch:DescribeAlarms",
    "sts:GetCallerIdentity",
}


# Reading the policy


def policy_statements(page: str) -> list[dict[str, Any]]:
    """The statements of the one ```json block of docs/iam.md."""
    blocks = re.findall(r"^```json\n(.*?)^```", page, flags=re.DOTALL | re.MULTILINE)
    assert len(blocks) == 1, f"docs/iam.md must hold exactly one ```json block (the policy), found {len(blocks)}"
    policy = json.loads(blocks[0])
    assert policy.get("Version") == "2012-10-17"
    statements: list[dict[str, Any]] = policy["Statement"]
    return statements


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def policy_actions(statements: Iterable[dict[str, Any]]) -> set[str]:
    actions: set[str] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow", f"{statement.get('Sid')}: the policy only allows"
        assert "NotAction" not in statement and "NotResource" not in statement
        actions.update(as_list(statement["Action"]))
    return actions


# Finding the calls


@dataclass(frozen=True)
class ClientUse:
    service: str | None  # the enclosing hook's client_type, if it has one
    name: str  # snake_case, as written in the code
    where: str


@dataclass
class Scan:
    uses: list[ClientUse]
    problems: list[str]
    services: set[str]  # every client_type / client("...") named


def is_client(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in CLIENT_NAMES
    if isinstance(node, ast.Attribute):
        return node.attr in CLIENT_NAMES
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in CLIENT_FACTORIES
    return False


def constant_str(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def named_services(tree: ast.AST) -> set[str]:
    """The AWS services a piece of code asks clients for: client_type="x", kwargs["client_type"] = "x",
    a hook's `default_client_type = "x"`, boto3.client("x"), get_client_type("x")."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.keyword) and node.arg in ("client_type", "service_name")) or (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "default_client_type"
        ):
            value = constant_str(node.value)
            found.add(value if value is not None else "<not a literal>")
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
            if constant_str(node.targets[0].slice) == "client_type":
                value = constant_str(node.value)
                found.add(value if value is not None else "<not a literal>")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SERVICE_FACTORIES
            and node.args
            and not isinstance(node.args[0], ast.Starred)  # *args only passes a name on
        ):
            value = constant_str(node.args[0])
            found.add(value if value is not None else "<not a literal>")
    return found


def scan_source(source: str, where: str) -> Scan:
    tree = ast.parse(source)
    scan = Scan(uses=[], problems=[], services=named_services(tree))

    def visit(node: ast.AST, service: str | None) -> None:
        if isinstance(node, ast.ClassDef):
            services = named_services(node)
            if len(services) == 1:
                service = next(iter(services))
        if isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Attribute) and function.attr == "get_paginator" and is_client(function.value):
                name = constant_str(node.args[0]) if node.args else None
                if name is None:
                    scan.problems.append(f"{where}:{node.lineno}: get_paginator() of a name that is not a literal")
                else:
                    scan.uses.append(ClientUse(service, name, f"{where}:{node.lineno}"))
            if isinstance(function, ast.Name) and function.id == "getattr" and node.args and is_client(node.args[0]):
                name = constant_str(node.args[1]) if len(node.args) > 1 else None
                if name is None:
                    scan.problems.append(f"{where}:{node.lineno}: getattr() on a client with a computed name")
                else:
                    scan.uses.append(ClientUse(service, name, f"{where}:{node.lineno}"))
        if isinstance(node, ast.Attribute) and is_client(node.value) and node.attr not in CLIENT_HELPERS:
            scan.uses.append(ClientUse(service, node.attr, f"{where}:{node.lineno}"))
        for child in ast.iter_child_nodes(node):
            visit(child, service)

    visit(tree, None)
    return scan


def provider_sources() -> Iterator[Path]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if not any(folder in path.parents for folder in NOT_THE_PROVIDER):
            yield path


@cache
def service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def operations(service: str) -> dict[str, str]:
    """snake_case name -> operation name, as boto3 names a client's methods."""
    return {xform_name(name): name for name in service_model(service).operation_names}


def iam_action(service: str, operation: str) -> str:
    """The IAM action AWS checks for `operation`: the one its documentation names, else its own name."""
    model = service_model(service)
    prefix = IAM_PREFIXES.get(model.endpoint_prefix, model.endpoint_prefix)
    documented = re.search(
        rf"requires <code>{prefix}:(\w+)</code> permission", model.operation_model(operation).documentation or ""
    )
    action = f"{prefix}:{documented.group(1) if documented else operation}"
    return ACTION_NAMES.get(action, action)


def resolve(uses: Iterable[ClientUse]) -> tuple[dict[str, set[str]], list[str]]:
    """IAM action -> where the code needs it; and what could not be resolved."""
    needed: dict[str, set[str]] = {}
    problems: list[str] = []
    for use in uses:
        candidates = [use.service] if use.service else [s for s in SERVICES if use.name in operations(s)]
        if len(candidates) != 1 or use.name not in operations(candidates[0]):
            problems.append(
                f"{use.where}: client.{use.name} is not an operation of "
                f"{use.service or ' or '.join(SERVICES)} (or is ambiguous): teach this test about it"
            )
            continue
        service = candidates[0]
        needed.setdefault(iam_action(service, operations(service)[use.name]), set()).add(use.where)
    return needed, problems


@cache
def scan_provider() -> tuple[dict[str, set[str]], list[str], set[str]]:
    uses: list[ClientUse] = []
    problems: list[str] = []
    services: set[str] = set()
    for path in provider_sources():
        scan = scan_source(path.read_text(), str(path.relative_to(ROOT)))
        uses += scan.uses
        problems += scan.problems
        services |= scan.services
    needed, unresolved = resolve(uses)
    return needed, problems + unresolved, services


def called_operations(needed: dict[str, set[str]]) -> set[str]:
    return {action.split(":", 1)[1] for action in needed}


# The scanner itself: it sees every way the package uses a client


# tag_resource is an operation of both services: the enclosing hook's client_type decides which.
LOGS_HOOK = """
class Hook:
    def __init__(self, **kwargs):
        kwargs["client_type"] = "logs"

    def tag(self):
        self.client.tag_resource()
"""


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("self.client.submit_job(**request)", {"batch:SubmitJob"}),
        (
            "call = self.client.cancel_jobs if a else self.client.terminate_jobs",
            {"batch:CancelJob", "batch:TerminateJob"},
        ),
        ("hook.client.get_paginator('list_jobs').paginate()", {"batch:ListJobs"}),
        ("self.client.get_paginator('filter_log_events')", {"logs:FilterLogEvents"}),
        ("getattr(self.conn, 'describe_job_queues')()", {"batch:DescribeJobQueues"}),
        ("boto3.client('batch').register_job_definition()", {"batch:RegisterJobDefinition"}),
        ("client.meta.events.register('before-send', f)", set()),
        (LOGS_HOOK, {"logs:TagResource"}),
    ],
)
def test_the_scan_finds_every_use_of_a_client(source: str, expected: set[str]) -> None:
    scan = scan_source(source, "example.py")
    needed, problems = resolve(scan.uses)
    assert problems == scan.problems == []
    assert set(needed) == expected


@pytest.mark.parametrize(
    "source",
    [
        "self.client.get_waiter('job_complete')",  # a waiter calls operations of its own
        "self.client.tag_resource()",  # in both services, and no client_type says which
        "self.client.no_such_operation()",
        "self.client.get_paginator(name)",
        "getattr(self.client, name)()",
    ],
)
def test_the_scan_reports_what_it_cannot_map(source: str) -> None:
    scan = scan_source(source, "example.py")
    _, problems = resolve(scan.uses)
    assert scan.problems + problems


# The policy against the code


def test_the_provider_talks_to_the_services_the_policy_covers_only() -> None:
    _, problems, services = scan_provider()
    assert problems == []
    assert services == set(SERVICES), "a client of another service needs its own permissions in docs/iam.md"


def test_every_action_the_code_calls_is_in_the_policy() -> None:
    needed, _, _ = scan_provider()
    granted = policy_actions(policy_statements(POLICY_PAGE.read_text()))
    missing = {action: sorted(where) for action, where in needed.items() if action not in granted}
    assert not missing, f"docs/iam.md does not grant what the code calls: {missing}"


def test_the_policy_grants_nothing_the_code_does_not_call() -> None:
    needed, _, _ = scan_provider()
    called = called_operations(needed)
    implied = {action for action, needers in IMPLIED_ACTIONS.items() if called & set(needers)}
    granted = policy_actions(policy_statements(POLICY_PAGE.read_text()))
    assert all("*" not in action and "?" not in action for action in granted), "no wildcard actions"
    extra = granted - set(needed) - implied
    assert not extra, f"docs/iam.md grants actions no code of the provider calls: {sorted(extra)}"


def test_the_bulk_stop_calls_are_authorized_as_the_single_job_actions() -> None:
    needed, _, _ = scan_provider()
    assert iam_action("batch", "CancelJobs") == "batch:CancelJob"
    assert iam_action("batch", "TerminateJobs") == "batch:TerminateJob"
    assert {"batch:CancelJob", "batch:TerminateJob"} <= set(needed)


def test_the_operator_tags_what_it_submits_so_tag_resource_is_needed() -> None:
    from airflow_batch_plus.operators.batch import BatchSubmitJobOperator

    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1, try_number=1, max_tries=0)
    operator = BatchSubmitJobOperator(task_id="t", job_queue="q", job_definition="jd")
    request = operator.build_request({"ti": ti})  # type: ignore[arg-type]
    assert request["tags"], "without tags on SubmitJob, batch:TagResource would not be needed"


def test_actions_are_scoped_where_aws_allows_it() -> None:
    for statement in policy_statements(POLICY_PAGE.read_text()):
        actions, resources = set(as_list(statement["Action"])), as_list(statement["Resource"])
        if actions & UNSCOPABLE_ACTIONS:
            assert actions <= UNSCOPABLE_ACTIONS and resources == ["*"], (
                f"{statement.get('Sid')}: {sorted(actions & UNSCOPABLE_ACTIONS)} take no resource ARN: "
                "keep them in a statement of their own with Resource '*'"
            )
        else:
            assert "*" not in resources, f"{statement.get('Sid')}: scope {sorted(actions)} to resource ARNs"
