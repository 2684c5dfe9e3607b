"""The daemon as a user runs it: a subprocess, files dropped with cp and rsync."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import SEEDS, Daemon, folder_files, query, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture
def daemon(tmp_path: Path, db_url: str) -> Iterator[Daemon]:
    d = Daemon(tmp_path / "data", db_url).start()
    yield d
    d.kill()


def articles(url: str) -> int:
    return int(query(url, "SELECT count(*) FROM articles"))


def test_seeds_dropped_with_cp_and_rsync_land_once(daemon: Daemon, db_url: str) -> None:
    inbox = daemon.data_dir / "inbox"
    seeds = sorted(SEEDS.glob("*.txt"))
    for seed in seeds[:3]:
        subprocess.run(["cp", str(seed), str(inbox)], check=True)
    if shutil.which("rsync"):
        subprocess.run(["rsync", *map(str, seeds[3:]), f"{inbox}/"], check=True)
    else:
        for seed in seeds[3:]:
            shutil.copy(seed, inbox)
    wait_until(lambda: articles(db_url) == 5, timeout=60)
    wait_until(lambda: len(folder_files(daemon.data_dir / "processed")) == 5)
    assert folder_files(inbox) == []
    assert folder_files(daemon.data_dir / "processing") == []
    assert len(daemon.event("ingest.file_done")) == 5
    line = daemon.event("ingest.file_done")[0]
    assert {"name", "doc_id", "sha256", "outcome", "reason", "ms"} <= set(line)

    # The same five again: nothing new is written, each is recorded as unchanged.
    for seed in seeds:
        subprocess.run(["cp", str(seed), str(inbox)], check=True)
    wait_until(lambda: len(daemon.event("ingest.file_done")) == 10, timeout=60)
    assert articles(db_url) == 5
    assert query(db_url, "SELECT sum(version) FROM articles") == 5
    assert query(db_url, "SELECT count(*) FROM ingest_ledger WHERE outcome = 'unchanged'") == 5
    assert len(folder_files(daemon.data_dir / "processed")) == 10
    assert daemon.stop() == 0
