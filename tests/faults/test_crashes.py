"""Crashes at every step of a batch: kill -9, failpoints, SIGTERM, a killed database backend.

Each test checks the one invariant of issue 4: every bundle ends as exactly one committed
outcome, no article twice, nothing left in the inbox or in processing/.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import psycopg
import pytest
from sqlalchemy.engine import make_url

from service.failpoints import FAILPOINT_EXIT
from tests.faults.helpers import Scene, assert_exactly_once, ledger_rows, tally, wait_all_committed
from tests.support import folder_files, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]


def test_kill_9_at_random_moments_loses_and_duplicates_nothing(scene: Scene) -> None:
    seed = int(os.environ.get("NEWSDROP_FAULTS_SEED") or time.time_ns() % 1_000_000)
    rng = random.Random(seed)
    names = scene.stage(300, tag="kill9")
    data_dir, db_url = scene.data_dir, scene.db_url
    waves = [names[n : n + 30] for n in range(0, 300, 30)]
    kills: list[dict[str, int]] = []
    replayed = 0
    for wave in waves:
        # Small batches, so a kill lands between, inside or after a transaction.
        daemon = scene.spawn(batch_size=10, settle_seconds=0.2)
        scene.drop(wave)
        # Kill after a random number of finished files (0: before the first commit), plus jitter.
        target = rng.randrange(0, 30)
        wait_until(lambda d=daemon, t=target: len(d.done()) >= t, timeout=30, interval=0.002)
        time.sleep(rng.uniform(0, 0.02))
        finished = len(daemon.done())
        daemon.kill()
        replayed += sum(1 for line in daemon.done() if line.get("replayed"))
        kills.append(
            {
                "after_files": finished,
                "left_in_processing": len(folder_files(data_dir / "processing")),
            }
        )
    final = scene.spawn(batch_size=10, settle_seconds=0.2)
    wait_all_committed(db_url, data_dir, names, timeout=60)
    assert final.stop() == 0
    replayed += sum(1 for line in final.done() if line.get("replayed"))

    t = tally(db_url, data_dir, names)
    scene.report(
        seed=seed,
        kills=len(kills),
        kills_mid_batch=sum(1 for k in kills if k["left_in_processing"]),
        replayed_moves=replayed,
        **t.as_dict(),
    )
    assert_exactly_once(t, articles=300)
    assert t.processed_files == 300
    assert t.max_version == 1
    # Proof the kills hit something: at least one left claimed files behind for recovery.
    assert any(k["left_in_processing"] for k in kills), kills


@pytest.mark.parametrize("step", ["mid_claim", "before_commit", "after_commit", "after_move"])
def test_crash_at_each_step_is_recovered_exactly_once(step: str, scene: Scene) -> None:
    names = scene.stage(5, tag=f"fp-{step}")
    data_dir, db_url = scene.data_dir, scene.db_url
    scene.drop(names)
    crashing = scene.spawn(failpoint=step, wait_ready=False)
    assert crashing.proc is not None
    assert crashing.proc.wait(timeout=60) == FAILPOINT_EXIT, crashing.tail()
    crashing.kill()  # reap the log reader

    rows_at_crash = ledger_rows(db_url)
    left = [p.name for p in folder_files(data_dir / "processing")]
    if step == "mid_claim":
        # The first claim linked its file into processing/ and died before the unlink.
        assert rows_at_crash == 0
        assert left == names[:1]
        assert (data_dir / "inbox" / names[0]).exists()
    elif step == "before_commit":
        assert rows_at_crash == 0
        assert sorted(left) == names
    elif step == "after_commit":
        assert rows_at_crash == 5
        assert sorted(left) == names
    else:
        assert rows_at_crash == 5
        assert left == []

    daemon = scene.spawn()
    wait_all_committed(db_url, data_dir, names, timeout=30)
    if step != "after_move":
        wait_until(lambda: len(daemon.done()) == 5)
    time.sleep(0.5)  # a second pass over the same files would show up here
    assert daemon.stop() == 0
    done = daemon.done()
    replayed = [line for line in done if line.get("replayed")]
    if step in ("mid_claim", "before_commit"):
        assert len(done) == 5
        assert not replayed
        assert {line["outcome"] for line in done} == {"inserted"}
    elif step == "after_commit":
        assert len(replayed) == 5 == len(done)
    else:
        assert done == []

    t = tally(db_url, data_dir, names)
    scene.report(
        step=step,
        ledger_rows_at_crash=rows_at_crash,
        left_in_processing_at_crash=len(left),
        file_done_after_restart=len(done),
        replayed=len(replayed),
        **t.as_dict(),
    )
    assert_exactly_once(t, articles=5)
    assert ledger_rows(db_url) == 5
    assert t.processed_files == 5


def test_sigterm_mid_flow_exits_fast_and_keeps_every_claim(scene: Scene) -> None:
    names = scene.stage(400, tag="sigterm")
    data_dir, db_url, inbox = scene.data_dir, scene.db_url, scene.inbox
    daemon = scene.spawn(batch_size=50, settle_seconds=0.2)

    def producer() -> None:
        for n in range(0, len(names), 20):
            scene.drop(names[n : n + 20])
            time.sleep(0.01)

    flow = threading.Thread(target=producer)
    flow.start()
    wait_until(lambda: len(daemon.done()) >= 30, timeout=30, interval=0.005)
    asked = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.proc is not None
    code = daemon.proc.wait(timeout=15)
    took = time.monotonic() - asked
    flow.join()
    daemon.kill()
    assert code == 0, daemon.tail()
    assert took < 10

    # At the stop: every file committed and filed, or claimed and waiting, or never taken.
    committed = ledger_rows(db_url)
    claimed = len(folder_files(data_dir / "processing"))
    waiting = len(folder_files(inbox))
    filed = len(folder_files(data_dir / "processed"))
    assert filed == committed
    assert committed + claimed + waiting == len(names)

    again = scene.spawn(batch_size=50, settle_seconds=0.2)
    wait_all_committed(db_url, data_dir, names, timeout=60)
    assert again.stop() == 0
    t = tally(db_url, data_dir, names)
    scene.report(
        seconds_to_exit=round(took, 2),
        committed_at_stop=committed,
        claimed_at_stop=claimed,
        waiting_at_stop=waiting,
        **t.as_dict(),
    )
    assert_exactly_once(t, articles=len(names))


def test_backend_killed_mid_transaction_is_rolled_back_and_retried(
    scene: Scene, pg_admin_url: str
) -> None:
    names = scene.stage(1000, tag="terminate")
    data_dir, db_url = scene.data_dir, scene.db_url
    database = make_url(db_url).database  # a socket URL ends in ?host=..., not the name
    daemon = scene.spawn(batch_size=500, settle_seconds=0.2, retry_max_seconds=0.5)
    scene.drop(names)

    # A backend with an xid has written inside its open transaction: kill it there, 3 times.
    terminated = 0
    deadline = time.monotonic() + 60
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        while terminated < 3 and time.monotonic() < deadline and ledger_rows(db_url) < 1000:
            killed = admin.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'newsdrop' AND datname = %s "
                "AND backend_xid IS NOT NULL",
                (database,),
            ).fetchone()
            terminated += int(killed[0]) if killed else 0
            time.sleep(0.002)
    wait_all_committed(db_url, data_dir, names, timeout=90)
    assert daemon.stop() == 0
    t = tally(db_url, data_dir, names)
    retries = len(daemon.event("database.down")) + len(daemon.event("ingest.batch_retry"))
    scene.report(backends_terminated=terminated, retries_logged=retries, **t.as_dict())
    assert terminated >= 1
    assert retries >= 1
    assert_exactly_once(t, articles=1000)
