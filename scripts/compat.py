"""`make compat`: the unit and integration suites against the built wheel, installed as a deployment installs it.

For each combination below: build the wheel and sdist (`uv build`), make a fresh virtual environment with
plain `python -m venv`, `pip install` the wheel with its `local` extra, the combination's pins and the
`test` dependency group, then run tests/unit and tests/integration from a copy of tests/ in that
environment's directory, where the source tree is not importable. A root conftest.py in the copy fails the
run unless `airflow_batch_plus` is imported from the environment's site-packages.

Combinations (README, "Supported versions"):
- lowest: Python 3.11 and every floor pyproject.toml claims, pinned exactly (`apache-airflow>=3.3` becomes
  `apache-airflow==3.3`, and so on); pip picks the rest, as for a deployment without a constraints file.
- newest: Python 3.12 and whatever pip resolves today: the newest Airflow 3 and amazon provider on PyPI.

Environments and logs stay under .compat/<combination>/ (removed and made again on every run).
Usage: python scripts/compat.py [--only lowest|newest] [--suites unit integration] [--uv UV] [-- pytest arguments]
"""

from __future__ import annotations

import argparse
import glob
import os
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".compat"
# Tests of the repository rather than of the installed package: they read the source tree and docs.
REPOSITORY_TESTS = ["tests/unit/test_iam_policy.py", "tests/unit/test_packaging.py"]
PYTEST_ARGS = ["-n", "2", "--dist", "loadfile", "-p", "no:cacheprovider", "-q"]
# Lines kept in the logs but not echoed: pip's notes about an index configured on this machine that is absent.
QUIET = ("WARNING: Location ",)
REPORTED = [
    "apache-airflow",
    "apache-airflow-core",
    "apache-airflow-task-sdk",
    "apache-airflow-providers-amazon",
    "boto3",
    "botocore",
    "moto",
    "structlog",
]

INSTALLED_CHECK = '''"""Written by scripts/compat.py: the tests run against the installed wheel, not a source tree."""
import sys
from pathlib import Path

import airflow_batch_plus

_HERE = Path(airflow_batch_plus.__file__).resolve()
if Path(sys.prefix).resolve() not in _HERE.parents or "site-packages" not in _HERE.parts:
    raise RuntimeError(f"airflow_batch_plus comes from {_HERE}, not from the environment {sys.prefix}")
print(f"compat: airflow_batch_plus from {_HERE}", file=sys.stderr)
'''


@dataclass
class Combination:
    name: str
    python: str
    pins: list[str] = field(default_factory=list)


def project() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def floors(requirements: list[str]) -> list[str]:
    """`name==floor` for every requirement with a `>=` lower bound (extras dropped: they are installed anyway)."""
    pinned = []
    for text in requirements:
        requirement = Requirement(text)
        lower = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if lower:
            pinned.append(f"{requirement.name}=={lower[0]}")
    return pinned


def combinations() -> list[Combination]:
    meta = project()["project"]
    claimed_python = meta["requires-python"].removeprefix(">=")
    lowest = floors(meta["dependencies"]) + floors(meta["optional-dependencies"]["local"])
    return [Combination("lowest", claimed_python, lowest), Combination("newest", "3.12")]


def find_python(version: str) -> str:
    """An interpreter for `version`: $COMPAT_PYTHON_<3_11>, pythonX.Y on PATH, pyenv's, or uv's."""
    if explicit := os.environ.get(f"COMPAT_PYTHON_{version.replace('.', '_')}"):
        return explicit
    candidates = [shutil.which(f"python{version}") or ""]
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{version}*/bin/python{version}"), reverse=True)
    not_a_venv = "import sys; sys.exit(sys.prefix != sys.base_prefix)"  # `uv run` puts .venv/bin on PATH
    for candidate in candidates:
        if (
            candidate
            and subprocess.run([candidate, "-c", not_a_venv], check=False, capture_output=True).returncode == 0
        ):
            return candidate
    found = subprocess.run(
        ["uv", "python", "find", "--no-project", "--system", version], check=False, capture_output=True, text=True
    )
    if found.returncode == 0 and found.stdout.strip():
        return found.stdout.strip()
    sys.exit(f"compat: no Python {version} found; set COMPAT_PYTHON_{version.replace('.', '_')}=/path/to/python")


def clean_environment(venv: Path) -> dict[str, str]:
    """The environment for commands in `venv`: its bin first, nothing of ours or of uv's project venv."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "UV_PROJECT"}}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def run(
    command: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, log: Path | None = None
) -> int:
    print(f"compat$ {shlex.join(command)}", flush=True)
    if log is None:
        return subprocess.run(command, check=False, env=env, cwd=cwd).returncode
    with log.open("w") as out:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            if not line.startswith(QUIET):
                sys.stdout.write(line)
        return process.wait()


def build(uv: list[str]) -> Path:
    dist = WORK / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    if run([*uv, "build", "--quiet", "--out-dir", str(dist)], cwd=ROOT) != 0:
        sys.exit("compat: uv build failed")
    wheels = list(dist.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def check(combination: Combination, wheel: Path, args: argparse.Namespace) -> tuple[bool, str]:
    """Install and test one combination; (passed, a summary line)."""
    home = WORK / combination.name
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    venv = home / "venv"
    started = time.monotonic()
    python = find_python(combination.python)
    if run([python, "-m", "venv", str(venv)]) != 0:
        return False, "python -m venv failed"
    env = clean_environment(venv)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    test_group = project()["dependency-groups"]["test"]
    if run([*pip, "install", "--quiet", "--upgrade", "pip"], env=env) != 0:
        return False, "pip upgrade failed"
    install = [*pip, "install", "--quiet", f"{wheel}[local]", *combination.pins, *test_group]
    if run(install, env=env, log=home / "pip-install.log") != 0:
        return False, f"pip install failed (.compat/{combination.name}/pip-install.log)"
    if run([*pip, "check"], env=env) != 0:
        return False, "pip check failed"
    versions = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.metadata as m, platform, sys; "
            f"print('Python ' + platform.python_version(), *(d + ' ' + m.version(d) for d in {REPORTED!r}), sep=', ')",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"compat: {combination.name}: {versions}", flush=True)
    installed = time.monotonic() - started

    # The tests, the example DAGs they run and pytest's settings; not the package.
    copy = home / "run"
    copy.mkdir()
    shutil.copytree(ROOT / "tests", copy / "tests", ignore=shutil.ignore_patterns("__pycache__", "e2e"))
    shutil.copytree(ROOT / "example_dags", copy / "example_dags", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    (copy / "conftest.py").write_text(INSTALLED_CHECK)
    ignored = [f"--ignore={path}" for path in REPOSITORY_TESTS]
    suites = [f"tests/{suite}" for suite in args.suites]
    command = [str(venv / "bin" / "python"), "-m", "pytest", *suites, *ignored]
    code = run([*command, *PYTEST_ARGS, *args.pytest_args], env=env, cwd=copy, log=home / "pytest.log")
    tested = time.monotonic() - started - installed
    result = "passed" if code == 0 else f"FAILED (exit {code}, .compat/{combination.name}/pytest.log)"
    return code == 0, f"{combination.name}: {result}; {versions}; install {installed:.0f} s, tests {tested:.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=[c.name for c in combinations()], action="append")
    parser.add_argument("--uv", default="uv", help="how to run uv (the Makefile passes its own)")
    parser.add_argument("--suites", nargs="+", choices=["unit", "integration"], default=["unit", "integration"])
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments, after --")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    wheel = build(shlex.split(args.uv))
    summaries = []
    ok = True
    for combination in combinations():
        if args.only and combination.name not in args.only:
            continue
        passed, summary = check(combination, wheel, args)
        ok &= passed
        summaries.append(summary)
    print("\ncompat summary:", *summaries, sep="\n  ")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
