"""The import contract of pyproject.toml holds (`lint-imports`): layers point one way.

errors/constants < schemas < analysis < projection < simulator < emulator < matter
< client < server < cli; the client never imports the server, nor the server the client.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports(root: Path = ROOT) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(exe), "--no-cache"], cwd=root, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def test_the_import_contract_holds():
    result = _lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_contract_refuses_an_upward_import(tmp_path):
    # the same package and contract, with the wire format importing the client
    shutil.copytree(ROOT / "oqtant", tmp_path / "oqtant",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    limits = tmp_path / "oqtant" / "schemas" / "limits.py"
    limits.write_text(limits.read_text() + "\nimport oqtant.client  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "oqtant.schemas.limits -> oqtant.client" in result.stdout


def test_the_contract_names_every_layer_of_the_package():
    # a package that no contract places could grow upward imports unnoticed
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    placed = {name.strip() for layer in layers for name in layer.replace(":", "|").split("|")}
    shims = {"oqtant.oqtant_client", "oqtant.login", "oqtant.jobfiles"}
    package = ROOT / "oqtant"
    top = {
        f"oqtant.{p.stem if p.is_file() else p.name}"
        for p in package.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    assert top - shims - placed == set()


def test_ruff_is_clean_on_the_package():
    # the rules of [tool.ruff] in pyproject.toml, the emulator included
    exe = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [str(exe), "check", "oqtant", "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_is_clean_on_the_files_it_checks():
    # [tool.mypy] in pyproject.toml names the files: the whole package
    exe = Path(sys.executable).with_name("mypy")
    result = subprocess.run(
        [str(exe), "--no-incremental"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


_PHYSICS = ("schemas", "analysis", "simulator", "emulator")
_MAX_MODULE_LINES = 700


def test_no_physics_module_is_over_700_lines():
    # a module past this size holds more than one thing: split it by what it does
    long = {
        str(path.relative_to(ROOT)): n
        for package in _PHYSICS
        for path in sorted((ROOT / "oqtant" / package).rglob("*.py"))
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > _MAX_MODULE_LINES
    }
    assert long == {}
