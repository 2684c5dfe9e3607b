"""The one exception tree of newsdrop.

Whether a failure is retried or quarantined is a property of its type, never of the
call site: `Transient` errors are retried with backoff and the bundle waits; `Terminal`
errors carry a stable `ReasonCode` and send the bundle to quarantine.
"""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    """Stable, documented quarantine reasons (written to `<name>.error.json` and the ledger)."""

    BAD_NAME = "bad_name"
    EMPTY = "empty"
    TOO_LARGE = "too_large"
    BINARY = "binary"
    UNDECODABLE = "undecodable"
    SYMLINK = "symlink"
    NOT_REGULAR_FILE = "not_regular_file"
    NO_ARTICLE = "no_article"
    PARSE_ERROR = "parse_error"


class NewsdropError(Exception):
    """Root of every error newsdrop raises on purpose."""

    transient: bool = False


class Transient(NewsdropError):
    """The cause may go away by itself (database down, disk full): retry, never quarantine."""

    transient = True


class Terminal(NewsdropError):
    """Retrying cannot help."""


class BundleRejected(Terminal):
    """A bundle that cannot become an article; it goes to quarantine with `reason`."""

    def __init__(self, reason: ReasonCode, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class DatabaseUnavailable(Transient):
    """PostgreSQL did not answer or dropped the connection."""


class StorageFull(Transient):
    """The file system refused a write for lack of space or quota."""


class ConfigError(Terminal):
    """A setting is missing or wrong; the message names the setting and what to do."""


class AlreadyRunning(Terminal):
    """Another newsdrop daemon holds the lock on the data directory."""
