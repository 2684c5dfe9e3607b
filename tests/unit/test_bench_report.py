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


def _timed(rate: float, speeds: list[float] | None) -> dict[str, object]:
    run: dict[str, object] = {
        "rate": rate,
        "rate_after_first_commit": rate,
        "first_commit_after_start": 1.0,
        "system_cpu_busy": 0.9,
        "cpu_us_per_file": {},
    }
    if speeds is not None:
        run["machine_speed"] = speeds
    return run


def test_a_ratio_shows_how_fast_the_machine_ran_for_the_figure_against_its_baseline() -> None:
    run = _run()
    results = {
        "parse_alone": _timed(800, [1_000, 1_000]),
        "naive": _timed(400, [900, 1_100]),
        "backlog": _timed(1_000, [700, 900]),
        "replay": _timed(4_000, [800, 800]),
    }
    rows = {row.figure.strip(): row for row in run.build_rows(results, targets=True)}
    assert rows["vs parse alone (1 process)"].speed == pytest.approx(0.8)
    assert rows["vs naive loop"].speed == pytest.approx(0.8)
    assert rows["replay found at start-up (all unchanged)"].speed == pytest.approx(1.0)
    # Only the speed is shown: the ratio and the verdict stay as measured.
    assert rows["vs naive loop"].ratio == pytest.approx(2.5)
    assert rows["vs naive loop"].met is True
    assert rows["backlog rate (daemon.started -> all moved)"].speed is None


def test_a_baseline_without_probes_gives_no_speed_and_no_column(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = _run()
    results = {"naive": _timed(400, None), "backlog": _timed(1_000, [700, 900])}
    rows = run.build_rows(results, targets=True)
    assert all(row.speed is None for row in rows)
    run.print_table(rows)
    assert "machine speed" not in capsys.readouterr().out


def test_the_table_prints_the_machine_speed_column_and_what_it_means(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = _run()
    results = {"naive": _timed(400, [1_000, 1_000]), "backlog": _timed(1_000, [600, 600])}
    run.print_table(run.build_rows(results, targets=True))
    out = capsys.readouterr().out
    header, _, _, naive_line, *rest = out.splitlines()
    assert "machine speed" in header
    assert naive_line.split()[-1] == "0.60"
    assert rest[-2].startswith("machine speed: ")


def test_the_speed_probe_times_its_sample_and_a_scenario_gets_one_on_each_side() -> None:
    run = _run()
    calls: list[str] = []

    def probe() -> float:
        calls.append("probe")
        return float(len(calls))

    def scenario() -> dict[str, object]:
        calls.append("scenario")
        return {"rate": 1.0}

    result = run.probed(probe, scenario)
    assert calls == ["probe", "scenario", "probe"]
    assert result["machine_speed"] == [1.0, 3.0]


def test_the_speed_probe_parses_its_sample_and_passes_over_rejected_bundles(
    tmp_path: Path,
) -> None:
    run = _run()
    seed = next((Path(__file__).resolve().parents[1] / "fixtures" / "seeds").glob("*.txt"))
    (tmp_path / seed.name).write_bytes(seed.read_bytes())
    (tmp_path / "002_00000000000000ff.txt").write_bytes(b"")  # rejected: empty
    probe = run.SpeedProbe(tmp_path, [seed.name, "002_00000000000000ff.txt"])
    assert probe.names == [seed.name, "002_00000000000000ff.txt"]
    assert probe() > 0
