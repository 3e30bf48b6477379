"""Airflow finds this provider by itself, and what it finds validates (a bad entry breaks every component)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points, version
from importlib.util import find_spec
from pathlib import Path

import jsonschema
import pytest

import airflow_batch_plus
from airflow_batch_plus import get_provider_info

DISTRIBUTION = "airflow-batch-plus"


def _installed_airflow_dir() -> Path:
    # find_spec locates the package without importing it: importing airflow reads (and writes to) AIRFLOW_HOME.
    spec = find_spec("airflow")
    assert spec is not None and spec.submodule_search_locations, "apache-airflow is not installed"
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A throwaway AIRFLOW_HOME, so importing airflow in this process leaves ~/airflow alone."""
    home = tmp_path_factory.mktemp("airflow_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_HOME", str(home))
        patch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        yield home


def test_entry_point_points_at_get_provider_info() -> None:
    (entry,) = [
        item
        for item in entry_points(group="apache_airflow_provider")
        if item.dist is not None and item.dist.name == DISTRIBUTION
    ]
    assert entry.load() is get_provider_info


def test_provider_info_validates_against_airflows_own_schema() -> None:
    schema = json.loads((_installed_airflow_dir() / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema, cls=jsonschema.validators.validator_for(schema))
    # Airflow raises for every provider when these disagree with the distribution's metadata.
    assert info["package-name"] == DISTRIBUTION
    assert info["versions"] == [airflow_batch_plus.__version__] == [version(DISTRIBUTION)]
    assert get_provider_info() is not info, "Airflow writes into the dictionary: hand out a new one each call"


def test_providers_manager_discovers_it(airflow_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    from airflow.providers_manager import ProvidersManager

    with caplog.at_level(logging.WARNING):
        providers = ProvidersManager().providers  # type: ignore[no-untyped-call]  # Airflow leaves __init__ untyped

    provider = providers[DISTRIBUTION]
    assert provider.version == airflow_batch_plus.__version__
    assert provider.data["package-name"] == DISTRIBUTION
    assert provider.data["name"] == get_provider_info()["name"]
    ours = [record.getMessage() for record in caplog.records if "batch" in record.getMessage().lower()]
    assert not ours, ours


def test_airflow_providers_list_shows_it(tmp_path: Path) -> None:
    # The `airflow` command of this environment, as a user runs it (`python -m airflow` if there is no script).
    script = Path(sys.executable).with_name("airflow")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "airflow"]
    result = subprocess.run(
        [*command, "providers", "list", "--output", "json"],
        env={**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # Log lines may come before the JSON, some starting with "[" too ("[warning  ] Please define the 'cli'
    # section...", Airflow 3.3.0 with the amazon provider 9.6.0): the JSON is the line that parses as a list.
    (listed,) = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("[{")]
    providers = {item["package_name"]: item for item in listed}
    assert providers[DISTRIBUTION]["version"] == airflow_batch_plus.__version__


def test_every_module_it_lists_imports() -> None:
    """Airflow imports each listed module; a typo would surface only in a deployment's logs."""
    import importlib

    info = get_provider_info()
    modules = [
        module
        for section in ("hooks", "operators", "sensors", "triggers")
        for entry in info.get(section, ())
        for module in entry["python-modules"]
    ]
    assert {
        "airflow_batch_plus.hooks.batch",
        "airflow_batch_plus.operators.batch",
        "airflow_batch_plus.operators.stop",
        "airflow_batch_plus.sensors.batch",
    } <= set(modules)
    for module in modules:
        importlib.import_module(module)
    for link in info["extra-links"]:
        module, name = link.rsplit(".", 1)
        assert getattr(importlib.import_module(module), name)().name


def test_every_batch_plus_option_the_code_reads_is_declared_and_every_declared_one_is_read() -> None:
    """`airflow config list` and the docs show the options the provider declares; an option read but not
    declared would be invisible, and one declared but not read a knob that does nothing."""
    import re

    package = Path(airflow_batch_plus.__file__).parent
    read = {
        name
        for path in package.rglob("*.py")
        for name in re.findall(r'CONFIG_SECTION,\s*"([a-z_]+)"', path.read_text())
    }
    (section,) = get_provider_info()["config"].values()
    assert read == set(section["options"])
