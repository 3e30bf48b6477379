"""The README's demo: three jobs, three different endings, as a new user sees them."""

from __future__ import annotations

from airflow_batch_plus.local.demo import run_demo


def test_demo_shows_success_with_live_lines_a_cancel_and_a_terminate() -> None:
    printed: list[str] = []
    final = run_demo(say=printed.append)

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
