"""The jobs-only tour (`demo --jobs-only`): three jobs, three different endings, as a new user sees them."""

from __future__ import annotations

from airflow_batch_plus.demo.tour import run_tour


def test_demo_shows_success_with_live_lines_a_cancel_and_a_terminate() -> None:
    printed: list[str] = []
    final = run_tour(say=printed.append)

    assert final["hello"]["status"] == "SUCCEEDED"
    assert final["hello"]["container"]["exitCode"] == 0
    hello_lines = [line for line in printed if line.startswith("    hello | ")]
    assert hello_lines == [f"    hello | hello line {i} of 6" for i in range(1, 7)] + ["    hello | done"]
    # Live: the first line was shown before the job finished.
    assert printed.index("    hello | hello line 1 of 6") < printed.index(
        "[hello] SUCCEEDED (Essential container in task exited)"
    )

    queued = final["queued"]
    assert queued["status"] == "FAILED"
    assert queued["statusReason"] == "Cancelled by the demo while RUNNABLE"
    assert queued["attempts"] == []  # never started
    assert "[queued] RUNNABLE" in printed

    worker = final["worker"]
    assert worker["status"] == "FAILED"
    assert worker["statusReason"] == "Terminated by the demo while RUNNING"
    assert worker["container"]["exitCode"] == 143
    assert "    worker | caught SIGTERM: saving a checkpoint and exiting" in printed


def test_the_demo_keeps_its_two_vcpus_after_another_local_batch_in_the_same_process() -> None:
    """moto's backends live as long as the process: a bootstrap of 'local-queue' with 256 vCPUs by an earlier
    test used to be reused by the demo, whose third job then started at once instead of waiting to be
    cancelled (a CI flake, twice)."""
    from airflow_batch_plus.local import LocalBatchConfig, LocalBatchServer

    with LocalBatchServer(port=0, config=LocalBatchConfig.fast()) as server:
        assert server.local_batch is not None
        env = server.local_batch.bootstrap(max_vcpus=256)  # reuses the default names if they exist
        server.local_batch.client("batch").update_compute_environment(
            computeEnvironment=env.compute_environment_name, computeResources={"maxvCpus": 256}
        )

    final = run_tour(say=lambda line: None)

    assert final["queued"]["status"] == "FAILED"
    assert final["queued"]["statusReason"] == "Cancelled by the demo while RUNNABLE"
