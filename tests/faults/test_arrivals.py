"""How files arrive: slow writers, rsync/mv/cp, a backlog at start, racing claimers, repeats."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from service.app import ingest_paths
from service.settings import Settings
from tests.faults.helpers import (
    Scene,
    assert_exactly_once,
    bundle_bytes,
    bundle_name,
    doc_id_of,
    ledger_counts,
    ledger_rows,
    scalar,
    tally,
    wait_all_committed,
)
from tests.support import folder_files, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(90)]


# Claims the named bundles of a data dir's inbox from a given moment on; prints the winners.
CLAIMER = """
import json, sys, time
from pathlib import Path
from service.inbox import Folders, Inbox
data, start_at, names = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
inbox = Inbox(Folders(*(data / f for f in ("inbox", "processing", "processed", "quarantine"))), 1)
time.sleep(max(0.0, start_at - time.time()))
print(json.dumps([name for name in names if inbox.claim(name) is not None]))
"""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def shm_dir() -> Iterator[Path]:
    """A folder on another file system (/dev/shm is a tmpfs)."""
    path = Path("/dev/shm") / f"newsdrop-faults-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_second_daemon_on_one_data_dir_refuses_to_start(scene: Scene) -> None:
    first = scene.spawn()
    second = scene.spawn(wait_ready=False)
    assert second.proc is not None
    code = second.proc.wait(timeout=30)
    second.kill()
    assert code == 1
    message = " ".join(line.get("message", "") for line in second.event("cli.failed"))
    assert str(scene.data_dir.absolute()) in message, second.tail()
    assert "another newsdrop daemon" in message
    assert first.proc is not None
    assert first.proc.poll() is None  # the first one is unharmed
    assert first.stop() == 0
    scene.report(second_exit_code=code, message=message)


def test_racing_claimers_never_take_one_bundle_twice(scene: Scene) -> None:
    # Two `ingest --move` processes walk the same inbox at once; link() EEXIST picks one winner.
    names = scene.stage(300, tag="race")
    scene.drop(names)
    env = {
        **os.environ,
        "NEWSDROP_DATABASE_URL": scene.db_url,
        "NEWSDROP_DATA_DIR": str(scene.data_dir),
        "NEWSDROP_LOG_FORMAT": "json",
        "NEWSDROP_WORKERS": "1",
        "NEWSDROP_BATCH_SIZE": "20",
        "NEWSDROP_SECRETS_DIR": str(scene.data_dir / "no-secrets"),
    }
    command = [sys.executable, "-m", "service", "ingest", "--move", str(scene.inbox)]
    racers = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [racer.communicate(timeout=60) for racer in racers]
    codes = [racer.returncode for racer in racers]
    assert codes == [0, 0], [err.decode()[-2000:] for _, err in outputs]
    taken = [json.loads(out)["files"] for out, _ in outputs]

    # Six backfills in threads of one process over one inbox (`ingest_paths`, what
    # `newsdrop ingest --move` runs): none may fail when another takes a file first.
    threaded = scene.stage(600, tag="race-threads", start=1000, small=True)
    scene.drop(threaded)
    settings = Settings(
        database_url=scene.db_url, data_dir=scene.data_dir, workers=1, batch_size=20
    )
    taken_by_thread: list[int] = []
    failures: list[str] = []
    barrier = threading.Barrier(6)

    def backfill() -> None:
        barrier.wait()
        try:
            outcomes = ingest_paths(settings, [scene.inbox], move=True)
        except Exception as exc:  # the test reports any failure of any thread
            failures.append(repr(exc)[:200])
            return
        taken_by_thread.append(sum(n for k, n in outcomes.items() if not k.startswith("reason:")))

    threads = [threading.Thread(target=backfill) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # And four processes claiming the same 400 names in the same order from the same moment:
    # the tightest race there is. Exactly one wins each name.
    more = scene.stage(400, tag="race-direct", start=300)
    scene.drop(more)
    start_at = time.time() + 2.0
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(scene.data_dir), str(start_at), *more],
            stdout=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    wins = [json.loads(racer.communicate(timeout=60)[0]) for racer in racers]
    won = [name for claimed in wins for name in claimed]
    for name in set(won):
        os.unlink(scene.data_dir / "processing" / name)

    t = tally(scene.db_url, scene.data_dir, [*names, *threaded])
    scene.report(
        files_per_process=taken,
        files_per_thread=taken_by_thread,
        thread_failures=failures,
        direct_claims_per_process=[len(claimed) for claimed in wins],
        direct_double_claims=len(won) - len(set(won)),
        **t.as_dict(),
    )
    assert sum(taken) == 300
    assert failures == []
    assert sum(taken_by_thread) == len(threaded)
    assert_exactly_once(t, articles=300 + len(threaded))
    assert sorted(won) == sorted(more)  # every name claimed, none twice


def test_slow_writer_is_taken_once_complete(scene: Scene) -> None:
    settle = 1.0
    daemon = scene.spawn(settle_seconds=settle)
    data = (
        bundle_bytes("slow", 0)
        + "".join(
            f"慢速写入的第{n}段文字，确保文件足够长，分三次写完。\n\n" for n in range(200)
        ).encode()
    )
    chunks = [data[: len(data) // 3], data[len(data) // 3 : 2 * len(data) // 3]]
    chunks.append(data[2 * len(data) // 3 :])
    one_open = bundle_name(0, doc_id_of("slow", 0))
    reopened = bundle_name(1, doc_id_of("slow", 1))
    data_b = data.replace("slow第0号".encode(), "slow第1号".encode())
    with (scene.inbox / one_open).open("wb") as out:
        for n, chunk in enumerate(chunks):
            out.write(chunk)
            out.flush()
            # Pauses shorter than the settle time; the second file closes after every chunk.
            with (scene.inbox / reopened).open("ab") as other:
                other.write(
                    data_b[n * len(data) // 3 : (n + 1) * len(data) // 3 if n < 2 else None]
                )
            if n < 2:
                time.sleep(settle * 0.6)
    wait_all_committed(scene.db_url, scene.data_dir, [one_open, reopened], timeout=30)
    time.sleep(settle)
    assert daemon.stop() == 0
    stored = {
        name: scalar(scene.db_url, "SELECT raw_sha256 FROM ingest_ledger WHERE name = %s", name)
        for name in (one_open, reopened)
    }
    text = scalar(
        scene.db_url,
        "SELECT r.text FROM raw_bundles r JOIN articles a ON a.raw_sha256 = r.sha256 "
        "WHERE a.doc_id = %s",
        doc_id_of("slow", 0),
    )
    t = tally(scene.db_url, scene.data_dir, [one_open, reopened])
    scene.report(bytes=len(data), chunks=3, settle_seconds=settle, **t.as_dict())
    assert stored == {one_open: sha(data), reopened: sha(data_b)}
    assert text == data.decode()
    assert_exactly_once(t, articles=2)
    assert len(daemon.done()) == 2


def test_rsync_mv_and_cp_each_arrive_once(scene: Scene, shm_dir: Path) -> None:
    if shutil.which("rsync") is None:
        pytest.skip("rsync is not installed")
    daemon = scene.spawn(settle_seconds=0.5)
    by_rsync = scene.stage(20, tag="rsync")
    by_mv = scene.stage(20, tag="mv", start=20)
    on_shm = [bundle_name(n, doc_id_of("cp", n)) for n in range(40, 60)]
    for n, name in enumerate(on_shm, start=40):
        (shm_dir / name).write_bytes(bundle_bytes("cp", n))
    # One big file rsync'ed slowly, so its dot-temp file sits in the inbox for a while.
    big_name = bundle_name(60, doc_id_of("rsync-big", 60))
    big = (
        bundle_bytes("rsync-big", 60)
        + "".join(f"大文件的第{n}段，用来拉长 rsync 的写入时间。\n\n" for n in range(2500)).encode()
    )
    (scene.staging / big_name).write_bytes(big)

    slow = subprocess.Popen(
        ["rsync", "--bwlimit=100", str(scene.staging / big_name), f"{scene.inbox}/"]
    )
    temps_seen = wait_until(
        lambda: [p.name for p in scene.inbox.iterdir() if p.name.startswith(".")], timeout=10
    )
    subprocess.run(
        ["rsync", "-a", *[str(scene.staging / n) for n in by_rsync], f"{scene.inbox}/"],
        check=True,
    )
    subprocess.run(["mv", *[str(scene.staging / n) for n in by_mv], f"{scene.inbox}/"], check=True)
    subprocess.run(["cp", *[str(shm_dir / n) for n in on_shm], f"{scene.inbox}/"], check=True)
    assert slow.wait(timeout=30) == 0
    names = [*by_rsync, *by_mv, *on_shm, big_name]
    wait_all_committed(scene.db_url, scene.data_dir, names, timeout=30)
    assert daemon.stop() == 0

    counts = ledger_counts(scene.db_url)
    assert not [name for name in counts if name.startswith(".")]  # dot-temps never taken
    assert ledger_rows(scene.db_url) == len(names)
    big_sha = scalar(scene.db_url, "SELECT raw_sha256 FROM ingest_ledger WHERE name = %s", big_name)
    assert big_sha == sha(big)
    t = tally(scene.db_url, scene.data_dir, names)
    scene.report(
        rsync=len(by_rsync),
        mv=len(by_mv),
        cp_from_tmpfs=len(on_shm),
        rsync_slow_bytes=len(big),
        rsync_temp_names_seen=len(temps_seen),
        **t.as_dict(),
    )
    assert_exactly_once(t, articles=len(names))


def test_restart_catches_up_with_files_dropped_while_stopped(scene: Scene) -> None:
    first = scene.spawn()
    assert first.stop() == 0
    names = scene.stage(500, tag="catchup")
    scene.drop(names)
    daemon = scene.spawn(settle_seconds=0.2)
    wait_all_committed(scene.db_url, scene.data_dir, names, timeout=60)
    assert daemon.stop() == 0
    scanned = daemon.event("inbox.scanned")
    t = tally(scene.db_url, scene.data_dir, names)
    scene.report(startup_scan_found=scanned[0]["files"], **t.as_dict())
    assert scanned[0]["startup"] is True
    assert scanned[0]["files"] == 500
    assert_exactly_once(t, articles=500)


def test_same_bytes_under_two_names_and_again_make_one_article(scene: Scene) -> None:
    daemon = scene.spawn(settle_seconds=0.2)
    doc_id = doc_id_of("twice", 0)
    data = bundle_bytes("twice", 0)
    first, second = bundle_name(1, doc_id), bundle_name(2, doc_id)
    for name in (first, second):
        (scene.staging / name).parent.mkdir(parents=True, exist_ok=True)
        (scene.staging / name).write_bytes(data)
    scene.drop([first, second])  # most likely one batch
    wait_all_committed(scene.db_url, scene.data_dir, [first, second], timeout=30)
    filed = folder_files(scene.data_dir / "processed")
    inodes = {p.name: p.stat().st_ino for p in filed}

    (scene.staging / first).write_bytes(data)
    scene.drop([first])  # the same name again, after the first was filed
    wait_until(lambda: ledger_rows(scene.db_url) == 3, timeout=30)
    wait_until(lambda: len(folder_files(scene.data_dir / "processed")) == 3)
    assert daemon.stop() == 0
    with psycopg.connect(scene.db_url) as conn:
        outcomes = [
            row[0]
            for row in conn.execute("SELECT outcome FROM ingest_ledger ORDER BY id").fetchall()
        ]
        articles = conn.execute("SELECT count(*), max(version) FROM articles").fetchone()
    filed_after = folder_files(scene.data_dir / "processed")
    scene.report(
        outcomes=outcomes,
        articles=articles[0] if articles else None,
        processed_names=sorted(p.name for p in filed_after),
    )
    assert articles == (1, 1)
    assert outcomes == ["inserted", "unchanged", "unchanged"]
    assert sorted(p.name for p in filed_after) == sorted([first, second, f"{first}.1"])
    assert {p.name: p.stat().st_ino for p in filed_after if p.name in inodes} == inodes
    assert all(p.read_bytes() == data for p in filed_after)


def test_vanished_files_are_logged_not_quarantined(scene: Scene) -> None:
    settle = 0.8
    daemon = scene.spawn(settle_seconds=settle)
    # Hints wait while the first connection migrates; only then is a new file noted at once.
    wait_until(lambda: daemon.event("database.up"), timeout=30)
    gone = bundle_name(0, doc_id_of("vanish", 0))
    path = scene.inbox / gone
    path.write_bytes(bundle_bytes("vanish", 0))
    time.sleep(settle / 3)  # seen by the daemon, not settled yet
    path.unlink()
    wait_until(lambda: daemon.event("inbox.file_vanished"), timeout=10)

    # A storm of files created and deleted at once: whatever the daemon caught, nothing breaks.
    storm = [bundle_name(n, doc_id_of("storm", n)) for n in range(1, 201)]
    for n, name in enumerate(storm, start=1):
        (scene.inbox / name).write_bytes(bundle_bytes("storm", n))
        if n % 2:
            (scene.inbox / name).unlink()
    kept = storm[1::2]
    wait_all_committed(scene.db_url, scene.data_dir, kept, timeout=30)
    assert daemon.proc is not None
    assert daemon.proc.poll() is None, daemon.tail()
    assert daemon.stop() == 0
    counts = ledger_counts(scene.db_url)
    vanished_lines = daemon.event("inbox.file_vanished") + daemon.event("ingest.file_vanished")
    scene.report(
        created=len(storm) + 1,
        deleted=len(storm) // 2 + 1,
        ingested=len(counts),
        vanished_logged=len(vanished_lines),
    )
    assert gone not in counts
    assert folder_files(scene.data_dir / "quarantine") == []
    assert all(counts.get(name) == 1 for name in kept)
    assert set(counts) <= set(storm)
    assert all(line["name"] for line in vanished_lines)
