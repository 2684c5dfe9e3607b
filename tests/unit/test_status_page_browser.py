"""The status page as a person sees it: rendered by real headless Chromium, DOM and screenshot."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import struct
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from service.http import HttpServer
from service.metrics import Metrics

pytestmark = [pytest.mark.unit, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SEEDS = [
    ("000_06a9b80f6b53ca95.txt", "inserted", None),
    ("001_cbf7903446c9e50e.txt", "inserted", None),
    ("002_98892994477bb2d1.txt", "updated", None),
    ("003_b437dc05d63de4c0.txt", "unchanged", None),
    ("004_4cdf63c97844011b.txt", "duplicate", None),
]
HOSTILE = "<script>alert(1)</script>.txt"


class SeedSource:
    """A StatusSource that has just ingested the five seed bundles and quarantined two others."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def liveness_age(self) -> float:
        return 0.4

    def readiness(self) -> dict[str, bool]:
        return dict.fromkeys(("database", "watcher", "directories", "reconcile"), True)

    def status(self) -> dict[str, Any]:
        recent = [
            {
                "name": name,
                "doc_id": name[4:20],
                "outcome": outcome,
                "reason": reason,
                "at": (self.now - timedelta(seconds=5 * (len(SEEDS) - i))).isoformat(),
                "ms": 18 + 7 * i,
            }
            for i, (name, outcome, reason) in enumerate(SEEDS)
        ]
        recent.append(
            {
                "name": HOSTILE,
                "doc_id": None,
                "outcome": "quarantined",
                "reason": "bad_name",
                "at": self.now.isoformat(),
                "ms": 1,
            }
        )
        return {
            "articles": 1234,
            "versions": 1301,
            "files": {
                "inserted": 1234,
                "updated": 67,
                "unchanged": 9,
                "duplicate": 3,
                "quarantined": 2,
            },
            "inbox_backlog": 17,
            "database": "up",
            "watcher_mode": "inotify",
            "recent": list(reversed(recent)),
        }

    def dashboard(self) -> dict[str, Any]:
        minute = self.now.replace(second=0)
        throughput = [
            {"minute": (minute - timedelta(minutes=m)).isoformat(), "files": (m * 7) % 13}
            for m in range(60)
        ]
        quarantine = [
            {"name": HOSTILE, "reason": "bad_name", "at": self.now.isoformat()},
            {
                "name": "005_ffffffffffffffff.txt",
                "reason": "undecodable",
                "at": (self.now - timedelta(minutes=12)).isoformat(),
            },
        ]
        return {
            **self.status(),
            "throughput": throughput,
            "quarantine": quarantine,
            "oldest_pending_age": 95.0,
        }


@pytest.fixture
def page_url() -> Iterator[str]:
    server = HttpServer("127.0.0.1", 0, SeedSource(), Metrics(), 30.0)
    port = server.start()
    yield f"http://127.0.0.1:{port}/"
    server.stop()


def run_chromium(args: list[str], profile: Path) -> str:
    """Run headless Chromium to completion; return stdout. Its helper processes go with it."""
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",  # root in a container: the sandbox needs user namespaces we may not have
        "--disable-gpu",
        "--disable-dev-shm-usage",  # containers often have a 64 MB /dev/shm
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    # A session of its own, so the renderer and zygote children can be ended by group id.
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, "HOME": str(profile)},
    )
    try:
        out, err = proc.communicate(timeout=90)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the whole group has already exited
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode("utf-8")


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian package `chromium`)")
def test_chromium_renders_the_seed_files_and_counts(page_url: str, tmp_path: Path) -> None:
    dom = run_chromium(["--dump-dom", page_url], tmp_path / "profile-dom")
    for name, _, _ in SEEDS:
        assert name in dom
    for count in ("1,234", "1,301", "67", "17", "1 min 35 s"):
        assert count in dom
    assert "database up" in dom
    assert "watcher inotify" in dom
    # The hostile name arrived as text: no script element came out of it.
    assert "<script" not in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.txt" in dom


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian package `chromium`)")
def test_chromium_takes_a_screenshot_of_the_page(page_url: str, tmp_path: Path) -> None:
    shot = tmp_path / "page.png"
    run_chromium(
        [f"--screenshot={shot}", "--window-size=1280,900", "--hide-scrollbars", page_url],
        tmp_path / "profile-shot",
    )
    assert shot.exists()
    assert png_size(shot) == (1280, 900)
    # A blank 1280x900 PNG compresses to a few kilobytes; a rendered page is far larger.
    assert shot.stat().st_size > 20_000
    if keep := os.environ.get("NEWSDROP_SCREENSHOT"):
        shutil.copyfile(shot, keep)  # for a person to look at
