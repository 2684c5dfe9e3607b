"""The database goes away: a server the test owns is stopped under the daemon and before it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from service.embedded import EmbeddedPostgres
from tests.faults.helpers import (
    FaultDaemon,
    Scene,
    assert_exactly_once,
    tally,
    wait_all_committed,
)
from tests.support import folder_files, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]

RETRY_CAP = 1.0  # NEWSDROP_RETRY_MAX_SECONDS in these tests
WINDOW = 4.0  # seconds over which retries and CPU time are counted while the server is down


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[EmbeddedPostgres, str]]:
    """A PostgreSQL of this test's own, so it can be stopped and started again."""
    pg = EmbeddedPostgres(tmp_path / "pg")
    url = pg.start()
    yield pg, url
    pg.stop()


def status_json(daemon: FaultDaemon) -> dict[str, object]:
    """`newsdrop status --json` with the daemon's settings."""
    out = subprocess.run(
        [sys.executable, "-m", "service", "status", "--json"],
        env=daemon.env,
        capture_output=True,
        cwd=daemon.data_dir.parent,
        timeout=30,
    )
    report: dict[str, object] = json.loads(out.stdout)
    return report


def quiet_while_down(daemon: FaultDaemon) -> tuple[float, float]:
    """Retries and CPU seconds the daemon spends over WINDOW seconds of outage."""
    retries, cpu = daemon.metric("newsdrop_retries_total"), daemon.cpu_seconds()
    time.sleep(WINDOW)
    return daemon.metric("newsdrop_retries_total") - retries, daemon.cpu_seconds() - cpu


def test_database_down_files_wait_with_backoff_then_all_ingested(
    scene: Scene, server: tuple[EmbeddedPostgres, str]
) -> None:
    pg, url = server
    first = scene.stage(20, tag="pgdown-a")
    during = scene.stage(30, tag="pgdown-b", start=20)
    after_down = scene.stage(10, tag="pgdown-c", start=50)
    before_start = scene.stage(10, tag="pgdown-d", start=60)
    names = first + during + after_down + before_start
    daemon = scene.spawn(url=url, retry_max_seconds=RETRY_CAP, settle_seconds=0.2)
    scene.drop(first)
    wait_all_committed(url, scene.data_dir, first, timeout=30)
    assert daemon.get("/readyz")[0] == 200

    # The server stops while files arrive.
    pg.stop()
    scene.drop(during)
    wait_until(lambda: daemon.event("database.down"), timeout=30)
    # These settle while the claimed batch waits for the database: they must not spin the loop.
    scene.drop(after_down)
    wait_until(lambda: daemon.get("/readyz")[0] == 503, timeout=10)
    retries, cpu = quiet_while_down(daemon)
    assert 1 <= retries <= WINDOW / RETRY_CAP + 2, retries
    assert cpu < 0.2 * WINDOW, cpu
    assert status_json(daemon)["database"] == "down"
    waiting = len(folder_files(scene.inbox)) + len(folder_files(scene.data_dir / "processing"))
    assert waiting == len(during) + len(after_down)
    assert folder_files(scene.data_dir / "quarantine") == []

    pg.start()
    wait_all_committed(url, scene.data_dir, first + during + after_down, timeout=30)
    assert daemon.event("database.up")
    wait_until(lambda: daemon.get("/readyz")[0] == 200, timeout=10)

    # An idle daemon must notice too: readiness that only learns from traffic would lie.
    pg.stop()
    wait_until(lambda: daemon.get("/readyz")[0] == 503, timeout=10)
    pg.start()
    wait_until(lambda: daemon.get("/readyz")[0] == 200, timeout=10)
    assert daemon.stop() == 0

    # The daemon starts while the server is down: it waits instead of giving up.
    pg.stop()
    scene.drop(before_start)
    late = scene.spawn(url=url, retry_max_seconds=RETRY_CAP, settle_seconds=0.2, wait_ready=False)
    wait_until(lambda: late.event("database.down") or late._died(), timeout=30)
    assert late.proc is not None
    assert late.proc.poll() is None, late.tail()
    late_retries, late_cpu = quiet_while_down(late)
    assert late_retries <= WINDOW / RETRY_CAP + 2, late_retries
    assert late_cpu < 0.2 * WINDOW, late_cpu
    assert late.proc.poll() is None, late.tail()
    assert folder_files(scene.data_dir / "quarantine") == []
    pg.start()
    wait_all_committed(url, scene.data_dir, names, timeout=30)
    assert late.stop() == 0

    t = tally(url, scene.data_dir, names)
    scene.report(
        retries_in_window=retries,
        cpu_seconds_in_window=round(cpu, 3),
        retries_in_window_started_down=late_retries,
        cpu_seconds_in_window_started_down=round(late_cpu, 3),
        window_seconds=WINDOW,
        **t.as_dict(),
    )
    assert_exactly_once(t, articles=len(names))
    assert t.quarantined_files == 0


PASSWORD = "Wr0ng-S3cret-pw-7f3a"  # a made-up password the test hunts for


def leaks(daemon: FaultDaemon, *files_under: Path) -> list[str]:
    """Where the password shows up: log lines, or any file below the given folders."""
    found = [f"log: {line[:120]}" for line in daemon.raw if PASSWORD in line]
    for folder in files_under:
        found += [f"file: {p}" for p in folder_files(folder) if PASSWORD.encode() in p.read_bytes()]
    return found


def test_wrong_password_is_a_clear_error_and_never_shown(
    scene: Scene, server: tuple[EmbeddedPostgres, str]
) -> None:
    pg, url = server
    # Make the server check passwords for real: a role with a password, scram on the socket.
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("CREATE ROLE newsdrop LOGIN PASSWORD 'the-right-one'")
        admin.execute("GRANT ALL ON DATABASE postgres TO newsdrop")
        admin.execute("GRANT ALL ON SCHEMA public TO newsdrop")
    hba = pg.pgdata / "pg_hba.conf"
    hba.write_text("local all postgres trust\nlocal all all scram-sha-256\n")
    pg.stop()
    pg.start()
    bad_url = url.replace("postgres:@", f"newsdrop:{PASSWORD}@", 1)
    assert bad_url != url
    scene.drop(scene.stage(3, tag="secret"))

    refused = scene.spawn(url=bad_url, wait_ready=False)
    assert refused.proc is not None
    code = refused.proc.wait(timeout=30)
    refused.kill()
    assert code == 1, refused.tail()
    failed = refused.event("cli.failed")
    assert failed, refused.tail()
    assert "NEWSDROP_DATABASE_URL" in failed[0]["message"]
    assert "password" in failed[0]["message"]
    assert not leaks(refused, scene.data_dir)
    assert folder_files(scene.data_dir / "quarantine") == []

    # A server that does not answer: the daemon waits; nothing it serves shows the password.
    waiting = scene.spawn(url=f"postgresql://newsdrop:{PASSWORD}@127.0.0.1:1/newsdrop")
    wait_until(lambda: waiting.event("database.down"), timeout=30)
    pages = [waiting.get(path) for path in ("/", "/status", "/readyz", "/healthz", "/metrics")]
    assert pages[2][0] == 503
    assert not [body[:80] for _, body in pages if PASSWORD in body]
    status = subprocess.run(
        [sys.executable, "-m", "service", "status", "--json"],
        env=waiting.env,
        capture_output=True,
        cwd=scene.data_dir.parent,
        timeout=30,
    )
    assert PASSWORD.encode() not in status.stdout + status.stderr
    assert waiting.stop() == 0
    assert not leaks(waiting, scene.data_dir)
    scene.report(
        exit_code_on_wrong_password=code,
        message=failed[0]["message"],
        http_pages_checked=len(pages),
        leaks=0,
    )
