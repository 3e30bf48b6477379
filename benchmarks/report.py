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
LABELS = {"plus": "airflow-batch-plus", "amazon": "amazon provider"}
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


def throughput_table(result: dict[str, Any]) -> str:
    calls = ", ".join(f"{action} {count:,}" for action, count in result["batch_calls"].items())
    states = ", ".join(f"{count:,} {state}" for state, count in result["final_states"].items())
    rows = [
        ("mapped tasks", fmt(result["tasks"])),
        ("job length / poll interval", f"{result['job_s']} s / {result['poll_s']} s"),
        ("run", f"{result['run_state']} ({states})"),
        ("trigger → last task done", f"{fmt(result['wall_s'], 1)} s ({fmt(result['tasks_per_minute'], 1)} tasks/min)"),
        (
            "first task deferred / all deferred or done",
            f"{result['first_deferred_s']} s / {result['all_deferred_s']} s",
        ),
        ("most tasks deferred at once", fmt(result["most_deferred_at_once"])),
        ("AWS calls the local Batch served", calls),
        (
            "triggerer CPU / peak memory",
            f"{fmt(result['triggerer_cpu_s'], 1)} s / {fmt(result['triggerer_peak_mb'], 0)} MB",
        ),
        *(
            [
                (
                    "jobs in Batch / tasks with exactly one job / none / several",
                    f"{fmt(result['accounting']['jobs'])} / {fmt(result['accounting']['tasks_with_one_job'])} / "
                    f"{fmt(result['accounting']['tasks_without_a_job'])} / "
                    f"{fmt(result['accounting']['tasks_with_several_jobs'])}",
                ),
                (
                    "tasks whose state differs from their job's",
                    fmt(result["accounting"]["task_state_differs_from_job"]),
                ),
            ]
            if "accounting" in result
            else []
        ),
        (
            "job lines written / in task logs / duplicated",
            f"{fmt(result['lines_written'])} / {fmt(result['lines_logged'])} / {fmt(result['lines_duplicated'])}",
        ),
    ]
    return "| measure | value |\n| --- | --- |\n" + "".join(f"| {name} | {value} |\n" for name, value in rows)


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
        parts += [
            "### Through a real Airflow: mapped tasks end to end\n",
            throughput_table(json.loads(throughput.read_text())),
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
