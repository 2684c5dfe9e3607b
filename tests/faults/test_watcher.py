"""When inotify fails: a kernel queue overflow, a watch limit of zero, a removed inbox."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.faults.helpers import Scene, assert_exactly_once, tally, wait_all_committed
from tests.support import wait_until

pytestmark = [pytest.mark.faults]

EVENTS_PER_FILE = 1  # one IN_MOVED_TO per bundle renamed into the inbox


@pytest.mark.timeout(150)
def test_inotify_overflow_is_caught_by_the_reconcile_scan(scene: Scene) -> None:
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    count = 20_000
    if count * EVENTS_PER_FILE <= limit + 1000:
        pytest.skip(f"max_queued_events={limit}: 20,000 files would not overflow the queue")
    daemon = scene.spawn(reconcile_seconds=2, settle_seconds=0.2, workers=2, batch_size=1000)
    lost_before = daemon.metric("newsdrop_events_lost_total")
    daemon.signal(signal.SIGSTOP)  # the watcher thread reads nothing while the kernel queues
    try:
        started = time.monotonic()
        names = scene.stage(count, tag="overflow", small=True)
        scene.drop(names)
        written = time.monotonic() - started
    finally:
        daemon.signal(signal.SIGCONT)
    wait_all_committed(scene.db_url, scene.data_dir, names, timeout=120)
    took = time.monotonic() - started
    lost = daemon.metric("newsdrop_events_lost_total") - lost_before
    assert daemon.stop() == 0
    warnings = daemon.event("inbox.overflow_detected") + daemon.event("inbox.events_missed")
    t = tally(scene.db_url, scene.data_dir, names)
    scene.report(
        max_queued_events=limit,
        seconds_to_write=round(written, 1),
        seconds_to_ingest_all=round(took, 1),
        overflow_warnings=len(warnings),
        events_lost_metric=lost,
        **t.as_dict(),
    )
    assert warnings, daemon.tail()
    assert lost >= 1
    assert_exactly_once(t, articles=count)


@pytest.mark.timeout(60)
def test_watch_limit_falls_back_to_polling_and_keeps_ingesting(scene: Scene) -> None:
    # A user namespace of our own may set its inotify watch limit to 0: add_watch gets ENOSPC,
    # exactly as on a host whose fs.inotify.max_user_watches is used up.
    limit_zero = 'echo 0 > /proc/sys/user/max_inotify_watches && exec "$@"'
    daemon = scene.spawn(
        prefix=["unshare", "--user", "--map-root-user", "sh", "-c", limit_zero, "sh"],
        poll_seconds=0.5,
        settle_seconds=0.2,
    )
    fallback = daemon.event("watcher.polling_fallback")
    assert fallback, daemon.tail()
    assert fallback[0]["level"] == "warning"
    assert fallback[0]["cause"] == "ENOSPC"
    assert daemon.event("daemon.started")[0]["watcher"] == "polling"
    assert daemon.metric('newsdrop_watcher_mode{mode="polling"}') == 1
    names = scene.stage(50, tag="polling")
    scene.drop(names)
    wait_all_committed(scene.db_url, scene.data_dir, names, timeout=30)
    assert daemon.get("/readyz")[0] == 200
    assert daemon.stop() == 0
    t = tally(scene.db_url, scene.data_dir, names)
    scene.report(watcher="polling", cause=fallback[0]["cause"], **t.as_dict())
    assert_exactly_once(t, articles=50)


@pytest.mark.timeout(90)
def test_a_removed_inbox_is_waited_for_and_watched_again(scene: Scene) -> None:
    daemon = scene.spawn(reconcile_seconds=1, poll_seconds=0.5, settle_seconds=0.2)
    before = scene.stage(3, tag="before")
    scene.drop(before)
    wait_all_committed(scene.db_url, scene.data_dir, before, timeout=30)

    shutil.rmtree(scene.data_dir / "inbox")  # an operator's clean-up gone wrong
    wait_until(lambda: daemon.event("inbox.unavailable"), 10)
    wait_until(lambda: daemon.get("/readyz")[0] == 503, 10)
    time.sleep(1.5)  # three more scans fail: one error line, and the daemon lives on
    assert daemon.proc is not None
    assert daemon.proc.poll() is None, daemon.tail()
    assert len(daemon.event("inbox.unavailable")) == 1

    after = scene.stage(3, tag="after")
    scene.drop(after)  # `scene.inbox` makes the folder again
    wait_all_committed(scene.db_url, scene.data_dir, after, timeout=30)
    assert daemon.event("inbox.available"), daemon.tail()
    assert daemon.event("watcher.rewatched"), daemon.tail()
    wait_until(lambda: daemon.get("/readyz")[0] == 200, 10)

    # Watched again: a file renamed in now goes at once, not at the next scan.
    reconciles = len(daemon.event("inbox.events_missed"))
    last = scene.stage(1, tag="last")
    scene.drop(last)
    wait_all_committed(scene.db_url, scene.data_dir, last, timeout=30)
    assert len(daemon.event("inbox.events_missed")) == reconciles
    assert daemon.stop() == 0
    names = before + after + last
    t = tally(scene.db_url, scene.data_dir, names)
    scene.report(unavailable=daemon.event("inbox.unavailable")[0]["error"], **t.as_dict())
    assert_exactly_once(t, articles=len(names))


@pytest.mark.timeout(60)
def test_an_inbox_removed_and_made_again_at_once_is_watched_again_within_a_poll(
    scene: Scene,
) -> None:
    # The scan never fails here; with reconcile scans a minute apart, only the lost watch
    # can bring the next scan (and with it the new watch) forward.
    daemon = scene.spawn(reconcile_seconds=60, poll_seconds=0.5, settle_seconds=0.2)
    shutil.rmtree(scene.data_dir / "inbox")
    (scene.data_dir / "inbox").mkdir()
    wait_until(lambda: daemon.event("watcher.rewatched"), 5)
    assert daemon.get("/readyz")[0] == 200
    names = scene.stage(3, tag="remade")
    scene.drop(names)
    wait_all_committed(scene.db_url, scene.data_dir, names, timeout=10)
    assert not daemon.event("inbox.events_missed")  # seen as events, not by a scan
    assert daemon.stop() == 0
    assert_exactly_once(tally(scene.db_url, scene.data_dir, names), articles=3)
