"""Inbox events from watchdog, used as hints only: scans are the source of truth.

We subscribe to creates, moves and close-writes alone (`event_filter`), so the kernel never
queues the IN_DELETE events our own `unlink()` claims produce. watchdog only logs an inotify
queue overflow and does not tell the handler, so a logging hook turns that line into a call.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver

_WATCHDOG_LOGGER = "watchdog.observers.inotify_c"


@dataclass(frozen=True, slots=True)
class Hint:
    """A name the kernel says appeared in the inbox; `renamed_in` means it is complete."""

    name: str
    renamed_in: bool


class _Handler(FileSystemEventHandler):
    def __init__(self, inbox: Path, on_hint: Callable[[Hint], None]) -> None:
        self._inbox = os.fsencode(inbox)
        self._on_hint = on_hint

    def _name_in_inbox(self, path: str | bytes) -> str | None:
        if not path:
            return None
        raw = os.fsencode(path)
        head, tail = os.path.split(raw)
        return os.fsdecode(tail) if head == self._inbox and tail else None

    def on_moved(self, event: FileSystemEvent) -> None:
        name = self._name_in_inbox(event.dest_path)
        if name is not None and not event.is_directory:
            self._on_hint(Hint(name, renamed_in=True))

    def on_created(self, event: FileSystemEvent) -> None:
        name = self._name_in_inbox(event.src_path)
        if name is not None and not event.is_directory:
            self._on_hint(Hint(name, renamed_in=False))

    def on_closed(self, event: FileSystemEvent) -> None:
        self.on_created(event)


class _OverflowHook(logging.Handler):
    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(level=logging.WARNING)
        self._on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
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
        observer_factory: Callable[[], BaseObserver] | None = None,
    ) -> None:
        self.inbox = inbox
        self.requested = mode
        self.mode = "polling"
        self.failure: str | None = None
        self._on_hint = on_hint
        self._hook = _OverflowHook(on_overflow)
        self._observer: BaseObserver | None = None
        self._observer_factory = observer_factory
        self._lock = threading.Lock()

    def start(self) -> str:
        """Start inotify (unless polling was asked for); returns the mode in force."""
        if self.requested == "polling":
            self.mode = "polling"
            return self.mode
        try:
            observer = self._make_observer()
            observer.schedule(
                _Handler(self.inbox, self._on_hint),
                str(self.inbox),
                recursive=False,
                event_filter=[FileCreatedEvent, FileMovedEvent, FileClosedEvent],
            )
            observer.start()
        except OSError as exc:
            if self.requested == "inotify":
                raise
            # ENOSPC: fs.inotify.max_user_watches reached; EMFILE: max_user_instances reached.
            self.failure = errno.errorcode.get(exc.errno or 0, "OSError")
            self.mode = "polling"
            return self.mode
        logging.getLogger(_WATCHDOG_LOGGER).addHandler(self._hook)
        with self._lock:
            self._observer = observer
        self.mode = "inotify"
        return self.mode

    def _make_observer(self) -> BaseObserver:
        if self._observer_factory is not None:
            return self._observer_factory()
        from watchdog.observers.inotify import InotifyObserver

        # Full events: a file renamed in from outside arrives as a move (complete), not a create.
        return InotifyObserver(generate_full_events=True)

    def alive(self) -> bool:
        """True while events flow (or polling, which needs no thread)."""
        with self._lock:
            observer = self._observer
        return self.mode == "polling" or (observer is not None and observer.is_alive())

    def stop(self) -> None:
        """Stop the observer thread and drop the logging hook."""
        logging.getLogger(_WATCHDOG_LOGGER).removeHandler(self._hook)
        with self._lock:
            observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
