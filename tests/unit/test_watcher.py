"""The inotify watcher on a real (temporary) directory: what becomes a hint, and what does not."""

from __future__ import annotations

import os
import queue
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.watcher import Hint, Watcher

pytestmark = pytest.mark.unit

NAME = "001_0123456789abcdef.txt"


class Seen:
    """Hints and overflows as the watcher's callbacks deliver them (on its thread)."""

    def __init__(self) -> None:
        self.hints: queue.Queue[Hint] = queue.Queue()
        self.overflows = 0

    def overflow(self) -> None:
        self.overflows += 1

    def next(self, timeout: float = 5.0) -> Hint:
        return self.hints.get(timeout=timeout)

    def none_within(self, seconds: float) -> bool:
        try:
            self.hints.get(timeout=seconds)
        except queue.Empty:
            return True
        return False


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def watcher(inbox: Path, seen: Seen) -> Iterator[Watcher]:
    w = Watcher(inbox, mode="auto", on_hint=seen.hints.put, on_overflow=seen.overflow)
    assert w.start() == "inotify"
    yield w
    w.stop()


def test_a_file_renamed_in_is_one_complete_hint(
    watcher: Watcher, inbox: Path, tmp_path: Path, seen: Seen
) -> None:
    staged = tmp_path / NAME
    staged.write_bytes(b"page")
    staged.rename(inbox / NAME)
    assert seen.next() == Hint(NAME, renamed_in=True)
    assert seen.none_within(0.2)


def test_a_rename_inside_the_inbox_is_a_complete_hint_for_the_new_name(
    watcher: Watcher, inbox: Path, seen: Seen
) -> None:
    # rsync writes `.name.XXXXXX` in the inbox, then renames it.
    temp = inbox / f".{NAME}.a1b2c3"
    with temp.open("wb") as f:
        f.write(b"page")
    assert seen.next() == Hint(temp.name, renamed_in=False)  # created
    assert seen.next() == Hint(temp.name, renamed_in=False)  # closed after writing
    temp.rename(inbox / NAME)
    assert seen.next() == Hint(NAME, renamed_in=True)


def test_a_file_written_in_place_hints_at_creation_and_at_close(
    watcher: Watcher, inbox: Path, seen: Seen
) -> None:
    with (inbox / NAME).open("wb") as f:
        assert seen.next() == Hint(NAME, renamed_in=False)
        f.write(b"page")
        f.flush()
        assert seen.none_within(0.2)  # a write alone is no hint: the settle time decides
    assert seen.next() == Hint(NAME, renamed_in=False)


def test_directories_deletions_and_renames_out_are_no_hints(
    watcher: Watcher, inbox: Path, tmp_path: Path, seen: Seen
) -> None:
    (inbox / "sub").mkdir()
    (tmp_path / NAME).write_bytes(b"page")
    os.link(tmp_path / NAME, inbox / NAME)  # a link is a create
    assert seen.next() == Hint(NAME, renamed_in=False)
    (inbox / NAME).unlink()
    (tmp_path / "other.txt").write_bytes(b"x")
    shutil.move(tmp_path / "other.txt", inbox / "other.txt")
    assert seen.next() == Hint("other.txt", renamed_in=True)
    (inbox / "other.txt").rename(tmp_path / "other.txt")
    assert seen.none_within(0.2)


def test_a_burst_of_renames_arrives_whole(
    watcher: Watcher, inbox: Path, tmp_path: Path, seen: Seen
) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    names = [f"{i:06d}_0123456789abcdef.txt" for i in range(5000)]
    for name in names:
        (staging / name).write_bytes(b"x")
    for name in names:
        os.rename(staging / name, inbox / name)
    hints = [seen.next() for _ in names]
    assert [h.name for h in hints] == names  # in the kernel's order
    assert all(h.renamed_in for h in hints)
    assert seen.overflows == 0


def test_the_watcher_is_dead_once_the_inbox_is_gone(watcher: Watcher, inbox: Path) -> None:
    assert watcher.alive()
    inbox.rmdir()
    deadline = time.monotonic() + 5
    while watcher.alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not watcher.alive()


def test_a_removed_inbox_is_watched_again_once_it_is_back(
    watcher: Watcher, inbox: Path, tmp_path: Path, seen: Seen
) -> None:
    assert watcher.rewatch() is False  # nothing lost
    inbox.rmdir()
    deadline = time.monotonic() + 5
    while watcher.alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert watcher.rewatch() is False  # still missing
    inbox.mkdir()
    assert watcher.rewatch() is True
    assert watcher.alive()
    (tmp_path / NAME).write_bytes(b"page")
    (tmp_path / NAME).rename(inbox / NAME)
    assert seen.next() == Hint(NAME, renamed_in=True)


def test_stop_ends_the_reader_thread(inbox: Path, seen: Seen) -> None:
    w = Watcher(inbox, mode="inotify", on_hint=seen.hints.put, on_overflow=seen.overflow)
    w.start()
    reader = w._reader
    assert reader is not None
    assert reader.is_alive()
    w.stop()
    assert not reader.is_alive()
    assert not w.alive()


def test_polling_asked_for_starts_no_thread(inbox: Path, seen: Seen) -> None:
    w = Watcher(inbox, mode="polling", on_hint=seen.hints.put, on_overflow=seen.overflow)
    assert w.start() == "polling"
    assert w.alive()
    assert w._reader is None


def test_a_missing_inbox_falls_back_to_polling_unless_inotify_was_required(
    tmp_path: Path, seen: Seen
) -> None:
    missing = tmp_path / "nowhere"
    auto = Watcher(missing, mode="auto", on_hint=seen.hints.put, on_overflow=seen.overflow)
    assert auto.start() == "polling"
    assert auto.failure == "ENOENT"
    required = Watcher(missing, mode="inotify", on_hint=seen.hints.put, on_overflow=seen.overflow)
    with pytest.raises(FileNotFoundError):
        required.start()
