"""Quarantine back to the inbox: `newsdrop requeue`, after the cause of a rejection is fixed.

Every name comes from a directory listing of quarantine/, never from the command line or an
error report: a name given on the command line only selects among those entries, so a
hostile `../x` or an absolute path selects nothing. A bundle moves by one
`renameat2(RENAME_NOREPLACE)`: atomic, one link all along (the daemon quarantines files
with two links as `not_regular_file`), and it never replaces a file of the same name
already waiting in the inbox.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.naming import BUNDLE_NAME, is_in_progress

ERROR_SUFFIX = ".error.json"
_NAME_MAX = 255
# Error reports are small; a larger file is not one of ours and is not read.
_MAX_REPORT_BYTES = 64 * 1024
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
# quarantine/ adds `.1`, `.2` when a name is taken there; the inbox wants the name back.
_TAKEN_SUFFIX = re.compile(r"(?P<name>.+)\.[0-9]+")


@dataclass(frozen=True, slots=True)
class Requeued:
    """What happened to one quarantined bundle."""

    name: str  # its name in quarantine/
    moved: bool
    inbox_name: str | None = None
    reason: str | None = None  # the reason code it was quarantined with, if known
    note: str | None = None  # why it was not moved

    def to_json_dict(self) -> dict[str, Any]:
        """The result as `newsdrop requeue --json` prints it."""
        return {
            "name": self.name,
            "moved": self.moved,
            "inbox_name": self.inbox_name,
            "reason": self.reason,
            "note": self.note,
        }


def _shown(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _read_report(path: Path) -> dict[str, Any] | None:
    """The error report beside a bundle, or None when missing, oversized or not ours."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, _MAX_REPORT_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_REPORT_BYTES:
        return None
    try:
        report = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def _safe_name(name: object) -> bool:
    """A plain file name the daemon will pick up: no path, no dot name, no in-progress suffix."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and "/" not in name
        and "\x00" not in name
        and not is_in_progress(name)
        and len(os.fsencode(name)) <= _NAME_MAX
    )


def inbox_name(quarantined: str, report: dict[str, Any] | None) -> str | None:
    """The name a quarantined bundle goes back under, or None when there is no safe one."""
    original = report.get("name") if report else None
    if _safe_name(original):
        assert isinstance(original, str)
        taken = _TAKEN_SUFFIX.fullmatch(quarantined)
        if quarantined == original or (taken is not None and taken["name"] == original):
            return original
    taken = _TAKEN_SUFFIX.fullmatch(quarantined)
    if taken is not None and BUNDLE_NAME.fullmatch(taken["name"]):
        return taken["name"]
    return quarantined if _safe_name(quarantined) else None


def _rename_noreplace(source: Path, target: Path) -> None:
    """rename(2) that fails with EEXIST instead of replacing `target` (Linux renameat2)."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        result = renameat2(
            _AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE
        )
        if result == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL):  # EINVAL: the file system lacks the flag
            raise OSError(code, os.strerror(code), str(target))
    # Fallback: link() never replaces; the second link lives only until the unlink below.
    os.link(source, target, follow_symlinks=False)
    os.unlink(source)


def requeue(
    quarantine: Path, inbox: Path, *, reason: str | None = None, names: Sequence[str] = ()
) -> list[Requeued]:
    """Move quarantined bundles (all, those with `reason`, or those named) back to the inbox."""
    wanted = set(names)
    matched: set[str] = set()
    results: list[Requeued] = []
    with os.scandir(quarantine) as entries:
        bundles = sorted(
            entry.name
            for entry in entries
            if not entry.name.startswith(".")
            and not entry.name.endswith(ERROR_SUFFIX)
            and not entry.is_dir(follow_symlinks=False)
        )
    for name in bundles:
        report_path = quarantine / (name + ERROR_SUFFIX)
        report = _read_report(report_path)
        shown = _shown(name)
        known_reason = str(report["reason"]) if report and "reason" in report else None
        if wanted:
            aliases = {shown, name}
            if report and isinstance(report.get("name"), str):
                aliases.add(report["name"])
            selected = aliases & wanted
            if not selected:
                continue
            matched |= selected
        if reason is not None and known_reason != reason:
            if wanted:
                note = f"quarantined for {known_reason or 'an unknown reason'}, not {reason}"
                results.append(Requeued(shown, False, reason=known_reason, note=note))
            continue
        target = inbox_name(name, report)
        if target is None:
            results.append(
                Requeued(shown, False, reason=known_reason, note="no safe name to requeue under")
            )
            continue
        try:
            _rename_noreplace(quarantine / name, inbox / target)
        except FileExistsError:
            note = "a file of this name already waits in the inbox; requeue again later"
            results.append(Requeued(shown, False, _shown(target), known_reason, note))
            continue
        except FileNotFoundError:
            continue  # requeued or removed by someone else meanwhile
        report_path.unlink(missing_ok=True)
        results.append(Requeued(shown, True, _shown(target), known_reason))
    for name in sorted(wanted - matched):
        results.append(Requeued(name, False, note="not in quarantine"))
    return results
