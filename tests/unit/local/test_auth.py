"""The local Batch server serves only requests signed with its key pair, refusing others as AWS does."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError

from airflow_batch_plus.local import AccessKey, LocalBatchConfig, LocalBatchServer
from airflow_batch_plus.local.auth import check_signature


@pytest.fixture(scope="module")
def server() -> Iterator[LocalBatchServer]:
    with LocalBatchServer(port=0, config=LocalBatchConfig.fast()) as served:
        assert served.local_batch is not None
        served.local_batch.bootstrap()
        yield served


def _client(server: LocalBatchServer, service: str = "batch", key: AccessKey | None = None, **config: Any) -> Any:
    key = key or server.key
    return boto3.client(
        service,
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=Config(retries={"max_attempts": 1}, **config),
    )


def _after_signing(client: Any, change: Callable[[AWSPreparedRequest], None]) -> Any:
    """Alter each request once signed, on its way out: what a man in the middle or a forger would send."""

    def tamper(request: AWSPreparedRequest, **_: Any) -> None:
        change(request)

    client.meta.events.register_first("before-send.*.*", tamper)
    return client


def _refused(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response["Error"]["Code"], refused.value.response["ResponseMetadata"]["HTTPStatusCode"]


def _submit(client: Any) -> Callable[[], Any]:
    return lambda: client.submit_job(jobName="intruder", jobQueue="local-queue", jobDefinition="local-job")


def test_a_request_signed_with_the_servers_key_is_served(server: LocalBatchServer) -> None:
    assert [queue["jobQueueName"] for queue in _client(server).describe_job_queues()["jobQueues"]] == ["local-queue"]


def test_an_unsigned_request_is_refused(server: LocalBatchServer) -> None:
    unsigned = _client(server, signature_version=UNSIGNED)
    assert _refused(_submit(unsigned)) == ("MissingAuthenticationTokenException", 403)


def test_a_request_signed_with_another_key_is_refused(server: LocalBatchServer) -> None:
    stranger = _client(server, key=AccessKey.generate())
    assert _refused(_submit(stranger)) == ("UnrecognizedClientException", 403)


def test_the_right_key_id_with_the_wrong_secret_is_refused(server: LocalBatchServer) -> None:
    guesser = _client(server, key=AccessKey(server.key.access_key_id, "a guess"))
    assert _refused(_submit(guesser)) == ("InvalidSignatureException", 403)


def test_a_tampered_signature_is_refused(server: LocalBatchServer) -> None:
    def flip_last_digit(request: AWSPreparedRequest) -> None:
        authorization = request.headers["Authorization"]
        if isinstance(authorization, bytes):
            authorization = authorization.decode()
        request.headers["Authorization"] = authorization[:-1] + ("0" if authorization[-1] != "0" else "1")

    forged = _after_signing(_client(server), flip_last_digit)
    assert _refused(_submit(forged)) == ("InvalidSignatureException", 403)


def test_a_body_changed_after_signing_is_refused(server: LocalBatchServer) -> None:
    def other_command(request: AWSPreparedRequest) -> None:
        assert isinstance(request.body, bytes)
        request.body = request.body.replace(b'"intruder"', b'"intrudeX"')

    forged = _after_signing(_client(server), other_command)
    assert _refused(_submit(forged)) == ("InvalidSignatureException", 403)


def test_refused_requests_never_reach_the_local_batch(server: LocalBatchServer) -> None:
    before, refused_before = server.calls, server.refused
    _refused(_submit(_client(server, key=AccessKey.generate())))
    _refused(_submit(_client(server, signature_version=UNSIGNED)))
    assert (server.calls, server.refused - refused_before) == (before, 2)
    named = {"filters": [{"name": "JOB_NAME", "values": ["intrude*"]}]}
    assert _client(server).list_jobs(jobQueue="local-queue", **named)["jobSummaryList"] == []


def test_cloudwatch_logs_refusals_use_its_json_protocol_codes(server: LocalBatchServer) -> None:
    """A JSON-protocol service (X-Amz-Target) answers 400 with `__type`, as CloudWatch Logs does."""
    assert "logGroups" in _client(server, "logs").describe_log_groups()
    stranger = _client(server, "logs", key=AccessKey.generate())
    assert _refused(stranger.describe_log_groups) == ("UnrecognizedClientException", 400)
    guesser = _client(server, "logs", key=AccessKey(server.key.access_key_id, "a guess"))
    assert _refused(guesser.describe_log_groups) == ("InvalidSignatureException", 400)
    unsigned = _client(server, "logs", signature_version=UNSIGNED)
    assert _refused(unsigned.describe_log_groups) == ("MissingAuthenticationTokenException", 400)


def test_query_protocol_refusals_use_its_codes(server: LocalBatchServer) -> None:
    """STS speaks the query protocol (form body, XML errors): InvalidClientTokenId and SignatureDoesNotMatch."""
    assert _client(server, "sts").get_caller_identity()["Account"] == "123456789012"
    stranger = _client(server, "sts", key=AccessKey.generate())
    assert _refused(stranger.get_caller_identity) == ("InvalidClientTokenId", 403)
    guesser = _client(server, "sts", key=AccessKey(server.key.access_key_id, "a guess"))
    assert _refused(guesser.get_caller_identity) == ("SignatureDoesNotMatch", 403)
    unsigned = _client(server, "sts", signature_version=UNSIGNED)
    assert _refused(unsigned.get_caller_identity) == ("MissingAuthenticationToken", 403)


def test_a_signature_older_than_fifteen_minutes_is_refused(server: LocalBatchServer) -> None:
    """Checked on the verifier directly: botocore always signs with the current time."""
    request = AWSRequest(
        method="POST",
        url=f"{server.endpoint_url}/v1/describejobs",
        data=b'{"jobs": []}',
        headers={"Host": f"127.0.0.1:{server.port}"},
    )
    from botocore.auth import SigV4Auth
    from botocore.credentials import Credentials

    SigV4Auth(Credentials(server.key.access_key_id, server.key.secret_access_key), "batch", "us-east-1").add_auth(
        request
    )
    headers = list(request.headers.items())
    now = datetime.now(UTC)
    check = lambda at: check_signature(server.key, "POST", request.url, headers, request.body, now=at)  # noqa: E731
    assert check(now) is None
    expired = check(now + timedelta(minutes=16))
    assert expired is not None and expired.kind == "expired"


def test_the_amazon_providers_hook_shows_its_usual_error(
    server: LocalBatchServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.amazon.aws.hooks.batch_client import BatchClientHook

    for name, value in server.client_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", '{"conn_type": "aws"}')
    assert BatchClientHook(aws_conn_id="aws_default").client.describe_job_queues()["jobQueues"]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "a guess")
    with pytest.raises(ClientError, match="InvalidSignatureException"):
        BatchClientHook(aws_conn_id="aws_default").client.describe_job_queues()


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_the_aws_cli_with_made_up_keys_is_refused(server: LocalBatchServer) -> None:
    """As a new user tried it: the AWS CLI with made-up keys used to submit a job that ran."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    command = ["aws", "batch", "describe-job-queues", "--output", "json"]
    made_up = {"AWS_ACCESS_KEY_ID": "AKIAMADEUP0000000000", "AWS_SECRET_ACCESS_KEY": "made-up"}
    refused = subprocess.run(
        command,
        env={**base, **server.client_environment(), **made_up},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0
    assert "UnrecognizedClientException" in refused.stderr, refused.stderr
    served = subprocess.run(
        command, env={**base, **server.client_environment()}, capture_output=True, text=True, check=False
    )
    assert served.returncode == 0 and "local-queue" in served.stdout, served.stderr
