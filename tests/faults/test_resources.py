"""Permission denied and a full disk: transient causes are retried with backoff, never lost."""

from __future__ import annotations

import errno
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.helpers import (
    FaultDaemon,
    Scene,
    assert_exactly_once,
    tally,
    wait_all_committed,
    wait_committed,
    write_bundles,
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


@pytest.fixture
def small_fs() -> Iterator[Path]:
    """A tiny tmpfs of our own (8 MiB, 400 inodes) that a test can fill up."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    base = Path(tempfile.mkdtemp(prefix="newsdrop-faults-fs-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,nr_inodes=400", "tmpfs", str(base)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        base.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield base
    subprocess.run(["umount", "-l", str(base)], check=False)
    base.rmdir()


def until_full(step: Callable[[int], object]) -> int:
    """Call step(0), step(1), ... until the file system is full (ENOSPC); returns the count."""
    for n in itertools.count():
        try:
            step(n)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            return n
    raise AssertionError("unreachable")


def fill_blocks(folder: Path) -> Path:
    """Use up every data block of folder's file system (inodes and links are left)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        until_full(lambda _: os.write(fd, b"\0" * (1 << 16)))
    finally:
        os.close(fd)
    return filler


def fill_inodes(folder: Path) -> list[Path]:
    """Use up every inode of folder's tmpfs (each hard link takes one there too)."""
    count = until_full(lambda n: (folder / f"inode-{n}").touch())
    return [folder / f"inode-{n}" for n in range(count)]


def test_full_disk_waits_with_backoff_loses_nothing_and_recovers(
    scene: Scene, small_fs: Path
) -> None:
    data = small_fs / "data"
    daemon = scene.spawn(at=data, retry_max_seconds=RETRY_CAP, settle_seconds=0.2)
    staging = small_fs / "staging"
    good = sorted(write_bundles(staging, 20, tag="full", start=10))
    later = sorted(write_bundles(staging, 10, tag="full-later", start=30))
    # Valid names, first in batch order: a bad name would sort before them and fail first.
    empty, binary = "00001_00000000000000ff.txt", "00002_00000000000000fe.txt"
    (staging / empty).write_bytes(b"")
    (staging / binary).write_bytes(b"\0\1\2" * 100)
    bad = [empty, binary]
    first = [*good, *bad]
    names = [*first, *later]

    # Nothing left at all: even a claim (a hard link takes an inode on tmpfs) fails, so the
    # files wait in the inbox, each retried alone with backoff.
    blocks = fill_blocks(small_fs)
    inodes = fill_inodes(small_fs)
    for name in later:
        os.rename(staging / name, data / "inbox" / name)
    wait_until(lambda: len(daemon.event("inbox.claim_failed")) >= len(later), timeout=10)
    claim_retries, claim_cpu = quiet(daemon, ("inbox.claim_failed",))
    assert claim_retries <= len(later) * (WINDOW / RETRY_CAP + 2), claim_retries
    assert claim_cpu < 0.2 * WINDOW, claim_cpu
    assert {line["errno"] for line in daemon.event("inbox.claim_failed")} == {"ENOSPC"}
    assert len(folder_files(data / "inbox")) == len(later)

    # Inodes back, data blocks still gone: claims and moves (links) work, error files cannot
    # be written. The two bad bundles commit and must wait for their error files.
    for path in inodes:
        path.unlink()
    wait_committed(scene.db_url, later, timeout=30)
    for name in first:
        os.rename(staging / name, data / "inbox" / name)
    wait_committed(scene.db_url, first, timeout=30)
    wait_until(lambda: daemon.event("inbox.storage_full"), timeout=10)
    retries, cpu = quiet(daemon, ("inbox.storage_full",))
    assert 1 <= retries <= WINDOW / RETRY_CAP + 2, retries
    assert cpu < 0.2 * WINDOW, cpu
    waiting = len(folder_files(data / "processing"))

    fillers = [blocks]
    for path in fillers:
        path.unlink()
    wait_all_committed(scene.db_url, data, names, timeout=30)
    assert daemon.stop() == 0
    reports = {
        p.name: json.loads(p.read_text())["reason"]
        for p in (data / "quarantine").glob("*.error.json")
    }
    t = tally(scene.db_url, data, names)
    scene.report(
        claim_retries_in_window=claim_retries,
        claim_cpu_seconds_in_window=round(claim_cpu, 3),
        move_retries_in_window=retries,
        move_cpu_seconds_in_window=round(cpu, 3),
        committed_waiting_in_processing=waiting,
        claim_failures_logged=len(daemon.event("inbox.claim_failed")),
        replayed_after_space_freed=sum(1 for line in daemon.done() if line.get("replayed")),
        error_files=reports,
        **t.as_dict(),
    )
    assert reports == {
        f"{empty}.error.json": "empty",
        f"{binary}.error.json": "binary",
    }
    assert_exactly_once(t)
    assert t.processed_files == len(good) + len(later)
    assert t.quarantined_files == len(bad)


def test_a_removed_processing_folder_holds_files_in_the_inbox_until_it_is_back(
    scene: Scene,
) -> None:
    daemon = scene.spawn(settle_seconds=0.2, retry_max_seconds=1)
    (scene.data_dir / "processing").rmdir()
    names = scene.stage(5, tag="noprocessing")
    scene.drop(names)
    failed = wait_until(lambda: daemon.event("inbox.claim_failed"), 15)
    assert failed[0]["errno"] == "ENOENT"
    assert daemon.get("/readyz")[0] == 503
    assert sorted(p.name for p in scene.inbox.iterdir()) == names  # nothing lost or moved
    (scene.data_dir / "processing").mkdir()
    wait_all_committed(scene.db_url, scene.data_dir, names, timeout=30)
    assert daemon.stop() == 0
    t = tally(scene.db_url, scene.data_dir, names)
    scene.report(claim_failures_logged=len(daemon.event("inbox.claim_failed")), **t.as_dict())
    assert_exactly_once(t, articles=5)
