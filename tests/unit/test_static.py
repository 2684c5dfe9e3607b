"""The house rules, checked: ruff lint and format, mypy strict, import-linter layers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.unit, pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = BIN / name
    if found.exists():
        return str(found)
    which = shutil.which(name)
    if which is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'")
    return which


def _run(*args: str) -> None:
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_lint() -> None:
    _run(_tool("ruff"), "check", "service", "tests", "bench")


def test_ruff_format() -> None:
    _run(_tool("ruff"), "format", "--check", "service", "tests", "bench")


def test_mypy_strict() -> None:
    _run(_tool("mypy"), "service")


def test_import_layers() -> None:
    _run(_tool("lint-imports"))
