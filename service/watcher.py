"""Inbox events from inotify (watchdog's inotify layer), used as hints only: scans are the truth.

We take watchdog's raw inotify reader (`InotifyFD`), not its observer. The observer pairs
IN_MOVED_FROM with IN_MOVED_TO through a delay queue that it searches from end to end for
every move, so a burst of files renamed in costs time quadratic in the queue's length:
20,000 renames took 8.5 s of CPU in its three threads (reading, pairing, dispatching) and
0.9 s here, where one thread reads and calls us. The daemon needs no pairing: a name that
appears is a hint, and a rename into the inbox is one IN_MOVED_TO whatever its source. The
kernel queues only the events we ask for (creates, renames in, close-writes), so our own
`unlink()` claims never fill it.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watchdog.observers.inotify_c import InotifyEvent, InotifyFD

# watchdog also logs a queue overflow as a warning of its own; the daemon logs it structured.
_WATCHDOG_LOGGER = "watchdog.observers.inotify_c"


@dataclass(frozen=True, slots=True)
class Hint:
    """A name the kernel says appeared in the inbox; `renamed_in` means it is complete."""

    name: str
    renamed_in: bool


class _InboxEvents:
    """watchdog's `WatchCallback` for the inbox watch: every event becomes a hint."""

    def __init__(
        self, on_hint: Callable[[Hint], None], on_overflow: Callable[[], None], moved_to: int
    ) -> None:
        self._on_hint = on_hint
        self._on_overflow = on_overflow
        self._moved_to = moved_to
        self.watch_lost = False

    def on_event(self, event: InotifyEvent) -> None:
        if event.name and not event.is_directory:
            renamed_in = bool(event.mask & self._moved_to)
            self._on_hint(Hint(os.fsdecode(event.name), renamed_in=renamed_in))

    def on_watch_deleted(self, wd: int) -> None:
        # The inbox was removed or its file system unmounted: no event comes any more.
        self.watch_lost = True

    def on_queue_overflow(self) -> None:
        self._on_overflow()


class Watcher:
    """Watches the inbox with inotify, or reports that polling must take over."""

    def __init__(
        self,
        inbox: Path,
        *,
        mode: str,
        on_hint: Callable[[Hint], None],
        on_overflow: Callable[[], None],
    ) -> None:
        self.inbox = inbox
        self.requested = mode
        self.mode = "polling"
        self.failure: str | None = None
        self._on_hint = on_hint
        self._on_overflow = on_overflow
        self._quiet = logging.NullHandler()
        self._reader: InotifyFD | None = None
        self._events: _InboxEvents | None = None
        self._lock = threading.Lock()

    def start(self) -> str:
        """Start inotify (unless polling was asked for); returns the mode in force."""
        if self.requested == "polling":
            self.mode = "polling"
            return self.mode
        try:
            reader, events = self._watch()
        except OSError as exc:
            if self.requested == "inotify":
                raise
            # ENOSPC: fs.inotify.max_user_watches reached; EMFILE: max_user_instances reached.
            self.failure = errno.errorcode.get(exc.errno or 0, "OSError")
            self.mode = "polling"
            return self.mode
        logging.getLogger(_WATCHDOG_LOGGER).addHandler(self._quiet)
        with self._lock:
            self._reader, self._events = reader, events
        self.mode = "inotify"
        return self.mode

    def _watch(self) -> tuple[InotifyFD, _InboxEvents]:
        from watchdog.observers.inotify_c import InotifyConstants as Flag
        from watchdog.observers.inotify_c import InotifyFD

        events = _InboxEvents(self._on_hint, self._on_overflow, Flag.IN_MOVED_TO)
        reader = InotifyFD()
        # Started first, so that a failed watch is closed by the reader thread itself.
        reader.start()
        try:
            self._add_watch(reader, events)
        except BaseException:
            reader.stop()
            reader.join(timeout=5)
            raise
        return reader, events

    def _add_watch(self, reader: InotifyFD, events: _InboxEvents) -> None:
        from watchdog.observers.inotify_c import CallbackId, Mask
        from watchdog.observers.inotify_c import InotifyConstants as Flag

        wd = reader.add_callback(
            os.fsencode(self.inbox),
            Mask(Flag.IN_CREATE | Flag.IN_MOVED_TO | Flag.IN_CLOSE_WRITE | Flag.IN_ONLYDIR),
            events,
            CallbackId(1),
        )
        if wd < 0:
            # watchdog returns no error for EACCES on the inbox itself.
            raise OSError(errno.EACCES, "inbox not readable for inotify", str(self.inbox))
        events.watch_lost = False

    def rewatch(self) -> bool:
        """Watch the inbox again if its watch was lost (removed, then made again); True if so."""
        with self._lock:
            reader, events = self._reader, self._events
        if reader is None or events is None or not events.watch_lost:
            return False
        try:
            self._add_watch(reader, events)
        except OSError:
            return False  # still missing: the daemon's scan says why
        return True

    def alive(self) -> bool:
        """True while events flow (or polling, which needs no thread)."""
        with self._lock:
            reader, events = self._reader, self._events
        if self.mode == "polling":
            return True
        return reader is not None and reader.is_alive() and not (events and events.watch_lost)

    def stop(self) -> None:
        """Stop the inotify thread and drop the logging hook."""
        logging.getLogger(_WATCHDOG_LOGGER).removeHandler(self._quiet)
        with self._lock:
            reader, self._reader = self._reader, None
        if reader is not None:
            reader.stop()
            reader.join(timeout=5)
