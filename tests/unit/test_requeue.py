"""`newsdrop requeue` on the file system: what moves, under which name, and what never does."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from service.requeue import inbox_name, requeue

pytestmark = pytest.mark.unit

NAME = "001_0123456789abcdef.txt"


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    quarantine, inbox = tmp_path / "quarantine", tmp_path / "inbox"
    quarantine.mkdir()
    inbox.mkdir()
    return quarantine, inbox


def quarantined(
    quarantine: Path, name: str, reason: str | None = "empty", report_name: str | None = None
) -> Path:
    path = quarantine / name
    path.write_bytes(b"page")
    if reason is not None:
        report = {"name": report_name or name, "reason": reason, "message": "m", "sha256": None}
        (quarantine / f"{name}.error.json").write_text(json.dumps(report), encoding="utf-8")
    return path


def test_all_bundles_go_back_with_their_reports_removed(folders: tuple[Path, Path]) -> None:
    quarantine, inbox = folders
    quarantined(quarantine, NAME)
    quarantined(quarantine, "002_0123456789abcdef.txt", reason="binary")
    results = requeue(quarantine, inbox)
    assert [(r.name, r.moved, r.reason) for r in results] == [
        (NAME, True, "empty"),
        ("002_0123456789abcdef.txt", True, "binary"),
    ]
    assert sorted(p.name for p in inbox.iterdir()) == [NAME, "002_0123456789abcdef.txt"]
    assert list(quarantine.iterdir()) == []
    assert os.stat(inbox / NAME).st_nlink == 1  # never two links: the daemon would refuse it


def test_reason_filter(folders: tuple[Path, Path]) -> None:
    quarantine, inbox = folders
    quarantined(quarantine, NAME, reason="empty")
    quarantined(quarantine, "002_0123456789abcdef.txt", reason="binary")
    results = requeue(quarantine, inbox, reason="binary")
    assert [r.name for r in results if r.moved] == ["002_0123456789abcdef.txt"]
    assert (quarantine / NAME).exists()


def test_a_missing_or_broken_report_does_not_block(folders: tuple[Path, Path]) -> None:
    quarantine, inbox = folders
    quarantined(quarantine, NAME, reason=None)
    broken = quarantined(quarantine, "002_0123456789abcdef.txt")
    (quarantine / f"{broken.name}.error.json").write_text("{not json", encoding="utf-8")
    assert [r.name for r in requeue(quarantine, inbox, reason="empty")] == []
    results = requeue(quarantine, inbox)
    assert all(r.moved for r in results)
    assert {r.reason for r in results} == {None}
    assert sorted(p.name for p in inbox.iterdir()) == [NAME, "002_0123456789abcdef.txt"]
    assert list(quarantine.iterdir()) == []


def test_a_name_waiting_in_the_inbox_is_never_replaced(folders: tuple[Path, Path]) -> None:
    quarantine, inbox = folders
    quarantined(quarantine, NAME)
    (inbox / NAME).write_bytes(b"newer copy")
    [result] = requeue(quarantine, inbox)
    assert not result.moved
    assert "already waits in the inbox" in (result.note or "")
    assert (inbox / NAME).read_bytes() == b"newer copy"
    assert (quarantine / NAME).read_bytes() == b"page"
    assert (quarantine / f"{NAME}.error.json").exists()


def test_a_suffixed_quarantine_name_goes_back_under_its_own_name(
    folders: tuple[Path, Path],
) -> None:
    quarantine, inbox = folders
    quarantined(quarantine, NAME + ".1", report_name=NAME)
    [result] = requeue(quarantine, inbox)
    assert (result.moved, result.inbox_name) == (True, NAME)
    assert (inbox / NAME).read_bytes() == b"page"


@pytest.mark.parametrize(
    "hostile", ["../../etc/passwd", "/etc/passwd", "..", ".hidden", "a\x00b", "x.tmp", ""]
)
def test_a_hostile_name_in_the_report_is_never_used(
    folders: tuple[Path, Path], hostile: str
) -> None:
    quarantine, inbox = folders
    quarantined(quarantine, NAME, report_name=hostile or None)
    [result] = requeue(quarantine, inbox)
    assert (result.moved, result.inbox_name) == (True, NAME)
    assert [p.name for p in inbox.iterdir()] == [NAME]
    assert inbox_name(NAME, {"name": hostile}) == NAME


def test_hostile_names_on_the_command_line_select_nothing(folders: tuple[Path, Path]) -> None:
    quarantine, inbox = folders
    quarantined(quarantine, NAME)
    outside = quarantine.parent / "outside.txt"
    outside.write_bytes(b"secret")
    results = requeue(quarantine, inbox, names=["../outside.txt", str(outside), NAME + "/.."])
    assert [r.note for r in results] == ["not in quarantine"] * 3
    assert list(inbox.iterdir()) == []
    assert outside.exists()
    assert (quarantine / NAME).exists()


def test_named_bundles_only_and_unknown_names_reported(folders: tuple[Path, Path]) -> None:
    quarantine, inbox = folders
    quarantined(quarantine, NAME)
    quarantined(quarantine, "002_0123456789abcdef.txt")
    results = requeue(quarantine, inbox, names=[NAME, "009_0123456789abcdef.txt"])
    assert [(r.name, r.moved) for r in results] == [
        (NAME, True),
        ("009_0123456789abcdef.txt", False),
    ]
    assert (quarantine / "002_0123456789abcdef.txt").exists()


def test_a_symlink_moves_as_a_link_and_is_never_followed(folders: tuple[Path, Path]) -> None:
    quarantine, inbox = folders
    target = quarantine.parent / "target.txt"
    target.write_bytes(b"not ours")
    (quarantine / NAME).symlink_to(target)
    [result] = requeue(quarantine, inbox)
    assert result.moved
    assert (inbox / NAME).is_symlink()  # the daemon quarantines it again as `symlink`
    assert target.read_bytes() == b"not ours"


def test_dot_files_and_orphan_reports_are_left_alone(folders: tuple[Path, Path]) -> None:
    quarantine, inbox = folders
    (quarantine / ".partial.tmp").write_bytes(b"x")
    (quarantine / f"{NAME}.error.json").write_text("{}", encoding="utf-8")
    assert requeue(quarantine, inbox) == []
    assert sorted(p.name for p in quarantine.iterdir()) == [".partial.tmp", f"{NAME}.error.json"]
