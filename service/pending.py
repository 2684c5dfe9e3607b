"""The settle rule: which inbox files are complete enough to take (pure; time is passed in).

A file renamed into the inbox is complete: the rename is its producer's commit. Any other
file is taken once its (size, mtime, inode) stayed unchanged for `settle_seconds` on the
monotonic clock; mtime is only compared with itself, never with the wall clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Signature = tuple[int, int, int]  # size, mtime_ns, inode

_SEQ = re.compile(r"^([0-9]+)_")


@dataclass(slots=True)
class _Entry:
    signature: Signature
    since: float
    first_seen: float
    renamed_in: bool


def batch_order(name: str) -> tuple[int, str]:
    """Sort key: a batch's seq first (numerically), then the name."""
    match = _SEQ.match(name)
    return (int(match.group(1)) if match else -1, name)


class Pending:
    """Files seen in the inbox and not yet claimed, with their settle clocks."""

    def __init__(self, settle_seconds: float) -> None:
        self.settle_seconds = settle_seconds
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def note(
        self, name: str, signature: Signature, now: float, *, renamed_in: bool = False
    ) -> bool:
        """Record an observation; True when the name was not known before."""
        entry = self._entries.get(name)
        if entry is None:
            self._entries[name] = _Entry(signature, now, now, renamed_in)
            return True
        if entry.signature != signature:
            entry.signature = signature
            entry.since = now
            entry.renamed_in = renamed_in
        elif renamed_in:
            entry.renamed_in = True
        return False

    def forget(self, name: str) -> None:
        """Drop a name (claimed, vanished or ignored)."""
        self._entries.pop(name, None)

    def due(self, now: float, limit: int) -> list[tuple[str, Signature, bool]]:
        """Up to `limit` (name, signature, renamed_in) whose settle time is over, in batch order."""
        settle = self.settle_seconds
        ready = [
            (name, e.signature, e.renamed_in)
            for name, e in self._entries.items()
            if e.renamed_in or now - e.since >= settle
        ]
        ready.sort(key=lambda item: batch_order(item[0]))
        return ready[:limit]

    def next_deadline(self) -> float | None:
        """The monotonic time at which the next file settles, if any is waiting."""
        waiting = [
            e.since + self.settle_seconds for e in self._entries.values() if not e.renamed_in
        ]
        if any(e.renamed_in for e in self._entries.values()):
            return 0.0
        return min(waiting) if waiting else None

    def oldest_age(self, now: float) -> float:
        """Seconds the longest-waiting known file has waited."""
        return max((now - e.first_seen for e in self._entries.values()), default=0.0)
