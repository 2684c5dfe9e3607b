"""The file system side of the lifecycle: inbox -> processing -> processed | quarantine.

Files leave the inbox by `link()` + `unlink()`, never by `rename()`: watchdog holds every
IN_MOVED_FROM up to 0.5 s waiting for its pair, and renaming files out of a watched inbox at
volume overflowed the kernel queue (8,587 of 20,000 files never seen). A failed `link()` with
EEXIST is also a clean claim between two workers: exactly one of them wins.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from service.errors import BundleRejected, ReasonCode, StorageFull
from service.failpoints import exit_at
from service.naming import is_in_progress

_NAME_MAX = 255
_ERROR_SUFFIX = ".error.json"
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def display_name(name: str) -> str:
    """A file name safe for JSON, logs and PostgreSQL (undecodable bytes shown as escapes)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _count_entries(folder: Path, keep: Callable[[os.DirEntry[str]], bool]) -> int:
    """How many of the folder's entries `keep` accepts; 0 for a folder removed under us."""
    try:
        with os.scandir(folder) as entries:
            return sum(1 for entry in entries if keep(entry))
    except FileNotFoundError:
        return 0  # the status thread counts on; the loop's scan reports the missing inbox


@dataclass(frozen=True, slots=True)
class Claimed:
    """A bundle this process owns in `processing/`."""

    name: str
    path: str  # a plain string: pathlib's joins were 5% of the loop's time per file
    size: int
    arrival_key: str
    mode: int
    nlink: int


@dataclass(frozen=True, slots=True)
class Folders:
    """The four lifecycle folders; they must share one file system."""

    inbox: Path
    processing: Path
    processed: Path
    quarantine: Path

    def ensure(self) -> None:
        """Create the folders and check that links between them will work."""
        for folder in (self.inbox, self.processing, self.processed, self.quarantine):
            folder.mkdir(parents=True, exist_ok=True)
        devices = {
            os.stat(f).st_dev
            for f in (self.inbox, self.processing, self.processed, self.quarantine)
        }
        if len(devices) != 1:
            from service.errors import ConfigError

            raise ConfigError(
                "inbox, processing, processed and quarantine must be on one file system "
                "(files move between them by hard links); point them inside one data directory"
            )

    def writable(self) -> bool:
        """True when every folder accepts new entries."""
        return all(
            os.access(f, os.W_OK | os.X_OK)
            for f in (self.inbox, self.processing, self.processed, self.quarantine)
        )


def _arrival_key(name: str, st: os.stat_result) -> str:
    # link() keeps inode and mtime, so the key survives the claim and a crash; a re-dropped
    # copy of the same bytes is a new inode and so a new arrival.
    return f"{display_name(name)}:{st.st_dev}:{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"


def _storage_errors(exc: OSError) -> Exception:
    if exc.errno in _NO_SPACE:
        return StorageFull(f"no space left for newsdrop's folders ({errno.errorcode[exc.errno]})")
    return exc


class Inbox:
    """Scans, claims, reads and files bundles; knows nothing of parsing or the database."""

    def __init__(
        self, folders: Folders, max_file_bytes: int, *, failpoint: str | None = None
    ) -> None:
        self.folders = folders
        self.max_file_bytes = max_file_bytes
        self.failpoint = failpoint
        self._inbox = os.fspath(folders.inbox)
        self._processing = os.fspath(folders.processing)
        self._processed_day: str | None = None  # the processed/<day> folder known to exist

    # -- looking ----------------------------------------------------------------------------

    def scan(self) -> Iterator[tuple[str, os.stat_result]]:
        """Stream (name, lstat) of the inbox's candidate files, skipping in-progress names."""
        with os.scandir(self.folders.inbox) as entries:
            for entry in entries:
                if is_in_progress(entry.name):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    continue
                yield entry.name, st

    def lstat(self, name: str) -> os.stat_result | None:
        """The inbox entry's own stat (links not followed), or None when it is gone."""
        try:
            return os.lstat(f"{self._inbox}/{name}")
        except (FileNotFoundError, NotADirectoryError):
            return None

    def backlog(self) -> int:
        """How many candidate files wait in the inbox (from the directory entries alone)."""
        # No lstat per file: the status thread counts every 2 s, and 50,000 lstats held the
        # GIL for ~100 ms each time, in the middle of the ingest loop.
        return _count_entries(
            self.folders.inbox,
            lambda e: not is_in_progress(e.name) and not e.is_dir(follow_symlinks=False),
        )

    def count_quarantine(self) -> int:
        """How many bundles sit in quarantine (error files not counted)."""
        return _count_entries(
            self.folders.quarantine,
            lambda e: not e.name.endswith(_ERROR_SUFFIX) and not e.name.startswith("."),
        )

    # -- claiming -------------------------------------------------------------------------

    def claim(self, name: str) -> Claimed | None:
        """Move `name` from the inbox into processing/; None if it vanished or another won.

        Raises PermissionError for a file this process may not read or link, and
        FileNotFoundError when processing/ is gone: the file stays put.
        """
        source = f"{self._inbox}/{name}"
        target = f"{self._processing}/{name}"
        # Checked before the claim: an unreadable file in processing/ would fail its whole batch.
        if not os.access(source, os.R_OK, follow_symlinks=False) and os.path.lexists(source):
            raise PermissionError(errno.EACCES, "not readable by newsdrop", display_name(name))
        try:
            os.link(source, target, follow_symlinks=False)
        except FileNotFoundError:
            if os.path.lexists(source):
                raise  # the file is here, so processing/ is not: the file waits in the inbox
            return None
        except FileExistsError:
            return None  # another worker holds a file of this name
        except OSError as exc:
            raise _storage_errors(exc) from exc
        exit_at(self.failpoint, "mid_claim")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(source)
        return self._claimed(name, target)

    def recover(self) -> list[Claimed]:
        """Files a previous run left in processing/ (claimed, maybe committed, not moved)."""
        found: list[Claimed] = []
        with os.scandir(self.folders.processing) as entries:
            for entry in entries:
                if entry.name.startswith(".") or entry.is_dir(follow_symlinks=False):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    self._finish_claim(entry.name, entry.path)
                    found.append(self._claimed(entry.name, entry.path))
        return sorted(found, key=lambda c: c.name)

    def _finish_claim(self, name: str, path: str) -> None:
        """Unlink the inbox name of a claim that a crash cut between its link and its unlink.

        Left alone, the file had two links, and `check` took it for one hard-linked from
        elsewhere: a kill -9 at that moment quarantined a good bundle as not_regular_file.
        """
        source = f"{self._inbox}/{name}"
        if self._same_file(path, source):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(source)

    @staticmethod
    def _claimed(name: str, path: str) -> Claimed:
        st = os.lstat(path)
        return Claimed(name, path, st.st_size, _arrival_key(name, st), st.st_mode, st.st_nlink)

    # -- reading ---------------------------------------------------------------------------

    def check(self, claimed: Claimed) -> None:
        """Reject what must never be read: links, devices, oversize files (decided from lstat)."""
        self._check(claimed.mode, claimed.nlink, claimed.size)

    def _check(self, mode: int, nlink: int, size: int) -> None:
        if stat.S_ISLNK(mode):
            raise BundleRejected(ReasonCode.SYMLINK, "a symbolic link, not a file: never followed")
        if not stat.S_ISREG(mode) or nlink != 1:
            raise BundleRejected(
                ReasonCode.NOT_REGULAR_FILE,
                "not a regular file with a single link (device, pipe, socket or hard-linked)",
            )
        if size > self.max_file_bytes:
            raise BundleRejected(
                ReasonCode.TOO_LARGE, f"{size} bytes is over max_file_bytes={self.max_file_bytes}"
            )

    def read(self, claimed: Claimed) -> bytes:
        """The claimed file's bytes, opened with O_NOFOLLOW and checked again after opening."""
        self.check(claimed)
        return self._read(claimed.path)

    def peek(self, name: str) -> bytes | None:
        """The bytes of a file still in the inbox, or None where `read` would refuse it."""
        st = self.lstat(name)
        if st is None:
            return None
        try:
            self._check(st.st_mode, st.st_nlink, st.st_size)
            return self._read(f"{self._inbox}/{name}")
        except (BundleRejected, OSError):
            return None

    def _read(self, path: str) -> bytes:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise BundleRejected(ReasonCode.NOT_REGULAR_FILE, "not a regular file")
            if st.st_size > self.max_file_bytes:
                raise BundleRejected(ReasonCode.TOO_LARGE, "file grew over max_file_bytes")
            chunks = []
            remaining = self.max_file_bytes + 1
            while remaining > 0:
                chunk = os.read(fd, min(remaining, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
            data = b"".join(chunks)
        finally:
            os.close(fd)
        if len(data) > self.max_file_bytes:
            raise BundleRejected(ReasonCode.TOO_LARGE, "file grew over max_file_bytes")
        return data

    # -- filing ----------------------------------------------------------------------------

    def file_processed(self, claimed: Claimed, when: float | None = None) -> str:
        """After COMMIT: processed/YYYY-MM-DD/<name> (UTC date), never overwriting; the new path."""
        day = time.strftime("%Y-%m-%d", time.gmtime(when if when is not None else time.time()))
        folder = f"{self.folders.processed}/{day}"
        # mkdir once a day, not once a file: it was 5% of the loop's time in a replay.
        if folder != self._processed_day:
            self._make_folder(folder)
            self._processed_day = folder
        # A plain string: making a Path of it was 3% of the loop's time in a replay.
        try:
            return self._move(claimed, folder)
        except FileNotFoundError:
            # The day's folder was removed under us (someone tidied processed/): make it again.
            self._make_folder(folder)
            return self._move(claimed, folder)

    @staticmethod
    def _make_folder(folder: str) -> None:
        try:
            Path(folder).mkdir(exist_ok=True)
        except OSError as exc:
            raise _storage_errors(exc) from exc

    def file_quarantined(
        self,
        claimed: Claimed,
        reason: str,
        message: str,
        sha256: str | None,
        when: float | None = None,
    ) -> Path:
        """After COMMIT: quarantine/<name> plus <name>.error.json with the reason code."""
        moment = when if when is not None else time.time()
        report = {
            "name": display_name(claimed.name),
            "reason": reason,
            "message": message,
            "sha256": sha256,
            "size": claimed.size,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment)),
        }
        # The report is written before the bundle moves: when the disk is full nothing has moved
        # yet and the retry finds the bundle in processing/ again. A bundle moved first would
        # stay in quarantine without its report, where requeue never sees it.
        digest = hashlib.sha256(os.fsencode(claimed.name)).hexdigest()[:16]
        temp = self.folders.quarantine / f".{digest}{_ERROR_SUFFIX}.tmp"
        try:
            try:
                temp.write_text(
                    json.dumps(report, ensure_ascii=True, indent=2) + "\n", encoding="utf-8"
                )
            except OSError as exc:
                raise _storage_errors(exc) from exc
            target = Path(
                self._move(
                    claimed, os.fspath(self.folders.quarantine), keep_name_room=len(_ERROR_SUFFIX)
                )
            )
            os.replace(temp, target.with_name(target.name + _ERROR_SUFFIX))
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        return target

    def _move(self, claimed: Claimed, folder: str, keep_name_room: int = 0) -> str:
        for attempt in range(10_000):
            target = f"{folder}/{self._target_name(claimed.name, attempt, keep_name_room)}"
            try:
                os.link(claimed.path, target, follow_symlinks=False)
            except FileExistsError:
                if self._same_file(claimed.path, target):
                    # An earlier run crashed between this link and the unlink: finish it.
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(claimed.path)
                    return target
                continue
            except FileNotFoundError:
                if os.path.lexists(claimed.path):
                    raise  # the bundle is here, so the destination folder is not
                # Already moved by an earlier attempt of ours that crashed after the link.
                return target
            except OSError as exc:
                raise _storage_errors(exc) from exc
            with contextlib.suppress(FileNotFoundError):
                os.unlink(claimed.path)
            return target
        raise BundleRejected(ReasonCode.BAD_NAME, "no free name in the destination folder")

    @staticmethod
    def _same_file(a: str, b: str) -> bool:
        try:
            sa, sb = os.lstat(a), os.lstat(b)
        except FileNotFoundError:
            return False
        return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)

    @staticmethod
    def _target_name(name: str, attempt: int, keep_name_room: int) -> str:
        suffix = "" if attempt == 0 else f".{attempt}"
        candidate = name + suffix
        if len(os.fsencode(candidate)) + keep_name_room <= _NAME_MAX:
            return candidate
        # Too long to add a suffix: shorten and keep a digest so names stay unique.
        digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:12]
        short = os.fsencode(name)[: _NAME_MAX - keep_name_room - 40].decode("utf-8", "ignore")
        return f"{short}~{digest}{suffix}"
