"""Permission denied and a full disk: transient causes are retried with backoff, never lost."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.helpers import (
    FaultDaemon,
    Scene,
    assert_exactly_once,
    tally,
    wait_all_committed,
    wait_committed,
)
from tests.support import folder_files, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(90)]

NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
RETRY_CAP = 1.0
WINDOW = 3.0


@pytest.fixture
def nobody_data_dir() -> Iterator[Path]:
    """A data dir an unprivileged user owns, below folders that user may traverse."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the daemon as an unprivileged user")
    base = Path(tempfile.mkdtemp(prefix="newsdrop-faults-"))
    base.chmod(0o755)
    data = base / "data"
    data.mkdir()
    os.chown(data, NOBODY, NOBODY)
    yield data
    shutil.rmtree(base, ignore_errors=True)


def quiet(daemon: FaultDaemon, retry_lines: tuple[str, ...]) -> tuple[int, float]:
    """Retry log lines and CPU seconds of the daemon over WINDOW seconds."""

    def count() -> int:
        return sum(len(daemon.event(name)) for name in retry_lines)

    lines, cpu = count(), daemon.cpu_seconds()
    time.sleep(WINDOW)
    return count() - lines, daemon.cpu_seconds() - cpu


def test_unreadable_files_wait_with_backoff_and_recover_when_fixed(
    scene: Scene, nobody_data_dir: Path
) -> None:
    data = nobody_data_dir
    daemon = scene.spawn(at=data, prefix=AS_NOBODY, retry_max_seconds=RETRY_CAP, settle_seconds=0.2)
    inbox = data / "inbox"
    good = scene.stage(10, tag="perm-good")
    bad = scene.stage(3, tag="perm-bad", start=10)
    own_unreadable, foreign_unreadable, foreign_readable = bad
    for name in [*good, own_unreadable]:
        os.chown(scene.staging / name, NOBODY, NOBODY)  # the producer runs as the daemon's user
    (scene.staging / own_unreadable).chmod(0)
    (scene.staging / foreign_unreadable).chmod(0o600)
    # Readable but root's: with fs.protected_hardlinks=1 its link() fails with EPERM.
    (scene.staging / foreign_readable).chmod(0o644)
    names = [*good, *bad]
    for name in names:
        os.rename(scene.staging / name, inbox / name)

    # The readable ones flow past the two that cannot be taken; those wait, without a tight loop.
    wait_committed(scene.db_url, good, timeout=30)
    wait_until(lambda: len(daemon.event("inbox.claim_failed")) >= 3, timeout=10)
    retries, cpu = quiet(daemon, ("inbox.claim_failed",))
    assert daemon.proc is not None
    assert daemon.proc.poll() is None, daemon.tail()
    assert 1 <= retries <= len(bad) * (WINDOW / RETRY_CAP + 2), retries
    assert cpu < 0.2 * WINDOW, cpu
    assert {line["errno"] for line in daemon.event("inbox.claim_failed")} == {"EACCES", "EPERM"}
    assert folder_files(data / "quarantine") == []
    assert sorted(p.name for p in folder_files(inbox)) == bad

    # Fixed modes: read for our own file; read and write for root's, since with
    # fs.protected_hardlinks=1 only the owner or a writer may hard-link a file.
    (inbox / own_unreadable).chmod(0o644)
    (inbox / foreign_unreadable).chmod(0o666)
    (inbox / foreign_readable).chmod(0o666)
    wait_all_committed(scene.db_url, data, names, timeout=30)
    assert daemon.stop() == 0
    t = tally(scene.db_url, data, names)
    scene.report(
        retries_in_window=retries,
        cpu_seconds_in_window=round(cpu, 3),
        window_seconds=WINDOW,
        claim_failures_logged=len(daemon.event("inbox.claim_failed")),
        **t.as_dict(),
    )
    assert_exactly_once(t, articles=len(names))
