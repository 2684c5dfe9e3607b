"""The file system lifecycle on a real (temporary) file system."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from service.errors import BundleRejected, ReasonCode
from service.inbox import Folders, Inbox, display_name

pytestmark = pytest.mark.unit

NAME = "001_0123456789abcdef.txt"


@pytest.fixture
def inbox(tmp_path: Path) -> Inbox:
    folders = Folders(*(tmp_path / n for n in ("inbox", "processing", "processed", "quarantine")))
    folders.ensure()
    return Inbox(folders, max_file_bytes=1024)


def drop(inbox: Inbox, name: str = NAME, data: bytes = b"hello") -> Path:
    path = inbox.folders.inbox / name
    path.write_bytes(data)
    return path


def test_claim_moves_into_processing_and_keeps_the_key(inbox: Inbox) -> None:
    drop(inbox)
    claim = inbox.claim(NAME)
    assert claim is not None
    assert not (inbox.folders.inbox / NAME).exists()
    assert (inbox.folders.processing / NAME).read_bytes() == b"hello"
    assert inbox.recover()[0].arrival_key == claim.arrival_key
    assert inbox.read(claim) == b"hello"


def test_only_one_claim_wins(inbox: Inbox) -> None:
    drop(inbox)
    os.link(inbox.folders.inbox / NAME, inbox.folders.processing / NAME)  # another worker won
    assert inbox.claim(NAME) is None
    assert inbox.claim("002_0123456789abcdef.txt") is None  # vanished


def test_processed_never_overwrites(inbox: Inbox) -> None:
    targets = []
    for data in (b"one", b"two"):
        drop(inbox, data=data)
        claim = inbox.claim(NAME)
        assert claim is not None
        targets.append(Path(inbox.file_processed(claim, when=0)))
    assert [t.name for t in targets] == [NAME, NAME + ".1"]
    assert targets[0].parent.name == "1970-01-01"
    assert [t.read_bytes() for t in targets] == [b"one", b"two"]
    assert not any(inbox.folders.processing.iterdir())


def test_refiling_after_a_crash_between_link_and_unlink_makes_no_copy(inbox: Inbox) -> None:
    drop(inbox)
    claim = inbox.claim(NAME)
    assert claim is not None
    day = inbox.folders.processed / "1970-01-01"
    day.mkdir()
    os.link(claim.path, day / NAME)  # the crash happened right after this link
    target = inbox.file_processed(claim, when=0)
    assert target == str(day / NAME)
    assert sorted(p.name for p in day.iterdir()) == [NAME]


def test_recovery_finishes_a_claim_cut_between_its_link_and_its_unlink(inbox: Inbox) -> None:
    drop(inbox)
    os.link(inbox.folders.inbox / NAME, inbox.folders.processing / NAME)  # then the crash
    [claim] = inbox.recover()
    assert not (inbox.folders.inbox / NAME).exists()
    assert claim.nlink == 1
    assert inbox.read(claim) == b"hello"  # not taken for a file hard-linked from elsewhere


def test_recovery_leaves_a_new_inbox_file_of_the_same_name_alone(inbox: Inbox) -> None:
    drop(inbox, data=b"first")
    assert inbox.claim(NAME) is not None
    drop(inbox, data=b"second")  # dropped again after the claim, before the crash
    [claim] = inbox.recover()
    assert (inbox.folders.inbox / NAME).read_bytes() == b"second"
    assert inbox.read(claim) == b"first"


def test_recovery_still_sees_a_link_from_outside_the_inbox(inbox: Inbox, tmp_path: Path) -> None:
    path = drop(inbox)
    os.link(path, tmp_path / "other-link")
    os.link(path, inbox.folders.processing / NAME)  # the crash cut this claim too
    [claim] = inbox.recover()
    assert not path.exists()
    assert claim.nlink == 2
    with pytest.raises(BundleRejected) as info:
        inbox.check(claim)
    assert info.value.reason is ReasonCode.NOT_REGULAR_FILE


def test_a_day_folder_removed_under_the_daemon_is_made_again(inbox: Inbox) -> None:
    drop(inbox, "001_0123456789abcdef.txt")
    first = inbox.claim("001_0123456789abcdef.txt")
    assert first is not None
    day = Path(inbox.file_processed(first, when=0)).parent
    (day / "001_0123456789abcdef.txt").unlink()
    day.rmdir()  # an operator tidied processed/ while the daemon ran
    drop(inbox, "002_0123456789abcdef.txt")
    second = inbox.claim("002_0123456789abcdef.txt")
    assert second is not None
    assert inbox.file_processed(second, when=0) == str(day / "002_0123456789abcdef.txt")
    assert not any(inbox.folders.processing.iterdir())


def test_quarantine_writes_the_error_report(inbox: Inbox) -> None:
    drop(inbox, data=b"\x00\x01")
    claim = inbox.claim(NAME)
    assert claim is not None
    target = inbox.file_quarantined(claim, "binary", "NUL bytes", "ab" * 32, when=0)
    report = json.loads(target.with_name(NAME + ".error.json").read_text())
    assert report == {
        "name": NAME,
        "reason": "binary",
        "message": "NUL bytes",
        "sha256": "ab" * 32,
        "size": 2,
        "time": "1970-01-01T00:00:00Z",
    }
    assert inbox.count_quarantine() == 1


@pytest.mark.parametrize("name", ["x" * 251 + ".txt", "a\nb\x1b[31m.txt"])
def test_hostile_names_are_filed_safely(inbox: Inbox, name: str) -> None:
    drop(inbox, name=name)
    claim = inbox.claim(name)
    assert claim is not None
    target = inbox.file_quarantined(claim, "bad_name", "bad", None)
    assert target.exists()
    errors = list(inbox.folders.quarantine.glob("*.error.json"))
    assert len(errors) == 1
    assert json.loads(errors[0].read_text())["name"] == display_name(name)


def test_symlink_is_rejected_without_reading_its_target(inbox: Inbox, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("root:x:0:0")
    os.symlink(secret, inbox.folders.inbox / NAME)
    claim = inbox.claim(NAME)
    assert claim is not None
    assert (inbox.folders.processing / NAME).is_symlink()
    with pytest.raises(BundleRejected) as info:
        inbox.read(claim)
    assert info.value.reason is ReasonCode.SYMLINK
    assert "root" not in info.value.message


def test_hard_linked_file_is_not_a_regular_bundle(inbox: Inbox, tmp_path: Path) -> None:
    path = drop(inbox)
    os.link(path, tmp_path / "other-link")
    claim = inbox.claim(NAME)
    assert claim is not None
    with pytest.raises(BundleRejected) as info:
        inbox.check(claim)
    assert info.value.reason is ReasonCode.NOT_REGULAR_FILE


def test_too_large_is_decided_from_stat(inbox: Inbox) -> None:
    path = drop(inbox, data=b"")
    with path.open("r+b") as handle:
        handle.truncate(10 * 1024 * 1024)  # sparse: nothing to read even if we tried
    claim = inbox.claim(NAME)
    assert claim is not None
    with pytest.raises(BundleRejected) as info:
        inbox.check(claim)
    assert info.value.reason is ReasonCode.TOO_LARGE


def test_scan_skips_in_progress_names_and_directories(inbox: Inbox) -> None:
    drop(inbox)
    drop(inbox, name=".001_0123456789abcdef.txt.XyZ")
    drop(inbox, name="002_0123456789abcdef.txt.part")
    (inbox.folders.inbox / "sub").mkdir()
    assert [name for name, _ in inbox.scan()] == [NAME]
    assert inbox.backlog() == 1


def test_counts_of_a_removed_folder_are_zero(inbox: Inbox) -> None:
    # The status thread counts every 2 s; a removed inbox must not end that thread.
    drop(inbox)
    assert inbox.backlog() == 1
    (inbox.folders.inbox / NAME).unlink()
    inbox.folders.inbox.rmdir()
    inbox.folders.quarantine.rmdir()
    assert inbox.backlog() == 0
    assert inbox.count_quarantine() == 0


def test_a_claim_without_processing_folder_fails_and_leaves_the_file(inbox: Inbox) -> None:
    path = drop(inbox)
    inbox.folders.processing.rmdir()
    with pytest.raises(FileNotFoundError):
        inbox.claim(NAME)
    assert path.read_bytes() == b"hello"
    assert inbox.claim("002_0123456789abcdef.txt") is None  # a vanished file is no error
