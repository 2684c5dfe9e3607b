"""Fixtures of the fault suite, and a summary of the numbers each scenario saw."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.helpers import FaultDaemon, Report, Scene

_REPORTS: list[tuple[str, dict[str, Any]]] = []


@pytest.fixture
def report(request: pytest.FixtureRequest, record_property: Callable[[str, Any], None]) -> Report:
    """Record a scenario's numbers: printed at the end of the run, appended to a file if asked."""

    def add(**numbers: Any) -> None:
        _REPORTS.append((request.node.name, numbers))
        for key, value in numbers.items():
            record_property(key, value)
        target = os.environ.get("NEWSDROP_FAULTS_REPORT")
        if target:
            with open(target, "a", encoding="utf-8") as out:
                out.write(json.dumps({"test": request.node.name, **numbers}) + "\n")

    return add


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line of numbers per fault scenario, so a run can be reported without a debugger."""
    if not _REPORTS:
        return
    terminalreporter.section("fault scenarios: numbers seen")
    for name, numbers in _REPORTS:
        terminalreporter.write_line(f"{name}: {json.dumps(numbers, sort_keys=True)}")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The daemon's data directory (its parent is the daemon's working directory)."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def daemons() -> Iterator[list[FaultDaemon]]:
    """Daemons a test starts; every one is killed at the end, whatever happened."""
    started: list[FaultDaemon] = []
    yield started
    for daemon in started:
        daemon.kill()


@pytest.fixture
def spawn(daemons: list[FaultDaemon], data_dir: Path, db_url: str) -> Callable[..., FaultDaemon]:
    """Start a daemon on the test's data dir (or `at`) and database (settings as keywords)."""

    def start(
        *,
        wait_ready: bool = True,
        url: str | None = None,
        at: Path | None = None,
        **settings: Any,
    ) -> FaultDaemon:
        daemon = FaultDaemon(at or data_dir, url or db_url, **settings)
        daemons.append(daemon)
        return daemon.start(wait_ready=wait_ready)

    return start


@pytest.fixture
def scene(
    tmp_path: Path,
    data_dir: Path,
    db_url: str,
    spawn: Callable[..., FaultDaemon],
    report: Report,
) -> Scene:
    """Everything a fault scenario needs, in one fixture."""
    return Scene(tmp_path, data_dir, db_url, spawn, report)
