"""`bench/run.py --smoke`: every benchmark scenario runs end to end and misses no bundle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "run.py"


def test_bench_smoke_completes_with_no_bundle_missed(pg_admin_url: str, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--smoke",
            "--database-url",
            pg_admin_url,
            "--work-dir",
            str(tmp_path / "work"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=110,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["missed_total"] == 0
    assert len(report["rounds"]) == 1
    results = report["rounds"][0]
    for scenario in ("backlog", "replay", "latency", "latency_polling", "burst"):
        assert results[scenario]["missed"] == 0, scenario
        assert results[scenario]["exit_code"] == 0, scenario
    for scenario in ("parse_alone", "naive", "backlog", "replay", "replay_live", "burst"):
        assert min(results[scenario]["machine_speed"]) > 0, scenario
    assert results["backlog"]["processed_files"] == results["backlog"]["files"]
    assert results["replay"]["outcomes"]["unchanged"] == results["replay"]["files"]
    assert {"small", "large"} <= set(results["memory"])
    assert "bundles missed: 0" in proc.stdout
    assert seconds < 60, f"smoke took {seconds:.0f} s"
