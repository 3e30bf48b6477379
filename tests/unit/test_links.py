"""Console links follow the region's partition (botocore's partitions, our table of console hosts)."""

from __future__ import annotations

import pytest

from airflow_batch_plus import links
from airflow_batch_plus.jobs import LogStream

STREAM = LogStream("/aws/batch/job", "local-job/default/abc123", "attempt 1")


@pytest.mark.parametrize(
    ("region", "console"),
    [
        ("us-east-1", "https://us-east-1.console.aws.amazon.com"),
        ("eu-west-3", "https://eu-west-3.console.aws.amazon.com"),
        ("cn-north-1", "https://console.amazonaws.cn"),
        ("cn-northwest-1", "https://console.amazonaws.cn"),
        ("us-gov-west-1", "https://console.amazonaws-us-gov.com"),
        ("us-gov-east-1", "https://console.amazonaws-us-gov.com"),
    ],
)
def test_every_link_is_on_the_console_of_the_region_s_partition(region: str, console: str) -> None:
    batch = f"{console}/batch/home?region={region}#"
    logs = f"{console}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/$252Faws$252Fbatch$252Fjob"
    assert links.job_url(region, "job-1") == f"{batch}jobs/detail/job-1"
    assert links.queue_url(region, "my queue") == f"{batch}queues/detail/my%20queue"
    assert links.job_definition_url(region, "def:3") == f"{batch}job-definition/detail/def%3A3"
    assert links.log_group_url(region, "/aws/batch/job") == logs
    assert links.log_stream_url(region, STREAM) == f"{logs}/log-events/local-job$252Fdefault$252Fabc123"


def test_the_partition_comes_from_botocore() -> None:
    assert [links.partition_of(region) for region in ("us-east-1", "cn-north-1", "us-gov-west-1")] == [
        "aws",
        "aws-cn",
        "aws-us-gov",
    ]
    assert links.partition_of("us-iso-east-1") == "aws-iso"


def test_a_partition_without_a_public_console_gets_no_link_rather_than_a_wrong_one() -> None:
    assert links.console_base("us-iso-east-1") is None
    assert links.job_url("us-iso-east-1", "job-1") == ""
    assert links.log_stream_url("us-iso-east-1", STREAM) == ""
    assert links.log_links("us-iso-east-1", [STREAM]) == [
        {"label": "attempt 1", "group": STREAM.group, "stream": STREAM.name, "url": ""}
    ]


def test_a_region_botocore_does_not_know_is_taken_as_the_commercial_partition() -> None:
    assert links.console_base("local") == "https://local.console.aws.amazon.com"


def test_stream_links_stop_at_the_cap() -> None:
    streams = [LogStream("/aws/batch/job", f"s/default/{index}", f"[{index}]") for index in range(50)]
    listed = links.log_links("us-east-1", streams)
    assert len(listed) == links.MAX_LOG_LINKS == 20
    assert [link["label"] for link in listed] == [f"[{index}]" for index in range(20)]


class Ti:
    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.pushed: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        if self.fail:
            raise RuntimeError("the API server is down")
        self.pushed[key] = value


def test_saving_a_link_that_fails_warns_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    assert links.persist({"ti": Ti(fail=True)}, links.JOB_LINK, "https://example") is False
    assert "Could not save the console link _link_BatchJobLink" in caplog.text
    ti = Ti(fail=False)
    assert links.persist({"ti": ti}, links.JOB_LINK, "https://example") is True
    assert ti.pushed == {"_link_BatchJobLink": "https://example"}
