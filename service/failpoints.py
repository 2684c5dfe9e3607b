"""Test-only failpoints: the process dies like a kill -9 at a named step of a file's way."""

from __future__ import annotations

import os

FAILPOINT_EXIT = 86


def exit_at(failpoint: str | None, step: str) -> None:
    """Exit at once, with no clean-up at all, when `failpoint` names `step` (tests only)."""
    if failpoint == step:
        os._exit(FAILPOINT_EXIT)
