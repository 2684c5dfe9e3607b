"""The README's promises stay true: its commands, its settings table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.settings import Settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", README.split("\n## ")[0], flags=re.S)


def test_readme_opens_with_the_two_commands() -> None:
    run, tests = _commands()[:2]
    assert "newsdrop run" in run
    assert "pytest" in tests


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == _commands()[1]


def test_every_setting_is_documented() -> None:
    for name in Settings.model_fields:
        assert f"`NEWSDROP_{name.upper()}`" in README, name
