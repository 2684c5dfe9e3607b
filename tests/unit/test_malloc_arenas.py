"""The daemon's threads share a capped number of glibc malloc arenas (see service.app)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only"),
]

# Six threads, all alive at once, each allocating blocks that malloc (not pymalloc) serves;
# then glibc prints one "Arena N:" section per arena to stderr.
_THREADS_ALLOCATE = """
import ctypes, sys, threading
from service.app import share_malloc_arenas
if sys.argv[1] == "capped":
    share_malloc_arenas()
barrier = threading.Barrier(6)
held = []
def work():
    barrier.wait()
    held.append([bytes(2000) for _ in range(200)])
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(mode: str, **env: str) -> int:
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    done = subprocess.run(
        [sys.executable, "-c", _THREADS_ALLOCATE, mode],
        capture_output=True,
        text=True,
        env=environ,
        check=True,
        timeout=60,
    )
    return sum(1 for line in done.stderr.splitlines() if line.startswith("Arena "))


def test_threads_started_after_the_cap_share_two_arenas() -> None:
    assert _arenas("default") > 2  # the control: without the cap each thread gets its own
    assert _arenas("capped") == 2


def test_a_limit_the_user_set_is_left_alone() -> None:
    assert _arenas("capped", MALLOC_ARENA_MAX="4") == 4
