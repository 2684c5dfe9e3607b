"""The operating surface of a running daemon: every endpoint, and the page in a real browser."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import SEEDS, Daemon, query, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SECRET = "pw-never-shown-7731"


@pytest.fixture
def running(tmp_path: Path, db_url: str) -> Iterator[tuple[Daemon, str]]:
    # A password in the URL that the server ignores (trust auth) but that must never leak.
    url = db_url.replace("postgresql://postgres@", f"postgresql://postgres:{SECRET}@")
    daemon = Daemon(tmp_path / "data", url).start()
    for seed in sorted(SEEDS.glob("*.txt")):
        shutil.copy(seed, daemon.data_dir / "inbox")
    (daemon.data_dir / "inbox" / "not-a-bundle.txt").write_text("x", encoding="utf-8")
    wait_until(lambda: query(db_url, "SELECT count(*) FROM ingest_ledger") == 6, timeout=60)
    yield daemon, f"http://127.0.0.1:{daemon.http_port}"
    daemon.kill()


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_every_endpoint_answers(running: tuple[Daemon, str]) -> None:
    daemon, base = running
    assert get(f"{base}/healthz")[0] == 200
    code, _, body = wait_until(lambda: (r := get(f"{base}/readyz"))[0] == 200 and r)
    assert all(json.loads(body)["checks"].values())

    status = wait_until(lambda: (s := json.loads(get(f"{base}/status")[2]))["articles"] == 5 and s)
    assert status["files"]["quarantined"] == 1
    assert status["inbox_backlog"] == 0
    assert len(status["recent"]) == 6

    code, ctype, metrics = get(f"{base}/metrics")
    assert code == 200
    assert ctype.startswith("text/plain")
    for name in (
        "newsdrop_files_total",
        "newsdrop_ingest_duration_seconds_bucket",
        "newsdrop_inbox_backlog_files",
        "newsdrop_oldest_pending_age_seconds",
        "newsdrop_quarantine_files",
        "newsdrop_database_up",
        "newsdrop_retries_total",
        "newsdrop_watcher_mode",
        "newsdrop_events_lost_total",
        "newsdrop_articles",
        "newsdrop_last_ingest_timestamp_seconds",
    ):
        assert name in metrics, name
    assert 'newsdrop_files_total{outcome="quarantined",reason="bad_name"} 1.0' in metrics
    assert 'newsdrop_watcher_mode{mode="inotify"} 1.0' in metrics
    if shutil.which("promtool"):
        check = subprocess.run(
            ["promtool", "check", "metrics"], input=metrics, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr

    code, ctype, page = get(f"{base}/")
    assert code == 200
    assert "text/html" in ctype
    assert "000_06a9b80f6b53ca95.txt" in page

    # Nothing a client or a log reader sees holds the password or the data directory's parent.
    for path in ("/", "/status", "/metrics", "/healthz", "/readyz", "/nope"):
        body = get(f"{base}{path}")[2]
        assert SECRET not in body
        assert str(daemon.data_dir.parent) not in body
    assert SECRET not in "\n".join(daemon.raw)
    assert daemon.stop() == 0


@pytest.mark.slow
def test_status_page_in_a_real_browser_shows_the_seeds(
    running: tuple[Daemon, str], tmp_path: Path
) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    _daemon, base = running
    wait_until(lambda: json.loads(get(f"{base}/status")[2])["articles"] == 5)
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chrome'}",
            "--dump-dom",
            f"{base}/",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    for seed in SEEDS.glob("*.txt"):
        assert seed.name in dom
    assert "not-a-bundle.txt" in dom
    assert "bad_name" in dom
