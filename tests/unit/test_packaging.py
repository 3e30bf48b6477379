"""What a user gets from PyPI: the wheel carries py.typed and the license, the sdist the license and none of
the repository's benchmark results or screenshots. Builds both from this checkout with `uv build` (~2 s).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APACHE_2 = (
    "Apache License",
    "Version 2.0, January 2004",
    "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
)
NOT_IN_SDIST = ("benchmarks/results/", "docs/images/")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(wheel, sdist) built from this checkout."""
    uv = os.environ.get("UV") or shutil.which("uv")  # `uv run` sets UV to its own executable
    assert uv, "uv is needed to build the package (run the tests through `make unit` or `uv run pytest`)"
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([uv, "build", "--quiet", "--out-dir", str(out), str(ROOT)], check=True, timeout=120)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist


def test_the_license_file_is_the_apache_2_license_the_metadata_names() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert all(part in text for part in APACHE_2)


def test_the_wheel_carries_py_typed_and_the_license(built: tuple[Path, Path]) -> None:
    wheel, _ = built
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert "airflow_batch_plus/py.typed" in names, "type checkers ignore a package without py.typed (PEP 561)"
        (license_name,) = [name for name in names if name.endswith(".dist-info/licenses/LICENSE")]
        license_text = archive.read(license_name).decode()
        (metadata,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        headers = archive.read(metadata).decode().split("\n\n", 1)[0].splitlines()
    assert all(part in license_text for part in APACHE_2)
    assert "License-Expression: Apache-2.0" in headers
    assert "License-File: LICENSE" in headers


def test_the_sdist_carries_the_license_and_no_benchmark_results_or_screenshots(built: tuple[Path, Path]) -> None:
    _, sdist = built
    with tarfile.open(sdist) as archive:
        members = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
        top = archive.getnames()[0].split("/", 1)[0]
        license_file = archive.extractfile(f"{top}/LICENSE")
        assert license_file is not None
        license_text = license_file.read().decode()
    assert all(part in license_text for part in APACHE_2)
    assert "airflow_batch_plus/py.typed" in members
    assert "airflow_batch_plus/__init__.py" in members
    unwanted = sorted(name for name in members if name.startswith(NOT_IN_SDIST) or name.endswith((".png", ".jpg")))
    assert not unwanted, f"the sdist carries files no user needs: {unwanted}"
