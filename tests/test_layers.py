"""Imports point one way: cli/ above tui/ above pictures/ above core/; core/ never imports the player or the CLI.
And every package folder is one the install ships.

Read from the source with ast, so an import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"core": 0, "pictures": 1, "tui": 2, "cli": 3}  # a package may import its own layer and those below


def imported_modules(file: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "llada_tui" and parts[1] in LAYERS else None


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_no_import_points_up(package: str) -> None:
    upward = [
        f"{file.relative_to(ROOT)} imports {module}"
        for file in sorted((ROOT / package).rglob("*.py"))
        for module in sorted(imported_modules(file))
        if (layer := layer_of(module)) is not None and LAYERS[layer] > LAYERS[package]
    ]
    assert not upward, upward


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_the_runtime_needs_no_training_or_test_code(package: str) -> None:
    outside = [
        f"{file.relative_to(ROOT)} imports {module}"
        for file in sorted((ROOT / package).rglob("*.py"))
        for module in sorted(imported_modules(file))
        if module.split(".")[0] in ("training", "tests", "benchmarks")
    ]
    assert not outside, outside


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    file = tmp_path / "x.py"
    file.write_text("def f():\n    from llada_tui.tui.app import run_player\n")
    assert layer_of(next(iter(imported_modules(file)))) == "tui"


def test_every_package_folder_is_installed() -> None:
    tomllib = pytest.importorskip("tomllib")
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    roots = {folder: name for name, folder in setuptools["package-dir"].items()}
    folders = {
        ".".join([roots[layer], *init.parent.relative_to(ROOT / layer).parts])
        for layer in LAYERS
        for init in (ROOT / layer).rglob("__init__.py")
    }
    assert folders <= set(setuptools["packages"]), sorted(folders - set(setuptools["packages"]))
