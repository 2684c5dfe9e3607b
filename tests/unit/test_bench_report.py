"""bench/run.py's report over several rounds: each figure from its median round, whole."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.unit

BENCH = Path(__file__).resolve().parents[2] / "bench"


@functools.cache
def _run() -> ModuleType:
    """bench/run.py (a script beside its own `corpus` module, not a package)."""
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while it executes
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


def _round(backlog: float, naive: float, after_first_commit: float) -> list[object]:
    run = _run()
    ratio = backlog / naive
    return [
        run.Row("backlog", backlog, "files/s", "", None, ">= 1,000/s", backlog >= 1000),
        run.Row("vs naive", backlog, "files/s", f"{naive:.0f}/s", ratio, ">= 2.5x", ratio >= 2.5),
        run.Row("after first commit", after_first_commit, "files/s"),
    ]


def test_each_figure_comes_whole_from_its_median_round() -> None:
    run = _run()
    rows = run.median_rows(
        [_round(900, 400, 1_100), _round(1_020, 500, 1_000), _round(980, 380, 1_200)]
    )
    backlog, naive, after = rows
    assert (backlog.value, backlog.met, backlog.met_in) == (980, False, "1/3")
    assert backlog.spread == "900-1,020"
    # The median ratio (2.25x) is the first round's: its value and baseline go with it.
    assert (naive.value, naive.baseline, naive.ratio) == (900, "400/s", 900 / 400)
    assert naive.spread == "2.04-2.58x"
    assert (naive.met, naive.met_in) == (False, "1/3")
    assert (after.value, after.met, after.spread) == (1_100, None, "1,000-1,200")


def test_a_target_met_in_most_rounds_is_met() -> None:
    run = _run()
    rows = run.median_rows(
        [_round(1_010, 400, 1_100), _round(990, 500, 1_000), _round(1_050, 380, 1_200)]
    )
    assert (rows[0].value, rows[0].met, rows[0].met_in) == (1_010, True, "2/3")
