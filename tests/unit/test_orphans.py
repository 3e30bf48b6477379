"""SupervisorWatch: a process knows when the process that supervised it has died without it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from airflow_batch_plus.orphans import SupervisorWatch

# A "supervisor" forks a "task" and is SIGKILLed; the task, now an orphan, reports what its watch says.
SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, time
    from airflow_batch_plus.orphans import SupervisorWatch

    out = sys.argv[1]
    if os.fork() == 0:
        watch = SupervisorWatch()
        before = watch.lost()
        os.kill(watch.parent_pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not watch.lost() and time.monotonic() < deadline:
            time.sleep(0.01)
        # Written whole under another name, then renamed: the test never reads a half-written report.
        with open(out + ".part", "w") as report:
            report.write(f"{before} {watch.lost()}")
        os.replace(out + ".part", out)
        os._exit(0)
    time.sleep(30)
    """
)


def test_a_process_whose_supervisor_was_killed_knows_it_and_one_whose_supervisor_lives_does_not(
    tmp_path: Path,
) -> None:
    report = tmp_path / "report"
    subprocess.run([sys.executable, "-c", SCRIPT, str(report)], timeout=30, check=False)
    deadline = time.monotonic() + 30  # the orphan writes its report after its supervisor is gone
    while not report.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert report.exists(), "the orphan wrote no report within 30 s"
    assert report.read_text() == "False True"
    assert SupervisorWatch().lost() is False
