"""docs/benchmarks.md's tables and plots, from the JSON the benchmarks wrote under benchmarks/results/.

The prose of docs/benchmarks.md is written by hand; everything between its `<!-- results:begin -->`
and `<!-- results:end -->` markers is replaced by the tables made here, and the plots (PNG, matplotlib)
go to docs/images/. So the numbers in the docs are always the ones a run produced.

    uv run python benchmarks/report.py [--results benchmarks/results] [--doc docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
LABELS = {"plus": "airflow-batch-plus", "plus-events": "airflow-batch-plus", "amazon": "amazon provider"}
MODES = {"plus": "polling", "plus-events": "events", "amazon": "polling (its waiter)"}
COLOURS = {"plus": "#1f77b4", "amazon": "#d62728"}
PLOTS = (
    ("calls_per_job_minute", "AWS calls per job-minute", "bench-calls.png", True),
    ("rss_kb_per_job", "resident memory per waiting job (KB)", "bench-memory.png", True),
    ("cpu_ms_per_job_minute", "CPU per job-minute (ms)", "bench-cpu.png", True),
    ("detect_p95_s", "detection latency p95 (s)", "bench-latency.png", False),
)


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def trigger_table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| provider | jobs | AWS calls / job-min | DescribeJobs vs floor | KB / waiting job | CPU ms / job-min "
        "| detect p50 / p95 (s) | events |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n"
    )
    body = ""
    for row in rows:
        statuses = ", ".join(f"{count} {status}" for status, count in row["statuses"].items())
        body += (
            f"| {LABELS[row['provider']]} | {fmt(row['jobs'])} | {fmt(row['calls_per_job_minute'], 3)} "
            f"| {fmt(row['describe_vs_floor'])}x | {fmt(row['rss_kb_per_job'], 1)} "
            f"| {fmt(row['cpu_ms_per_job_minute'], 1)} | {fmt(row['detect_p50_s'])} / {fmt(row['detect_p95_s'])} "
            f"| {statuses} |\n"
        )
    return head + body


def log_table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| provider | jobs | lines written | logged | duplicated | log lag p50 / p95 (s) | Logs calls: busiest second "
        "/ mean per s | detect p95 (s) | AWS calls / job-min | KB / waiting job | CPU ms / job-min |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    )
    body = ""
    for row in rows:
        body += (
            f"| {LABELS[row['provider']]} | {fmt(row['jobs'])} | {fmt(row['lines_written'])} "
            f"| {fmt(row['lines_logged'])} | {fmt(row['lines_duplicated'])} "
            f"| {fmt(row['log_lag_p50_s'])} / {fmt(row['log_lag_p95_s'])} "
            f"| {fmt(row['logs_calls_busiest_second'])} / {fmt(row['logs_calls_per_second'])} "
            f"| {fmt(row['detect_p95_s'])} | {fmt(row['calls_per_job_minute'], 3)} | {fmt(row['rss_kb_per_job'], 1)} "
            f"| {fmt(row['cpu_ms_per_job_minute'], 1)} |\n"
        )
    return head + body


THROUGHPUT_SETUPS = {
    "sqlite": "SQLite, LocalExecutor, 1 triggerer",
    "ha": "Postgres + Redis, CeleryExecutor (2 workers), 2 triggerers",
}


def throughput_rows(path: Path) -> list[dict[str, Any]]:
    """throughput.json's rows, one per profile, provider and ending: sqlite first, ours before the amazon
    provider's, tasks resuming in a worker before the triggerer ending them. A run saved without --append
    is one object, not a list."""
    loaded = json.loads(path.read_text())
    rows = [loaded] if isinstance(loaded, dict) else list(loaded)
    return sorted(
        rows,
        key=lambda row: (
            list(THROUGHPUT_SETUPS).index(row["profile"]),
            row["provider"] == "amazon",
            row["ending"] != "worker",
        ),
    )


THROUGHPUT_ENDINGS = {
    "worker": "tasks resume in a worker (end_from_trigger off)",
    "triggerer": "the triggerer ends tasks (end_from_trigger on)",
}


def throughput_setting(row: dict[str, Any]) -> str:
    """A column's heading: the profile, then ours with its ending or the amazon provider's operator."""
    if row["provider"] == "amazon":
        who = "amazon provider, deferrable `BatchOperator` (resumes in a worker)"
    else:
        who = f"ours: {THROUGHPUT_ENDINGS[row['ending']]}"
    return f"{THROUGHPUT_SETUPS[row['profile']]}; {who}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{fmt(value, 2)} s"


def _cpu(seconds: float | None) -> str:
    return "-" if seconds is None else f"{fmt(seconds, 1)} s"


def throughput_cpu_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """Where a run's CPU went, by part of its Airflow; "-" for a figure the row's run did not measure (a row
    from before profiles has only its triggerer's)."""
    triggerers = result.get("triggerers") or {}
    each = (
        ", ".join(f"{name} {_cpu(one['cpu_s'])} / {fmt(one['peak_mb'], 0)} MB" for name, one in triggerers.items())
        if len(triggerers) > 1
        else "(one triggerer)"
    )
    workers = result.get("workers_cpu_s")
    if workers is None:
        worker_text = "-"
    else:
        split = (
            ", ".join(f"{name} {_cpu(cpu)}" for name, cpu in workers.items())
            if result["profile"] == "ha"
            else "the scheduler's LocalExecutor processes"
        )
        per_task = result["worker_cpu_s"] / result["tasks"]
        worker_text = f"{_cpu(result['worker_cpu_s'])} ({split}; {fmt(per_task, 2)} s per task)"
    servers = result.get("servers_cpu_s") or {}
    others = result.get("others_cpu_s")
    load = (result.get("load_before") or [None])[0], (result.get("load_after") or [None])[0]
    return [
        (
            "triggerers' CPU / peak memory, together",
            f"{_cpu(result['triggerer_cpu_s'])} / {fmt(result['triggerer_peak_mb'], 0)} MB",
        ),
        ("each triggerer: CPU / peak memory", each),
        ("workers' CPU (submit, and resume where a worker ends the task)", worker_text),
        (
            "Postgres / Redis CPU",
            f"{_cpu(servers['postgres'])} / {_cpu(servers['redis'])}" if "postgres" in servers else "-",
        ),
        (
            "scheduler / API server / DAG processor CPU",
            " / ".join(_cpu(others[name]) for name in ("scheduler", "api-server", "dag-processor")) if others else "-",
        ),
        ("load avg (1 min) before / after", f"{fmt(load[0])} / {fmt(load[1])}" if load[0] is not None else "-"),
    ]


def throughput_measures(result: dict[str, Any]) -> list[tuple[str, str]]:
    """One run's figures, (measure, value), in the table's order."""
    calls = ", ".join(f"{action} {count:,}" for action, count in result["batch_calls"].items())
    states = ", ".join(f"{count:,} {state}" for state, count in result["final_states"].items())
    slots = fmt(result["parallelism"])
    if result["profile"] == "ha":
        slots += f" ({fmt(-(-result['parallelism'] // 2))} per Celery worker)"
    accounting = result.get("accounting")
    return [
        ("mapped tasks", fmt(result["tasks"])),
        ("task slots ([core] parallelism)", slots),
        ("job length / poll interval", f"{result['job_s']} s / {result['poll_s']} s"),
        ("run", f"{result['run_state']} ({states})"),
        ("trigger → last task done", f"{fmt(result['wall_s'], 1)} s ({fmt(result['tasks_per_minute'], 1)} tasks/min)"),
        ("worker runs of the tasks", fmt(result["worker_runs"]) if result.get("worker_runs") is not None else "-"),
        (
            "job end → task end, p50 / p95",
            " / ".join(_seconds(result.get(f"job_end_to_task_end_{q}_s")) for q in ("p50", "p95")),
        ),
        (
            "first task deferred / all deferred or done",
            f"{result['first_deferred_s']} s / {result['all_deferred_s']} s",
        ),
        ("most tasks deferred at once", fmt(result["most_deferred_at_once"])),
        ("AWS calls the local Batch served", calls),
        *throughput_cpu_rows(result),
        (
            "jobs in Batch / tasks with exactly one job / none / several",
            f"{fmt(accounting['jobs'])} / {fmt(accounting['tasks_with_one_job'])} / "
            f"{fmt(accounting['tasks_without_a_job'])} / {fmt(accounting['tasks_with_several_jobs'])}"
            if accounting
            else "-",
        ),
        (
            "tasks whose state differs from their job's",
            fmt(accounting["task_state_differs_from_job"]) if accounting else "-",
        ),
        (
            "job lines written / in task logs / duplicated",
            f"{fmt(result['lines_written'])} / {fmt(result['lines_logged'])} / {fmt(result['lines_duplicated'])}",
        ),
    ]


def throughput_table(rows: list[dict[str, Any]]) -> str:
    """The profiles side by side: a column per run, a line per measure."""
    columns = [dict(throughput_measures(row)) for row in rows]
    head = "| measure | " + " | ".join(throughput_setting(row) for row in rows) + " |\n"
    head += "| --- |" + " --- |" * len(rows) + "\n"
    body = "".join(
        f"| {name} | " + " | ".join(column[name] for column in columns) + " |\n"
        for name, _ in throughput_measures(rows[0])
    )
    return head + body


def throughput_commands(rows: list[dict[str, Any]]) -> str:
    """The throughput.py commands that make these rows (what run_all.py's `throughput` step runs)."""
    lines: list[str] = []
    for row in rows:
        line_s = row.get("line_s") or row["job_s"] * row["tasks"] // max(1, row["lines_written"])
        who = (
            "--provider amazon --amazon-python .bench/amazon/bin/python"
            if row["provider"] == "amazon"
            else f"--end-from-trigger {'on' if row['ending'] == 'triggerer' else 'off'}"
        )
        command = (
            f"uv run python benchmarks/throughput.py --tasks {row['tasks']} --profile {row['profile']} "
            f"--job-seconds {row['job_s']} --line-seconds {line_s} --poll {row['poll_s']} "
            f"--parallelism {row['parallelism']} {who} --out benchmarks/results/throughput.json"
        )
        lines.append(command + (" --append" if lines else ""))
    return "```\n" + "\n".join(lines) + "\n```\n"


def import_table(result: dict[str, Any]) -> str:
    head = "| provider | module | ms on top of `airflow.sdk` |\n| --- | --- | ---: |\n"
    return head + "".join(
        f"| {LABELS[row['provider']]} | `{row['module']}` | {fmt(row['ms'], 1)} |\n" for row in result["imports"]
    )


def targets_table(triggers: list[dict[str, Any]], imports: dict[str, Any] | None) -> str:
    """Issue 6's targets against the largest N of this run, ours: each measured value and whether it is met."""
    ours = [row for row in triggers if row["provider"] == "plus"]
    jobs = max(row["jobs"] for row in ours)
    waiting = next(row for row in ours if row["jobs"] == jobs and not row["log_rate"])
    logging_row = next((row for row in ours if row["jobs"] == jobs and row["log_rate"]), None)
    poll = waiting["poll_s"]
    checks: list[tuple[str, str, bool]] = [
        (
            "DescribeJobs within 1.5x the floor",
            f"{fmt(waiting['describe_vs_floor'])}x",
            waiting["describe_vs_floor"] <= 1.5,
        ),
        ("at most 40 KB per waiting job", f"{fmt(waiting['rss_kb_per_job'], 1)} KB", waiting["rss_kb_per_job"] <= 40),
        (
            "at most 5 ms CPU per job-minute",
            f"{fmt(waiting['cpu_ms_per_job_minute'], 1)} ms",
            waiting["cpu_ms_per_job_minute"] <= 5,
        ),
        (
            f"detection p95 within poll + 1 s ({poll + 1} s)",
            f"{fmt(waiting['detect_p95_s'])} s",
            waiting["detect_p95_s"] is not None and waiting["detect_p95_s"] <= poll + 1,
        ),
    ]
    if logging_row:
        lines = logging_row["lines_logged"], logging_row["lines_written"], logging_row["lines_duplicated"]
        lag = logging_row["log_lag_p95_s"]
        checks += [
            (
                "with logs: every line logged once",
                f"{fmt(lines[0])} of {fmt(lines[1])}, {fmt(lines[2])} duplicated",
                lines[0] == lines[1] and lines[2] == 0,
            ),
            (
                f"with logs: log lag p95 within 3 polls ({3 * poll} s)",
                f"{fmt(lag)} s",
                lag is not None and lag <= 3 * poll,
            ),
            (
                "with logs: at most 5 CloudWatch Logs calls in any second",
                fmt(logging_row["logs_calls_busiest_second"]),
                logging_row["logs_calls_busiest_second"] <= 5,
            ),
        ]
    operator = next(
        (row for row in (imports or {}).get("imports", []) if row["module"] == "airflow_batch_plus.operators.batch"),
        None,
    )
    if operator:
        checks.append(
            ("importing the operator module: at most 50 ms", f"{fmt(operator['ms'], 1)} ms", operator["ms"] <= 50)
        )
    head = f"| target (ours, {fmt(jobs)} jobs, {poll} s polling) | measured | met |\n| --- | ---: | --- |\n"
    return head + "".join(f"| {name} | {value} | {'yes' if met else '**no**'} |\n" for name, value, met in checks)


def scale_table(rows: list[dict[str, Any]]) -> str:
    """Rows of N jobs spread over P trigger processes: joined figures, and the load the run started under."""
    head = (
        "| provider | jobs | processes | AWS calls / job-min | DescribeJobs vs floor (vs P pollers' floor) "
        "| KB / waiting job | CPU ms / job-min | detect p50 / p95 (s) | events | load avg (1 min) before / after |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n"
    )
    body = ""
    for row in rows:
        statuses = ", ".join(f"{count} {status}" for status, count in row["statuses"].items())
        unfinished = row["jobs"] - row["finished"]
        if unfinished:
            statuses += f", {unfinished:,} not fired in time"
        before, after = row.get("load_before") or [None], row.get("load_after") or [None]
        body += (
            f"| {LABELS[row['provider']]} | {fmt(row['jobs'])} | {fmt(row['processes'])} "
            f"| {fmt(row['calls_per_job_minute'], 3)} "
            f"| {fmt(row['describe_vs_floor'])}x ({fmt(row['describe_vs_process_floor'])}x) "
            f"| {fmt(row['rss_kb_per_job'], 1)} | {fmt(row['cpu_ms_per_job_minute'], 1)} "
            f"| {fmt(row['detect_p50_s'])} / {fmt(row['detect_p95_s'])} | {statuses} "
            f"| {fmt(before[0])} / {fmt(after[0])} |\n"
        )
    if any(row["finished"] < row["jobs"] for row in rows):
        body += (
            "\nA row with jobs *not fired in time* did not keep up: its triggers were cancelled at the run's "
            "timeout (job length + 4 polls + 120 s), and its figures cover only the jobs the server was asked "
            "about by then.\n"
        )
    return head + body


def scale_targets_table(rows: list[dict[str, Any]]) -> str:
    """The issue's targets across triggerers, against ours at the largest N over the most processes."""
    ours = [row for row in rows if row["provider"] == "plus" and not row["log_rate"]]
    if not ours:
        return ""
    row = max(ours, key=lambda row: (row["processes"], row["jobs"]))
    poll = row["poll_s"]
    checks = [
        (
            "DescribeJobs at most 1.2x the floor overall",
            f"{fmt(row['describe_vs_floor'])}x",
            row["describe_vs_floor"] <= 1.2,
        ),
        ("at most 10 KB per waiting job", f"{fmt(row['rss_kb_per_job'], 1)} KB", row["rss_kb_per_job"] <= 10),
        (
            "at most 3 ms CPU per job-minute",
            f"{fmt(row['cpu_ms_per_job_minute'], 1)} ms",
            row["cpu_ms_per_job_minute"] <= 3,
        ),
        (
            f"detection p95 within poll + 1 s ({poll + 1} s)",
            f"{fmt(row['detect_p95_s'])} s",
            row["detect_p95_s"] is not None and row["detect_p95_s"] <= poll + 1,
        ),
        ("every job's event", f"{fmt(row['finished'])} of {fmt(row['jobs'])}", row["finished"] == row["jobs"]),
    ]
    head = (
        f"| target (ours, {fmt(row['jobs'])} jobs over {row['processes']} processes, {poll} s polling) "
        "| measured | met |\n| --- | ---: | --- |\n"
    )
    return head + "".join(f"| {name} | {value} | {'yes' if met else '**no**'} |\n" for name, value, met in checks)


def scale_commands(rows: list[dict[str, Any]]) -> str:
    """The triggers.py commands that make these rows (what run_all.py's `scale` step runs), one per provider."""
    lines: list[str] = []
    for provider in dict.fromkeys(row["provider"] for row in rows):
        mine = [row for row in rows if row["provider"] == provider]
        jobs = " ".join(str(jobs) for jobs in dict.fromkeys(row["jobs"] for row in mine))
        processes = " ".join(str(count) for count in dict.fromkeys(row["processes"] for row in mine))
        rates = " ".join(fmt(rate, 0) for rate in dict.fromkeys(row["log_rate"] for row in mine))
        command = (
            f"uv run python benchmarks/triggers.py --jobs {jobs} --processes {processes} --poll {mine[0]['poll_s']} "
            f"--job-seconds {fmt(mine[0]['job_s'], 0)} --log-rates {rates} --providers {provider}"
        )
        if provider == "amazon":
            command += " --amazon-python .bench/amazon/bin/python"
        command += " --out benchmarks/results/triggers_scale.json"
        if lines:
            command += " --append"
        lines.append(command)
    return "```\n" + "\n".join(lines) + "\n```\n"


def _faults(row: dict[str, Any]) -> str:
    faults = row.get("event_faults")
    if not faults:
        return "-"
    if not any(faults.values()):
        return "none"
    return ", ".join(f"{fmt(rate * 100, 0)} % {name}" for name, rate in faults.items())


def _mode(row: dict[str, Any]) -> str:
    if row.get("reconcile_s"):
        confirm = f", confirm wait {fmt(float(row['confirm_s']), 1)} s" if row.get("confirm_s") is not None else ""
        return f"events (reconcile {fmt(float(row['reconcile_s']), 0)} s{confirm})"
    return MODES[row["provider"]]


def _detection(row: dict[str, Any]) -> str:
    return f"{fmt(row['detect_p50_s'])} / {fmt(row['detect_p95_s'])} / {fmt(row.get('detect_max_s'))}"


def events_table(rows: list[dict[str, Any]]) -> str:
    """Event mode beside polling and the amazon provider: calls, detection and outcomes, a row per run."""
    head = (
        "| provider | mode | jobs | ends spread over | event faults | DescribeJobs / job-min (vs polling floor) "
        "| SQS calls / job-min (Receive + DeleteBatch) | AWS calls / job-min | detect p50 / p95 / max (s) "
        "| wrong outcomes | fired early | undetected | real ends | CPU ms / job-min | KB / waiting job |\n"
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |\n"
    )
    body = ""
    for row in rows:
        ends = ", ".join(f"{count:,} {status}" for status, count in row["real_final"].items())
        sqs = row["sqs_calls_per_job_minute"]
        sqs_text = (
            f"{fmt(sqs, 3)} ({fmt(row['receive_per_job_minute'], 3)} + {fmt(row['delete_batch_per_job_minute'], 3)})"
            if sqs
            else "0"
        )
        body += (
            f"| {LABELS[row['provider']]} | {_mode(row)} | {fmt(row['jobs'])} | {fmt(row['jitter_s'], 0)} s "
            f"| {_faults(row)} "
            f"| {fmt(row['describe_calls_per_job_minute'], 3)} ({fmt(row['describe_vs_floor'])}x) | {sqs_text} "
            f"| {fmt(row['calls_per_job_minute'], 3)} | {_detection(row)} | {fmt(row['wrong_outcomes'])} "
            f"| {fmt(row['fired_early'])} | {fmt(row['undetected'])} | {ends} "
            f"| {fmt(row['cpu_ms_per_job_minute'], 1)} | {fmt(row['rss_kb_per_job'], 1)} |\n"
        )
    return head + body


def events_targets_table(rows: list[dict[str, Any]]) -> str:
    """Issue 17's targets, ours in event mode at each N: clean for detection and calls, with faults for outcomes.

    Checked on the run's main setting, that of its first event-mode row (the same reconciliation interval,
    jobs ending within one poll of each other); rows of other settings are in the table below."""
    events = [row for row in rows if row["provider"] == "plus-events"]
    if not events:
        return ""
    main = [
        row
        for row in events
        if (row["reconcile_s"], row["jitter_s"], row.get("confirm_s"))
        == (events[0]["reconcile_s"], events[0]["jitter_s"], events[0].get("confirm_s"))
    ]
    checks: list[tuple[str, str, bool]] = []
    for jobs in sorted({row["jobs"] for row in main}):
        mine = [row for row in main if row["jobs"] == jobs]
        clean = next((row for row in mine if not any((row.get("event_faults") or {}).values())), None)
        if clean is not None:
            p95 = clean["detect_p95_s"]
            checks += [
                (f"{fmt(jobs)} jobs: detection p95 at most 1.5 s", f"{fmt(p95)} s", p95 is not None and p95 <= 1.5),
                (
                    f"{fmt(jobs)} jobs: DescribeJobs at most 0.1x the polling floor",
                    f"{fmt(clean['describe_vs_floor'])}x",
                    clean["describe_vs_floor"] is not None and clean["describe_vs_floor"] <= 0.1,
                ),
            ]
        for row in mine:
            if not any((row.get("event_faults") or {}).values()):
                continue
            checks += [
                (
                    f"{fmt(jobs)} jobs, {_faults(row)}: 0 wrong outcomes",
                    f"{fmt(row['wrong_outcomes'])} wrong, {fmt(row['fired_early'])} early",
                    row["wrong_outcomes"] == 0 and row["fired_early"] == 0,
                ),
                (
                    f"{fmt(jobs)} jobs, {_faults(row)}: every job detected",
                    f"{fmt(row['jobs'] - row['undetected'])} of {fmt(row['jobs'])}",
                    row["undetected"] == 0,
                ),
            ]
    head = (
        f"| target (ours, event mode: reconcile {fmt(float(main[0]['reconcile_s']), 0)} s, ends within "
        f"{fmt(main[0]['jitter_s'], 0)} s) | measured | met |\n| --- | ---: | --- |\n"
    )
    return head + "".join(f"| {name} | {value} | {'yes' if met else '**no**'} |\n" for name, value, met in checks)


def events_commands(rows: list[dict[str, Any]]) -> str:
    """The triggers.py commands that made these rows (what run_all.py's `events` step runs), in the order they ran."""
    lines: list[str] = []
    for command in dict.fromkeys(row.get("command", "") for row in rows):
        line = f"uv run python benchmarks/triggers.py {command}"
        if "amazon" in command.split("--providers", 1)[-1].split("--", 1)[0].split():
            line += " --amazon-python .bench/amazon/bin/python"
        line += " --out benchmarks/results/triggers_events.json" + (" --append" if lines else "")
        lines.append(line)
    return "```\n" + "\n".join(lines) + "\n```\n"


def plot(rows: list[dict[str, Any]], images: Path) -> list[Path]:
    """One PNG per measure, both providers against N; the file names written."""
    images.mkdir(parents=True, exist_ok=True)
    written = []
    for key, title, name, log_scale in PLOTS:
        figure, axes = plt.subplots(figsize=(5.5, 3.6), dpi=110)
        for provider in ("plus", "amazon"):
            points = sorted(
                (row["jobs"], row[key]) for row in rows if row["provider"] == provider and row[key] is not None
            )
            if points:
                xs, ys = zip(*points, strict=True)
                axes.plot(xs, ys, marker="o", label=LABELS[provider], color=COLOURS[provider])
        poll = rows[0]["poll_s"] if rows else 0
        if key == "calls_per_job_minute" and rows:
            floor = 60 / poll / 100
            axes.axhline(
                floor,
                linestyle=":",
                color="grey",
                linewidth=1,
                label=f"floor: 1 DescribeJobs per 100 jobs per poll ({floor:.2f})",
            )
        if key == "detect_p95_s" and rows:
            axes.axhline(
                poll + 1, linestyle="--", color="grey", linewidth=1, label=f"target: poll + 1 s ({poll + 1} s)"
            )
        if log_scale:
            axes.set_yscale("log")
        axes.set_xlabel("concurrently deferred jobs")
        axes.set_title(title, fontsize=10)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(images / name)
        plt.close(figure)
        written.append(images / name)
    return written


def render(results: Path, images: Path, doc_dir: Path) -> str:
    """The markdown that goes between the markers."""
    triggers = json.loads((results / "triggers.json").read_text())
    without_logs = [row for row in triggers if not row["log_rate"]]
    with_logs = [row for row in triggers if row["log_rate"]]
    first = triggers[0]
    imports_path = results / "imports.json"
    imports = json.loads(imports_path.read_text()) if imports_path.exists() else None
    parts = [
        "### Targets\n",
        targets_table(triggers, imports),
        f"### Waiting: N jobs, {first['poll_s']} s polling, jobs of {fmt(first['job_s'], 0)} s plus up to one poll\n",
        trigger_table(without_logs),
    ]
    pictures = plot(without_logs, images)
    links = (f"![{path.stem}]({os.path.relpath(path, doc_dir)})" for path in pictures)
    parts.append(" ".join(links) + "\n")
    if with_logs:
        parts += [
            f"### Following logs: each job prints {fmt(with_logs[0]['log_rate'], 0)} lines per second\n",
            log_table(with_logs),
        ]
    throughput = results / "throughput.json"
    if throughput.exists():
        throughput_runs = throughput_rows(throughput)
        parts += [
            "### Through a real Airflow: mapped tasks end to end\n",
            throughput_table(throughput_runs),
            throughput_commands(throughput_runs),
        ]
    scale = results / "triggers_scale.json"
    if scale.exists():
        scale_rows = json.loads(scale.read_text())
        top = max(scale_rows, key=lambda row: (row["processes"], row["jobs"]))
        parts += [
            f"### Across triggerers: N jobs over P trigger processes, {top['poll_s']} s polling\n",
            scale_targets_table(scale_rows),
            scale_table(scale_rows),
            scale_commands(scale_rows),
        ]
    events = results / "triggers_events.json"
    if events.exists():
        event_rows = json.loads(events.read_text())
        one = event_rows[0]
        parts += [
            (
                f"### Event-driven waiting: job state change events from SQS, beside polling ({one['poll_s']} s), "
                f"jobs of {fmt(one['job_s'], 0)} s plus up to {fmt(one['jitter_s'], 0)} s\n"
            ),
            events_targets_table(event_rows),
            events_table(event_rows),
            events_commands(event_rows),
        ]
    if imports:
        parts += ["### DAG parse: import cost\n", import_table(imports)]
    return "\n".join(part.rstrip("\n") + "\n" for part in parts)


def update_doc(doc: Path, generated: str) -> None:
    text = doc.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{doc} has no {BEGIN} … {END} section to fill: add the two markers where the tables go")
    doc.write_text(pattern.sub(lambda _: f"{BEGIN}\n{generated}{END}", text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--images", type=Path, default=None, help="where the PNGs go (default: beside the doc)")
    args = parser.parse_args()
    images = args.images or args.doc.parent / "images"
    update_doc(args.doc, render(args.results, images, args.doc.parent))
    print(f"updated {args.doc} and the plots in {images}")


if __name__ == "__main__":
    main()
