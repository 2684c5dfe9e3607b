"""The main loop of `newsdrop run`: hints and scans in, batches through the pipeline."""

from __future__ import annotations

import errno
import os
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import structlog

from service import sdnotify
from service.errors import DatabaseUnavailable, StorageFull, Transient
from service.inbox import Claimed, Inbox, display_name
from service.metrics import Metrics
from service.naming import is_in_progress
from service.pending import Pending, Signature, pack_signature
from service.pipeline import Committed, FileResult, Pipeline, Started
from service.store import Store
from service.watcher import Hint, Watcher

log = structlog.get_logger("newsdrop")

_TICK = 0.25  # the loop wakes at least this often: liveness, SIGTERM and settle deadlines
# A scan notes this many files per loop turn, so that a huge inbox's listing never holds up
# the first commit nor the loop's liveness (measured: ~3 us per file, 15 ms a turn).
_SCAN_CHUNK = 5000
# Batches in hand at once: the oldest commits on the writer thread (waiting on PostgreSQL with
# the GIL released) while the main thread moves the files of the one before and claims the
# next, and the pool parses two more, so both cores stay busy. Measured with bench/run.py, a
# 10,000-file backlog, stand-in parser, 2 shared cores, alternating runs: 564-580 bundles/s
# committing on the loop itself with two batches in hand, 691-852/s with the writer thread.
_IN_FLIGHT = 3
# While a start-up backlog settles, the pool parses the first files ahead of their claim, up to
# this many bytes of bundles: each parse is held in memory until its file is claimed (about its
# own size again), so the budget is in bytes, not files. Measured with bench/run.py (bundles of
# 10 KB on average, alternating runs): 7 batches of 200 before, CPU busy 85.0-85.8% in a
# 20,000 backlog and 1,081-1,086 files/s in a 5,000 one; 32 MiB, 88.8-89.8% and 1,216-1,258/s.
# Peak RSS of the 5,000 and 50,000 backlogs: 204 and 234-237 MB before, 218 and 237-241 after.
_AHEAD_BYTES = 32 << 20
# Files read ahead at most, parsed or found current: bounds the reading a look-ahead does.
_AHEAD_BATCHES = 25
# The status figures are whole-table counts (articles, the ledger by outcome, the last hour's
# throughput): milliseconds on a young corpus, seconds on one with millions of rows. They are
# recomputed no more often than keeps them under this share of one database backend's time.
_STATUS_QUERY_SHARE = 0.02
# Rows written in a backlog are not all-visible until a VACUUM sets the visibility map, so the
# near-duplicate probes' index-only scans fetch heap pages for them: at 20,000 fresh articles
# 215 us per bundle, 138 us after a VACUUM. Autovacuum looks at a database once a minute at
# most. A VACUUM after this many article writes takes 16-21 ms; in the 20,000-bundle backlog
# (bench/run.py, alternating runs) 972/974 -> 1,022/991 files/s, and PostgreSQL's CPU per
# bundle 355 -> 304-314 us, the VACUUMs' own included.
_VACUUM_AFTER_WRITES = 2_000
_ARTICLE_WRITES = frozenset({"inserted", "updated", "duplicate"})

_PERMISSION_HINT = (
    "newsdrop's user must read the file, and own or write it: "
    "with fs.protected_hardlinks=1 only they may link() it"
)
_SPACE_HINT = "free space or inodes on the data directory's file system (a link takes an inode)"
_CLAIM_HINTS = {
    errno.ENOENT: "processing/ is missing: make it again, or restart newsdrop, which makes it",
    errno.EACCES: _PERMISSION_HINT,
    errno.EPERM: _PERMISSION_HINT,
    errno.ENOSPC: _SPACE_HINT,
    errno.EDQUOT: _SPACE_HINT,
}


def _signature(st: os.stat_result) -> Signature:
    return pack_signature(st.st_size, st.st_mtime_ns, st.st_ino)


@dataclass
class Backoff:
    """Capped exponential backoff for transient failures (no busy loop, no long sleeps)."""

    cap: float
    base: float = 0.5
    attempts: int = 0
    until: float = 0.0

    def fail(self, now: float) -> float:
        """Record a failure; returns the delay before the next try."""
        delay = min(self.cap, self.base * 2.0**self.attempts)
        self.attempts += 1
        self.until = now + delay
        return delay

    def ok(self) -> None:
        """Reset after a success."""
        self.attempts = 0
        self.until = 0.0

    def waiting(self, now: float) -> bool:
        """True while the next attempt is not due yet."""
        return now < self.until


@dataclass
class Batch:
    """Files this process claimed, and their pipeline state once started."""

    claims: list[Claimed]
    started: Started | None = None
    commit: Future[Committed] | None = None


@dataclass
class Snapshot:
    """Figures the HTTP thread reads; refreshed off the loop so requests never block it."""

    counts: dict[str, Any] = field(default_factory=dict)
    recent: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    throughput: list[dict[str, Any]] = field(default_factory=list)
    backlog: int = 0


class Daemon:
    """Owns the loop: recover, scan, settle, claim, process, file, repeat until stopped."""

    def __init__(
        self,
        *,
        inbox: Inbox,
        store: Store,
        pipeline: Pipeline,
        watcher: Watcher,
        metrics: Metrics,
        settle_seconds: float,
        reconcile_seconds: float,
        poll_seconds: float,
        batch_size: int,
        retry_max_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        prepare_database: Callable[[], None] | None = None,
    ) -> None:
        self.inbox = inbox
        self.store = store
        self.pipeline = pipeline
        self.watcher = watcher
        self.metrics = metrics
        self.pending = Pending(settle_seconds)
        self.reconcile_seconds = reconcile_seconds
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.clock = clock
        self.hints: queue.SimpleQueue[Hint | None] = queue.SimpleQueue()
        self.stop_requested = threading.Event()
        self._stop_signal: int | None = None  # set by `request_stop`: 0 when not by a signal
        self.overflowed = threading.Event()
        self.db_backoff = Backoff(retry_max_seconds)
        self.file_backoff = Backoff(retry_max_seconds)
        self.database_up = False
        # Migrations run the first time the database answers, so a daemon started while
        # PostgreSQL is down waits (files stay in the inbox) instead of exiting.
        self.prepare_database = prepare_database
        # Set by the status thread when a query failed: the loop checks, since it owns the state.
        self.database_lost = threading.Event()
        self._database_reported = False  # the first state is logged even when it is "down"
        self.last_tick = clock()
        self.last_reconcile: float | None = None
        self.in_hand: deque[Batch] = deque()
        # Commits run here, one at a time and in batch order; None commits on the loop itself.
        self.writer: ThreadPoolExecutor | None = None
        self.claim_failures: dict[str, int] = {}  # name -> failed claims in a row
        # When each claimed file was first seen (ledger `seen_at`); pending files keep it in
        # `pending` as a monotonic time instead of one datetime each.
        self.seen_at: dict[str, datetime] = {}
        self._scan: Iterator[tuple[str, os.stat_result]] | None = None
        self._scan_startup = False
        self._scan_found = self._scan_missed = 0
        self._inbox_error: str | None = None  # why the last scan could not list the inbox
        # Nothing is claimed until the start-up scan is done and every file it found has had
        # its settle time: then the whole backlog is due at once, in batch order (a later
        # version of a doc_id never goes before an earlier one from another scan chunk).
        self._hold_until = float("inf")
        self.snapshot = Snapshot()
        self._snapshot_lock = threading.Lock()
        self._refresher: threading.Thread | None = None
        self._status_due = 0.0  # when the status queries may run again (monotonic)
        self._writes_since_vacuum = 0  # article rows committed since `articles` was vacuumed

    # -- wiring ----------------------------------------------------------------------------

    def on_hint(self, hint: Hint) -> None:
        """Called on the watchdog thread: hand the hint to the loop."""
        self.hints.put(hint)

    def on_overflow(self) -> None:
        """Called when the kernel dropped inotify events: count it and rescan now."""
        self.metrics.events_lost.inc()
        self.overflowed.set()
        self.hints.put(None)

    def request_stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        """SIGTERM/SIGINT: take no new files, finish the batch in hand, then exit 0.

        Only notes the request and wakes the loop, which says so and acts (`_stop_noted`).
        As a signal handler this runs between two bytecodes of the main thread, which may
        hold a lock right then: logging here deadlocked a daemon stopped in the middle of
        its own log line. (`SimpleQueue.put` is safe in a signal handler.)
        """
        self._stop_signal = signum or 0
        self.hints.put(None)

    def install_signal_handlers(self) -> None:
        """Route SIGTERM and SIGINT to a graceful stop (main thread only)."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> None:
        """Run until a stop is requested; returns after the batch in hand is filed."""
        mode = self.watcher.start()
        self.metrics.set_watcher_mode(mode)
        if mode == "polling" and self.watcher.requested != "polling":
            log.warning(
                "watcher.polling_fallback",
                cause=self.watcher.failure,
                hint="raise fs.inotify.max_user_watches / max_user_instances to get events back",
            )
        log.info("daemon.started", watcher=mode, inbox=str(self.inbox.folders.inbox))
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsdrop-writer")
        self._start_refresher()
        sdnotify.ready()
        watchdog_every = sdnotify.watchdog_interval()
        last_watchdog = 0.0
        try:
            recovered = self.inbox.recover()
            if recovered:
                log.info("daemon.recovering", files=len(recovered))
            for start in range(0, len(recovered), self.batch_size):
                self.in_hand.append(Batch(recovered[start : start + self.batch_size]))
            self._reconcile(startup=True)
            while not self._stop_noted():
                now = self.clock()
                self.last_tick = now
                if watchdog_every and now - last_watchdog >= watchdog_every / 2:
                    sdnotify.watchdog_ping()
                    last_watchdog = now
                self._drain_hints(self._wait_time(now))
                if self._stop_noted():
                    break
                self._maybe_reconcile()
                self._step()
            # Finish what is already claimed (the batches in flight), then leave.
            while self.in_hand and self.database_up and self._advance(wait=True):
                pass
        finally:
            self.stop_requested.set()
            sdnotify.stopping()
            self.watcher.stop()
            if self.writer is not None:
                self.writer.shutdown(wait=True)
                self.writer = None
            self._stop_refresher()
            log.info("daemon.stopped", in_processing=sum(len(b.claims) for b in self.in_hand))

    def _stop_noted(self) -> bool:
        """True once a stop was requested; the first time, say so and tell the other threads."""
        if self._stop_signal is not None and not self.stop_requested.is_set():
            signum = self._stop_signal
            log.info("daemon.stopping", signal=signal.Signals(signum).name if signum else None)
            self.stop_requested.set()
        return self.stop_requested.is_set()

    def _wait_time(self, now: float) -> float:
        if self._scan is not None:
            return 0.0  # a scan in progress goes on at once
        if now < self._hold_until and not self.in_hand:
            return max(0.0, min(_TICK, self._hold_until - now))
        if not self.database_up or self.in_hand:
            # No file can be taken before the backoff in force ends; a settled file's past
            # deadline must not spin the loop meanwhile (measured: a whole core while down).
            until = max(self.db_backoff.until, self.file_backoff.until if self.in_hand else 0.0)
            if until > now or not self.in_hand:
                return max(0.0, min(_TICK, until - now))
            commit = self.in_hand[0].commit
            if commit is not None and not commit.done() and not self._claimable(now):
                # Nothing to do until the COMMIT ends, which wakes the loop (`_wake`): spinning
                # here starved the writer thread of the GIL (20/s renamed in: p50 117 ms).
                return _TICK
            return 0.0
        deadline = self.pending.next_deadline()
        wait = _TICK if deadline is None else max(0.0, min(_TICK, deadline - now))
        if self.pending and self.database_up and deadline == 0.0:
            wait = 0.0
        return wait

    def _drain_hints(self, timeout: float) -> None:
        try:
            hint = self.hints.get(timeout=timeout) if timeout > 0 else self.hints.get_nowait()
        except queue.Empty:
            return
        while True:
            if hint is not None:
                self._note(hint.name, renamed_in=hint.renamed_in)
            try:
                hint = self.hints.get_nowait()
            except queue.Empty:
                return

    def _note(
        self, name: str, *, renamed_in: bool = False, st: os.stat_result | None = None
    ) -> bool:
        if is_in_progress(name):
            return False
        st = st or self.inbox.lstat(name)
        if st is None:
            self.pending.forget(name)
            return False
        return self.pending.note(name, _signature(st), self.clock(), renamed_in=renamed_in)

    def _maybe_reconcile(self) -> None:
        if self._scan is not None:
            self._continue_scan()
            return
        # Without events (polling, an inbox gone, a watch lost to `rm -r inbox; mkdir inbox`)
        # only scans find files, and the next one also watches a folder that is back.
        polling = (
            self.watcher.mode == "polling"
            or self._inbox_error is not None
            or not self.watcher.alive()
        )
        interval = self.poll_seconds if polling else self.reconcile_seconds
        due = self.last_reconcile is None or self.clock() - self.last_reconcile >= interval
        if self.overflowed.is_set():
            self.overflowed.clear()
            log.warning("inbox.overflow_detected", action="rescanning the inbox")
            due = True
        if due:
            self._reconcile()

    def _reconcile(self, *, startup: bool = False) -> None:
        """Full scan: finds whatever events missed (overflow, NFS, restarts).

        Streamed: each loop turn notes the next `_SCAN_CHUNK` files and claims whatever has
        settled meanwhile, so the scan of a huge inbox never holds up the first commit.
        """
        if self._scan is None:
            if self.watcher.rewatch():
                # Watched again before the scan: whatever arrives from now on is seen.
                log.info("watcher.rewatched", inbox=str(self.inbox.folders.inbox))
            self._scan = self.inbox.scan()
            self._scan_startup = startup
            self._scan_found = self._scan_missed = 0
        self._continue_scan()

    def _continue_scan(self) -> None:
        if self._scan is None:
            return
        counting = not self._scan_startup and self.watcher.mode == "inotify"
        for _ in range(_SCAN_CHUNK):
            try:
                name, st = next(self._scan)
            except StopIteration:
                break
            except OSError as exc:
                self._scan_failed(exc)
                return
            self._scan_found += 1
            if self._note(name, st=st) and counting:
                self._scan_missed += 1
        else:
            return  # more to scan on the next turn
        self._scan = None
        found, missed, startup = self._scan_found, self._scan_missed, self._scan_startup
        self.last_reconcile = self.clock()
        self.metrics.inbox_backlog.set(found)
        if missed:
            log.warning("inbox.events_missed", files=missed)
        if startup:
            # An empty inbox holds nothing up: a file renamed in right after start goes at once.
            self._hold_until = self.last_reconcile + self.pending.settle_seconds if found else 0.0
        if startup or missed:
            log.info("inbox.scanned", files=found, startup=startup)
        if self._inbox_error is not None:
            self._inbox_error = None
            log.info("inbox.available", inbox=str(self.inbox.folders.inbox))

    def _scan_failed(self, exc: OSError) -> None:
        """The inbox cannot be listed (removed, unmounted, no permission): scan again soon."""
        self._scan = None
        self.last_reconcile = self.clock()
        if self._scan_startup:
            self._hold_until = 0.0
        error = exc.strerror or type(exc).__name__
        if error != self._inbox_error:
            # Not made again here: an inbox gone with an unmounted file system must come back
            # with it, not as an empty directory on another one.
            log.error(
                "inbox.unavailable",
                inbox=str(self.inbox.folders.inbox),
                error=error,
                errno=exc.errno,
                retry_every=self.poll_seconds,
            )
        self._inbox_error = error

    def _step(self) -> None:
        if self._scan is not None and self._scan_startup and not self.in_hand:
            # Nothing can be claimed before the start-up scan ends and its files settle; the
            # first database contact (migrations, ~0.2 s) waits for the scan's end so that it
            # runs during the settle time instead of pushing it back. (Files recovered from
            # processing/ are in hand at once: they go on.)
            return
        now = self.clock()
        if self.database_lost.is_set():
            self.database_lost.clear()
            if self.database_up and not self.store.ping():
                self._database_state(False, retry_in=self.db_backoff.fail(now))
                return
        if not self.database_up:
            if self.db_backoff.waiting(now):
                return
            if not self._connect():
                delay = self.db_backoff.fail(now)
                self.metrics.retries.labels(operation="connect").inc()
                self._database_state(False, retry_in=delay)
                return
            self.db_backoff.ok()
            self._database_state(True)
        if self.in_hand and self.file_backoff.waiting(now):
            return
        if self._room(now):
            claims = self._claim_due(now)
            if claims:
                batch = Batch(claims)
                self.in_hand.append(batch)
                # Submitted now: the pool parses it while older batches are written.
                if not self._guard(lambda: self._start(batch)):
                    return
        if self.in_hand:
            self._advance(wait=False)
        elif (
            self._scan is None
            and self.pending
            and self.pipeline.can_look_ahead
            and not self._claimable(now)
        ):
            self._look_ahead()

    def _look_ahead(self) -> None:
        """Nothing to claim yet but files settling: the pool parses the next ones meanwhile."""
        ahead = self.pipeline.ahead
        # Whatever left the inbox without a claim (deleted, taken by another worker) is no
        # longer pending: its parse goes.
        self.pipeline.forget_ahead([name for name in ahead if name not in self.pending])
        room = _AHEAD_BATCHES * self.batch_size - len(ahead)
        if room < self.batch_size or self.pipeline.ahead_bytes >= _AHEAD_BYTES:
            return
        names = self.pending.upcoming(room, skip=ahead)
        try:
            for start in range(0, len(names), self.batch_size):
                if self.pipeline.ahead_bytes >= _AHEAD_BYTES:
                    break
                self.pipeline.look_ahead(names[start : start + self.batch_size])
        except Transient as exc:
            # Only a head start is lost: the claim reads and parses these files as usual.
            log.debug("ingest.look_ahead_failed", error=type(exc).__name__)

    def _claimable(self, now: float) -> bool:
        """True when a settled file waits and another batch may be claimed now."""
        deadline = self.pending.next_deadline()
        return deadline is not None and deadline <= now and self._room(now)

    def _room(self, now: float) -> bool:
        """True when another batch may be claimed now."""
        return (
            len(self.in_hand) < _IN_FLIGHT
            and not self.file_backoff.attempts
            and now >= self._hold_until
            and not self.stop_requested.is_set()
        )

    def _start(self, batch: Batch) -> None:
        batch.started = self.pipeline.start(batch.claims, self.seen_at)

    def _claim_due(self, now: float) -> list[Claimed]:
        """Claim the settled files, up to a batch, in batch order."""
        due = self.pending.due(now, self.batch_size)
        claims: list[Claimed] = []
        if not due:
            return claims
        for name, signature, renamed_in in due:
            st = self.inbox.lstat(name)
            if st is None:
                # Deleted or taken by someone else after we saw it: nothing to ingest, say so.
                log.info("inbox.file_vanished", name=display_name(name))
                self.pending.forget(name)
                self.claim_failures.pop(name, None)
                continue
            if not renamed_in and _signature(st) != signature:
                self.pending.note(name, _signature(st), now)  # still being written: wait again
                continue
            first_seen = self.pending.first_seen(name)
            self.pending.forget(name)
            try:
                claim = self.inbox.claim(name)
            except (OSError, StorageFull) as exc:
                self._claim_later(name, st, now, exc, first_seen)
                continue
            self.claim_failures.pop(name, None)
            if claim is not None:
                claims.append(claim)
                if first_seen is not None:
                    # The wall-clock time of the monotonic first sighting, for the ledger.
                    ago = timedelta(seconds=max(0.0, self.clock() - first_seen))
                    self.seen_at[name] = datetime.now(UTC) - ago
        return claims

    def _claim_later(
        self,
        name: str,
        st: os.stat_result,
        now: float,
        exc: OSError | StorageFull,
        first_seen: float | None,
    ) -> None:
        """A file we may not take yet: it alone waits and backs off, the others flow."""
        attempts = self.claim_failures.get(name, 0)
        self.claim_failures[name] = attempts + 1
        delay = min(self.file_backoff.cap, self.file_backoff.base * 2.0**attempts)
        # Due again after the delay; still first seen when it was.
        self.pending.note(name, _signature(st), now + delay, first_seen=first_seen)
        self.metrics.retries.labels(operation="claim").inc()
        code = exc.errno if isinstance(exc, OSError) else errno.ENOSPC
        log.warning(
            "inbox.claim_failed",
            name=display_name(name),
            errno=errno.errorcode.get(code or 0, "unknown"),
            retry_in=delay,
            hint=_CLAIM_HINTS.get(code or 0, "see errno"),
        )

    def _connect(self) -> bool:
        """Ping; the first time the database answers, prepare it (migrations)."""
        if not self.store.ping():
            return False
        if self.prepare_database is not None:
            try:
                self.prepare_database()
            except DatabaseUnavailable:
                return False
            self.prepare_database = None
        return True

    def _advance(self, *, wait: bool) -> bool:
        """Move the oldest batch along: commit it (on the writer), then file it after COMMIT.

        Returns True when it was filed; False while its commit runs or when it must be retried.
        """
        head = self.in_hand[0]
        if head.commit is None and not self._submit(head):
            return False
        assert head.commit is not None
        if not wait and not head.commit.done():
            return False
        if head.commit.exception() is None and len(self.in_hand) > 1:
            # COMMIT is done: the writer goes on with the next batch while these files move.
            following = self.in_hand[1]
            if following.commit is None and following.started is not None:
                self._submit(following)
        commit = head.commit
        filed: list[FileResult] = []
        if not self._guard(lambda: filed.extend(self.pipeline.file(commit.result()))):
            # Retried from its files (read, hash, parse again), as a fresh run would.
            head.started = head.commit = None
            return False
        self.in_hand.popleft()
        for claim in head.claims:
            self.seen_at.pop(claim.name, None)
        self._count_writes(filed)
        self.file_backoff.ok()
        self._database_state(True)
        return True

    def _submit(self, batch: Batch) -> bool:
        """Hand the batch's transaction to the writer (batches commit one by one, in order)."""
        if batch.started is None and not self._guard(lambda: self._start(batch)):
            return False
        started = batch.started
        assert started is not None
        if self.writer is None:
            done: Future[Committed] = Future()
            try:
                done.set_result(self.pipeline.commit(started))
            except Exception as exc:  # raised again by result(), under _guard
                done.set_exception(exc)
            batch.commit = done
        else:
            batch.commit = self.writer.submit(self.pipeline.commit, started)
            batch.commit.add_done_callback(self._wake)
        return True

    def _wake(self, _done: Future[Committed]) -> None:
        """Writer thread: a commit ended, the loop has files to move."""
        self.hints.put(None)

    def _guard(self, action: Callable[[], object]) -> bool:
        """Run a pipeline step; on a transient failure keep the files, back off, say why."""
        try:
            action()
        except DatabaseUnavailable:
            delay = self.db_backoff.fail(self.clock())
            self.metrics.retries.labels(operation="commit").inc()
            self._database_state(False, retry_in=delay)
            return False
        except StorageFull as exc:
            delay = self.file_backoff.fail(self.clock())
            self.metrics.retries.labels(operation="file_move").inc()
            log.error("inbox.storage_full", error=str(exc), retry_in=delay)
            return False
        except Transient as exc:
            delay = self.file_backoff.fail(self.clock())
            self.metrics.retries.labels(operation="batch").inc()
            log.warning("ingest.batch_retry", error=type(exc).__name__, retry_in=delay)
            return False
        except OSError as exc:
            # Permission problems and the like: keep the files, retry slowly, say what happened.
            delay = self.file_backoff.fail(self.clock())
            self.metrics.retries.labels(operation="file_io").inc()
            log.error("inbox.io_error", error=exc.strerror, errno=exc.errno, retry_in=delay)
            return False
        return True

    def _database_state(self, up: bool, retry_in: float | None = None) -> None:
        if up != self.database_up or not self._database_reported:
            self._database_reported = True
            if up:
                log.info("database.up")
            else:
                log.warning("database.down", retry_in=retry_in)
        self.database_up = up
        self.metrics.database_up.set(1 if up else 0)

    # -- status (read by the HTTP thread) --------------------------------------------------------

    def _start_refresher(self) -> None:
        self._refresher = threading.Thread(
            target=self._refresh_loop, name="newsdrop-status", daemon=True
        )
        self._refresher.start()

    def _stop_refresher(self) -> None:
        if self._refresher is not None:
            self._refresher.join(timeout=10)
            self._refresher = None

    def _refresh_loop(self) -> None:
        while not self.stop_requested.wait(2.0 if self.database_up else 5.0):
            self.refresh_snapshot()

    def refresh_snapshot(self) -> None:
        """Recompute the figures the HTTP endpoints serve."""
        backlog = self.inbox.backlog()
        self.metrics.inbox_backlog.set(backlog)
        self.metrics.quarantine_size.set(self.inbox.count_quarantine())
        self.metrics.oldest_pending_age.set(self.pending.oldest_age(self.clock()))
        if not self.database_up:
            # Down, or up but not migrated yet: the tables may not exist, so do not query.
            self._keep_figures(backlog)
            return
        self._keep_visible()
        started = self.clock()
        if started < self._status_due:
            # Figures not due yet; a trivial query still notices a lost database while idle.
            if not self.store.ping():
                self.database_lost.set()
            self._keep_figures(backlog)
            return
        try:
            counts = self.store.counts()
            recent = self.store.recent(20)
            quarantine = self.store.quarantined(50)
            throughput = self.store.throughput(60)
        except DatabaseUnavailable:
            self.database_lost.set()
            self._keep_figures(backlog)
            return
        self._status_due = started + (self.clock() - started) / _STATUS_QUERY_SHARE
        self.metrics.articles.set(counts["articles"])
        with self._snapshot_lock:
            self.snapshot = Snapshot(counts, recent, quarantine, throughput, backlog)

    def _count_writes(self, filed: Sequence[FileResult]) -> None:
        # Read and reset by the status thread: a count lost to that race only delays a VACUUM.
        self._writes_since_vacuum += sum(1 for f in filed if f.outcome in _ARTICLE_WRITES)

    def _keep_visible(self) -> None:
        """Status thread: VACUUM `articles` once enough rows were written (see the constant)."""
        if self._writes_since_vacuum < _VACUUM_AFTER_WRITES:
            return
        self._writes_since_vacuum = 0
        try:
            self.store.vacuum_articles()
        except DatabaseUnavailable:
            self.database_lost.set()

    def _keep_figures(self, backlog: int) -> None:
        """The database figures stay as they were; only the inbox backlog is new."""
        with self._snapshot_lock:
            self.snapshot.backlog = backlog

    def liveness_age(self) -> float:
        """Seconds since the loop last ticked."""
        return max(0.0, self.clock() - self.last_tick)

    def readiness(self) -> dict[str, bool]:
        """The checks behind /readyz."""
        interval = self.poll_seconds if self.watcher.mode == "polling" else self.reconcile_seconds
        recent_scan = self.last_reconcile is not None and (
            self.clock() - self.last_reconcile <= 3 * interval + 5
        )
        return {
            "database": self.database_up,
            "watcher": self.watcher.alive(),
            "directories": self.inbox.folders.writable(),
            "reconcile": recent_scan,
        }

    def status(self) -> dict[str, Any]:
        """The `status --json` figures plus the latest files."""
        with self._snapshot_lock:
            snap = self.snapshot
        counts = snap.counts or {"articles": 0, "versions": 0, "files": {}}
        return {
            **counts,
            "inbox_backlog": snap.backlog,
            "database": "up" if self.database_up else "down",
            "watcher_mode": self.watcher.mode,
            "recent": snap.recent,
        }

    def dashboard(self) -> dict[str, Any]:
        """Everything the HTML status page shows."""
        with self._snapshot_lock:
            snap = self.snapshot
        return {
            **self.status(),
            "throughput": snap.throughput,
            "quarantine": snap.quarantine,
            "oldest_pending_age": self.pending.oldest_age(self.clock()),
        }
