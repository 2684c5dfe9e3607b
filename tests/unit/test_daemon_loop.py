"""The daemon loop's scheduling on a real (temporary) inbox, with the clock passed in.

The pipeline is a recording stand-in: these tests are about which files are claimed when,
not about parsing or SQL (the e2e and fault tests run the real thing).
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Iterable, KeysView, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog.testing

from service import daemon as daemon_module
from service.daemon import Daemon
from service.errors import DatabaseUnavailable
from service.inbox import Claimed, Folders, Inbox
from service.metrics import Metrics
from service.pipeline import FileResult

pytestmark = pytest.mark.unit


class _Store:
    def __init__(self) -> None:
        self.vacuums = 0
        self.down = False

    def ping(self) -> bool:
        return True

    def vacuum_articles(self) -> None:
        if self.down:
            raise DatabaseUnavailable("gone")
        self.vacuums += 1


class _Watcher:
    mode = requested = "polling"

    def alive(self) -> bool:
        return True

    def rewatch(self) -> bool:
        return False


class _Pipeline:
    """Records the order of start() and finish() calls and of the files they carry."""

    can_look_ahead = True

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self._ahead: dict[str, None] = {}
        self.file_bytes = 1  # each file read ahead is this large

    @property
    def ahead(self) -> KeysView[str]:
        return self._ahead.keys()

    @property
    def ahead_bytes(self) -> int:
        return len(self._ahead) * self.file_bytes

    def forget_ahead(self, names: Iterable[str]) -> None:
        for name in names:
            self._ahead.pop(name, None)

    def look_ahead(self, names: Sequence[str]) -> int:
        self.calls.append(("ahead", list(names)))
        self._ahead.update(dict.fromkeys(names))
        return len(names)

    def start(self, claims: Sequence[Claimed], seen_at: dict[str, datetime]) -> list[str]:
        names = [c.name for c in claims]
        assert all(name in seen_at for name in names)  # the ledger gets its first sighting
        self.forget_ahead(names)
        self.calls.append(("start", names))
        return names

    def commit(self, started: list[str]) -> list[str]:
        self.calls.append(("commit", started))
        return started

    def file(self, committed: list[str]) -> list[FileResult]:
        self.calls.append(("finish", committed))
        return []


def _daemon(tmp_path: Path, clock: list[float], batch_size: int) -> tuple[Daemon, _Pipeline]:
    folders = Folders(*(tmp_path / n for n in ("inbox", "processing", "processed", "quarantine")))
    folders.ensure()
    pipeline = _Pipeline()
    daemon = Daemon(
        inbox=Inbox(folders, max_file_bytes=1 << 20),
        store=_Store(),  # type: ignore[arg-type]
        pipeline=pipeline,  # type: ignore[arg-type]
        watcher=_Watcher(),  # type: ignore[arg-type]
        metrics=Metrics(),
        settle_seconds=2.0,
        reconcile_seconds=30.0,
        poll_seconds=30.0,
        batch_size=batch_size,
        retry_max_seconds=5.0,
        clock=lambda: clock[0],
    )
    return daemon, pipeline


def _turn(daemon: Daemon, clock: list[float], step: float) -> None:
    daemon._maybe_reconcile()
    daemon._step()
    clock[0] += step


def _drop_shuffled(tmp_path: Path, count: int, seed: int) -> list[str]:
    """Write `count` bundles of two doc_ids into the inbox, shuffled; returns them in seq order."""
    names = [f"{seq:03d}_{'ab'[seq % 2] * 16}.txt" for seq in range(1, count + 1)]
    for name in random.Random(seed).sample(names, len(names)):
        (tmp_path / "inbox" / name).write_text("x")
    return names


def test_a_startup_backlog_is_taken_in_batch_order_across_scan_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(daemon_module, "_SCAN_CHUNK", 3)
    clock = [100.0]
    daemon, pipeline = _daemon(tmp_path, clock, batch_size=4)
    names = _drop_shuffled(tmp_path, 11, seed=7)
    daemon._reconcile(startup=True)
    daemon._step()  # the first database contact may take long (migrations): chunks drift apart
    clock[0] += 1.5
    for _ in range(60):
        _turn(daemon, clock, 0.1)
    started = [names for call, names in pipeline.calls if call == "start"]
    assert [n for batch in started for n in batch] == names  # seq order, whatever the chunks
    assert not any((tmp_path / "inbox").iterdir())


def test_the_settle_time_of_a_startup_backlog_is_spent_parsing_the_first_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(daemon_module, "_AHEAD_BATCHES", 3)
    clock = [100.0]
    daemon, pipeline = _daemon(tmp_path, clock, batch_size=3)
    names = _drop_shuffled(tmp_path, 20, seed=3)
    daemon._reconcile(startup=True)
    for _ in range(5):  # within the 2 s hold: nothing is claimed
        _turn(daemon, clock, 0.1)
    ahead = [n for call, n in pipeline.calls if call == "ahead"]
    assert [c for c, _ in pipeline.calls] == ["ahead"] * 3  # as many batches as allowed, no more
    assert [n for batch in ahead for n in batch] == names[:9]  # in the order of the claims
    (tmp_path / "inbox" / names[0]).unlink()
    daemon._note(names[0])  # as an event or a scan would
    _turn(daemon, clock, 0.1)
    assert names[0] not in pipeline.ahead  # gone from the inbox: dropped
    assert len(pipeline.ahead) == 8
    assert len(pipeline.calls) == 3  # reads go by whole batches: no room for one yet
    clock[0] += 2.0
    for _ in range(30):
        _turn(daemon, clock, 0.1)
    started = [n for call, names_ in pipeline.calls if call == "start" for n in names_]
    assert started == names[1:]
    assert not pipeline.ahead


def test_parsing_ahead_stops_at_its_byte_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(daemon_module, "_AHEAD_BATCHES", 10)
    monkeypatch.setattr(daemon_module, "_AHEAD_BYTES", 5_000)
    clock = [100.0]
    daemon, pipeline = _daemon(tmp_path, clock, batch_size=3)
    pipeline.file_bytes = 1_000
    names = _drop_shuffled(tmp_path, 20, seed=5)
    daemon._reconcile(startup=True)
    for _ in range(5):  # within the 2 s hold
        _turn(daemon, clock, 0.1)
    ahead = [n for call, n in pipeline.calls if call == "ahead"]
    # The second batch takes the bytes held past the budget: no third is read.
    assert [n for batch in ahead for n in batch] == names[:6]
    for name in names[:3]:  # gone from the inbox: their parses are dropped
        (tmp_path / "inbox" / name).unlink()
        daemon._note(name)
    _turn(daemon, clock, 0.1)
    ahead = [n for call, n in pipeline.calls if call == "ahead"]
    assert [n for batch in ahead for n in batch] == names[:9]  # room again: one batch more


def test_batches_are_claimed_and_parsed_while_the_oldest_commits(tmp_path: Path) -> None:
    clock = [100.0]
    daemon, pipeline = _daemon(tmp_path, clock, batch_size=2)
    release = threading.Event()
    commit = pipeline.commit

    def slow_commit(started: list[str]) -> list[str]:
        release.wait(10)
        return commit(started)

    pipeline.commit = slow_commit  # type: ignore[method-assign]
    daemon.writer = ThreadPoolExecutor(max_workers=1)
    try:
        for seq in range(8):
            (tmp_path / "inbox" / f"{seq:03d}_{'c' * 16}.txt").write_text("x")
        daemon._reconcile(startup=True)
        clock[0] += 2.5
        for _ in range(5):
            _turn(daemon, clock, 0.0)
        # The first batch's COMMIT is still running: two more batches are in the pool already.
        assert [(c, n[0][:3]) for c, n in pipeline.calls] == [
            ("start", "000"),
            ("start", "002"),
            ("start", "004"),
        ]
        release.set()
        for _ in range(40):
            _turn(daemon, clock, 0.0)
            if not daemon.in_hand:
                break
            time.sleep(0.01)
    finally:
        release.set()
        daemon.writer.shutdown(wait=True)
    commits = [n[0][:3] for c, n in pipeline.calls if c == "commit"]
    filed = [n[0][:3] for c, n in pipeline.calls if c == "finish"]
    assert commits == filed == ["000", "002", "004", "006"]  # one by one, in batch order
    for call, names in pipeline.calls:
        if call == "finish":  # moves only after that batch's COMMIT
            assert pipeline.calls.index(("commit", names)) < pipeline.calls.index((call, names))
    assert not daemon.in_hand


def test_a_lone_renamed_in_file_is_taken_at_once(tmp_path: Path) -> None:
    clock = [100.0]
    daemon, pipeline = _daemon(tmp_path, clock, batch_size=200)
    daemon._reconcile(startup=True)
    clock[0] += 2.5
    _turn(daemon, clock, 0.0)
    name = f"001_{'d' * 16}.txt"
    (tmp_path / "inbox" / name).write_text("x")
    daemon._note(name, renamed_in=True)
    _turn(daemon, clock, 0.0)
    assert pipeline.calls == [("start", [name]), ("commit", [name]), ("finish", [name])]


def test_seen_at_is_the_first_sighting(tmp_path: Path) -> None:
    clock = [100.0]
    daemon, pipeline = _daemon(tmp_path, clock, batch_size=200)
    seen: list[Any] = []
    pipeline.start = lambda claims, seen_at: (
        seen.extend(  # type: ignore[method-assign]
            seen_at[c.name] for c in claims
        )
        or [c.name for c in claims]
    )
    (tmp_path / "inbox" / f"001_{'e' * 16}.txt").write_text("x")
    daemon._reconcile(startup=True)
    clock[0] += 5.0
    before = datetime.now().astimezone()
    _turn(daemon, clock, 0.0)
    assert len(seen) == 1
    assert 4.5 <= (before - seen[0]).total_seconds() <= 6.0


def test_an_empty_startup_holds_nothing_up(tmp_path: Path) -> None:
    clock = [100.0]
    daemon, pipeline = _daemon(tmp_path, clock, batch_size=200)
    daemon._reconcile(startup=True)
    name = f"001_{'f' * 16}.txt"
    (tmp_path / "inbox" / name).write_text("x")
    daemon._note(name, renamed_in=True)
    _turn(daemon, clock, 0.0)
    assert pipeline.calls == [("start", [name]), ("commit", [name]), ("finish", [name])]


def test_the_loop_sleeps_while_a_commit_runs_and_nothing_is_due(tmp_path: Path) -> None:
    clock = [100.0]
    daemon, pipeline = _daemon(tmp_path, clock, batch_size=200)
    release = threading.Event()
    commit = pipeline.commit
    pipeline.commit = lambda started: release.wait(10) and commit(started)  # type: ignore[method-assign]
    daemon.writer = ThreadPoolExecutor(max_workers=1)
    try:
        daemon._reconcile(startup=True)
        name = f"001_{'a' * 16}.txt"
        (tmp_path / "inbox" / name).write_text("x")
        daemon._note(name, renamed_in=True)
        _turn(daemon, clock, 0.0)
        assert daemon.in_hand[0].commit is not None
        # The writer holds the batch: no busy loop taking the GIL from it meanwhile.
        assert daemon._wait_time(clock[0]) == daemon_module._TICK
        other = f"002_{'a' * 16}.txt"
        (tmp_path / "inbox" / other).write_text("x")
        daemon._note(other, renamed_in=True)
        assert daemon._wait_time(clock[0]) == 0.0  # but a new file goes at once
    finally:
        release.set()
        daemon.writer.shutdown(wait=True)


class _SlowStatusStore(_Store):
    """Status queries that take `seconds` of the daemon's clock; counts every query."""

    def __init__(self, clock: list[float], seconds: float) -> None:
        self.clock, self.seconds = clock, seconds
        self.counted = self.pinged = 0
        self.up = True

    def ping(self) -> bool:
        self.pinged += 1
        return self.up

    def counts(self) -> dict[str, Any]:
        self.counted += 1
        self.clock[0] += self.seconds
        return {"articles": 7, "versions": 7, "files": {}}

    def recent(self, limit: int) -> list[dict[str, Any]]:
        return []

    quarantined = throughput = recent


@pytest.mark.parametrize(("query_seconds", "expected_counts"), [(0.01, 30), (0.5, 3)])
def test_status_queries_take_a_bounded_share_of_the_database(
    tmp_path: Path, query_seconds: float, expected_counts: int
) -> None:
    clock = [100.0]
    daemon, _ = _daemon(tmp_path, clock, batch_size=4)
    store = _SlowStatusStore(clock, query_seconds)
    daemon.store = store  # type: ignore[assignment]
    daemon.database_up = True
    for _ in range(30):  # a minute of the refresher's 2 s turns
        daemon.refresh_snapshot()
        clock[0] += 2.0
    # Fast queries run every turn; 0.5 s queries once per 25 s or more (2% of the time):
    # at 0, ~26.5 and ~53 s of the minute.
    assert store.counted == expected_counts
    assert daemon.status()["articles"] == 7
    store.up = False  # lost while the figures are not due: the trivial query notices
    daemon.refresh_snapshot()
    assert daemon.database_lost.is_set() == (expected_counts < 30)


def _results(outcomes: Sequence[str]) -> list[FileResult]:
    return [
        FileResult(f"{i:03d}_x.txt", None, None, o, None, 1.0, False)
        for i, o in enumerate(outcomes)
    ]


def test_articles_are_vacuumed_once_enough_rows_were_written(tmp_path: Path) -> None:
    daemon, _ = _daemon(tmp_path, [0.0], batch_size=10)
    store = daemon.store
    assert isinstance(store, _Store)
    writes = daemon_module._VACUUM_AFTER_WRITES
    daemon._count_writes(_results(["inserted"] * (writes - 1) + ["unchanged", "quarantined"]))
    daemon._keep_visible()
    assert store.vacuums == 0  # unchanged and quarantined files write no article row
    daemon._count_writes(_results(["duplicate"]))
    daemon._keep_visible()
    daemon._keep_visible()
    assert store.vacuums == 1  # and the count starts again
    store.down = True
    daemon._count_writes(_results(["updated"] * writes))
    daemon._keep_visible()
    assert daemon.database_lost.is_set()


def test_a_stop_signal_is_only_noted_and_the_loop_says_so(tmp_path: Path) -> None:
    # A signal handler runs between two bytecodes of the main thread, maybe in the middle of
    # a log line whose writer holds a lock: the handler must not log (that deadlocked).
    daemon, _ = _daemon(tmp_path, [0.0], batch_size=10)
    with structlog.testing.capture_logs() as handler_lines:
        daemon.request_stop(signal.SIGTERM)
    assert handler_lines == []
    assert not daemon.stop_requested.is_set()  # noted only
    with structlog.testing.capture_logs() as loop_lines:
        assert daemon._stop_noted()
        assert daemon._stop_noted()
    assert loop_lines == [{"event": "daemon.stopping", "signal": "SIGTERM", "log_level": "info"}]
    assert daemon.stop_requested.is_set()  # the status thread sees it from here on
