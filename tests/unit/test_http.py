"""The HTTP surface against a real server on 127.0.0.1, driven with urllib and raw sockets."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.error import HTTPError

import pytest
from prometheus_client import CONTENT_TYPE_LATEST

from service.http import HttpServer, StatusSource, render_status_page
from service.metrics import Metrics

pytestmark = pytest.mark.unit

HOSTILE = "<script>alert(1)</script>.txt"
# What a leaked exception would carry: a DSN with a password and a file system path.
SECRET_MESSAGE = (
    "connection to postgresql://newsdrop:hunter2@db.internal:5432/newsdrop failed; "
    "see /var/lib/newsdrop/inbox/000_06a9b80f6b53ca95.txt"
)
SECRET_BITS = ("hunter2", "postgresql://", "/var/lib", "RuntimeError", "Traceback", "db.internal")
PATHS = ("/healthz", "/readyz", "/metrics", "/status", "/")


@dataclass
class FakeSource:
    """A second StatusSource: fixed values, settable per test."""

    loop_age: float = 0.5
    checks: dict[str, bool] = field(
        default_factory=lambda: dict.fromkeys(
            ("database", "watcher", "directories", "reconcile"), True
        )
    )
    recent: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    throughput: list[dict[str, Any]] = field(default_factory=list)

    def liveness_age(self) -> float:
        return self.loop_age

    def readiness(self) -> dict[str, bool]:
        return dict(self.checks)

    def status(self) -> dict[str, Any]:
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
            "database": "up" if self.checks.get("database") else "down",
            "watcher_mode": "inotify",
            "recent": list(self.recent),
        }

    def dashboard(self) -> dict[str, Any]:
        return {
            **self.status(),
            "throughput": list(self.throughput),
            "quarantine": list(self.quarantine),
            "oldest_pending_age": 42.0,
        }


class BrokenSource:
    """A StatusSource whose every call fails with text that must never reach a client."""

    def liveness_age(self) -> float:
        raise RuntimeError(SECRET_MESSAGE)

    def readiness(self) -> dict[str, bool]:
        raise RuntimeError(SECRET_MESSAGE)

    def status(self) -> dict[str, Any]:
        raise RuntimeError(SECRET_MESSAGE)

    def dashboard(self) -> dict[str, Any]:
        raise RuntimeError(SECRET_MESSAGE)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


# No proxy: an http_proxy in the environment must not reroute 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(base: str, path: str, method: str = "GET") -> Reply:
    request = urllib.request.Request(base + path, method=method)
    try:
        with _OPENER.open(request, timeout=10) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except HTTPError as error:
        with error:
            return Reply(error.code, dict(error.headers), error.read())


def raw_request(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(data)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def exercised_metrics() -> Metrics:
    """A Metrics object whose every family has samples, as after some real ingestion."""
    metrics = Metrics()
    metrics.files.labels(outcome="inserted", reason="").inc(3)
    metrics.files.labels(outcome="quarantined", reason="undecodable").inc()
    metrics.ingest_duration.observe(0.042)
    metrics.inbox_backlog.set(17)
    metrics.oldest_pending_age.set(42.0)
    metrics.quarantine_size.set(2)
    metrics.database_up.set(1)
    metrics.retries.labels(operation="upsert").inc()
    metrics.set_watcher_mode("polling")
    metrics.events_lost.inc()
    metrics.articles.set(1234)
    metrics.last_ingest.set(1_700_000_000)
    return metrics


Serve = Callable[..., str]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start servers on 127.0.0.1:0 and return their base URL; all are stopped afterwards."""
    servers: list[HttpServer] = []

    def start(
        source: StatusSource, *, metrics: Metrics | None = None, max_age: float = 30.0, **kw: Any
    ) -> str:
        server = HttpServer("127.0.0.1", 0, source, metrics or Metrics(), max_age, **kw)
        servers.append(server)
        return f"http://127.0.0.1:{server.start()}"

    yield start
    for server in servers:
        server.stop()


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


# -- liveness and readiness ------------------------------------------------------------------


def test_healthz_is_ok_while_the_loop_ticks(serve: Serve) -> None:
    reply = fetch(serve(FakeSource(loop_age=1.25)), "/healthz")
    assert reply.status == 200
    assert reply.json() == {"status": "ok", "loop_age_seconds": 1.25}
    assert reply.headers["Content-Type"] == "application/json"


def test_healthz_fails_when_the_loop_stalls(serve: Serve) -> None:
    reply = fetch(serve(FakeSource(loop_age=31.0), max_age=30.0), "/healthz")
    assert reply.status == 503
    assert reply.json() == {"status": "stalled", "loop_age_seconds": 31.0}


def test_healthz_ignores_a_database_outage(serve: Serve) -> None:
    source = FakeSource()
    source.checks["database"] = False
    base = serve(source)
    assert fetch(base, "/healthz").status == 200
    assert fetch(base, "/readyz").status == 503


def test_readyz_is_ok_when_every_check_passes(serve: Serve) -> None:
    reply = fetch(serve(FakeSource()), "/readyz")
    assert reply.status == 200
    assert reply.json()["status"] == "ready"
    assert all(reply.json()["checks"].values())


def test_readyz_names_the_failing_checks(serve: Serve) -> None:
    source = FakeSource()
    source.checks.update(database=False, directories=False)
    reply = fetch(serve(source), "/readyz")
    assert reply.status == 503
    assert reply.json()["failing"] == ["database", "directories"]
    assert reply.json()["checks"]["watcher"] is True


def test_readyz_counts_a_missing_check_as_failing(serve: Serve) -> None:
    source = FakeSource()
    del source.checks["reconcile"]
    reply = fetch(serve(source), "/readyz")
    assert reply.status == 503
    assert reply.json()["failing"] == ["reconcile"]


# -- metrics ---------------------------------------------------------------------------------


def test_metrics_speak_the_prometheus_text_format(serve: Serve) -> None:
    reply = fetch(serve(FakeSource(), metrics=exercised_metrics()), "/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == CONTENT_TYPE_LATEST
    assert b'newsdrop_files_total{outcome="inserted",reason=""} 3.0' in reply.body
    assert b"newsdrop_articles 1234.0" in reply.body


def test_promtool_accepts_the_metrics(serve: Serve) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not on PATH (Debian package `prometheus` ships it)")
    metrics = exercised_metrics()
    empty = [f.name for f in metrics.registry.collect() if not f.samples]
    assert not empty, f"exercised_metrics() leaves these families without samples: {empty}"
    body = fetch(serve(FakeSource(), metrics=metrics), "/metrics").body
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=60
    )
    assert checked.returncode == 0, (checked.stdout + checked.stderr).decode()


# -- status JSON and page --------------------------------------------------------------------


def test_status_is_the_source_summary_as_json(serve: Serve) -> None:
    source = FakeSource(
        recent=[
            {
                "name": "000_06a9b80f6b53ca95.txt",
                "doc_id": "06a9b80f6b53ca95",
                "outcome": "inserted",
                "reason": None,
                "at": "2025-05-01T12:00:00+00:00",
                "ms": 12.5,
            }
        ]
    )
    reply = fetch(serve(source), "/status")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == source.status()


def test_page_escapes_hostile_file_names(serve: Serve) -> None:
    hostile_recent = {
        "name": HOSTILE,
        "doc_id": '"><img src=x onerror=alert(2)>',
        "outcome": "<b>quarantined</b>",
        "reason": "bad_name\n\x1b[31mred\u202e",
        "at": "<i>now</i>",
        "ms": 3,
    }
    source = FakeSource(
        recent=[hostile_recent],
        quarantine=[
            {"name": HOSTILE, "reason": "<script>x</script>", "at": "2025-05-01T12:00:00Z"}
        ],
    )
    reply = fetch(serve(source), "/")
    page = reply.body.decode("utf-8")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src" not in reply.headers["Content-Security-Policy"]  # default-src 'none'
    assert '<meta charset="utf-8">' in page
    assert "<script" not in page
    assert "<img" not in page
    assert "<b>quarantined" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.txt" in page
    # Control and bidi characters are shown, not obeyed.
    assert "\x1b" not in page
    assert "\u202e" not in page
    assert "bad_name\\x0a\\x1b[31mred\\u202e" in page


def test_page_shows_counts_state_and_throughput(serve: Serve) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    source = FakeSource(
        throughput=[{"minute": (now - timedelta(minutes=2)).isoformat(), "files": 7}],
    )
    page = fetch(serve(source), "/").body.decode("utf-8")
    for text in ("1,234", "1,301", "17", "42 s", "database up", "watcher inotify"):
        assert text in page
    assert "7 files, peak 7/min" in page
    assert page.count("<rect") == 60


def test_render_places_sparse_minutes_in_their_slots() -> None:
    now = datetime(2025, 5, 1, 12, 30, 15, tzinfo=UTC)
    data = FakeSource(
        throughput=[
            {"minute": "2025-05-01T12:29:00+00:00", "files": 3},
            {"minute": "2025-05-01T20:00:00+08:00", "files": 5},  # 12:00 UTC, still in the hour
            {"minute": "2025-05-01T11:00:00Z", "files": 99},  # older than an hour: not shown
            {"minute": "garbage", "files": 1},
        ]
    ).dashboard()
    page = render_status_page(data, now)
    assert "<title>12:29 UTC: 3 files</title>" in page
    assert "<title>12:00 UTC: 5 files</title>" in page
    assert "8 files, peak 5/min" in page
    assert "11:31 UTC" in page  # the axis starts an hour back


def test_render_survives_a_sparse_snapshot() -> None:
    page = render_status_page({}, datetime(2025, 5, 1, tzinfo=UTC))
    assert "No files yet." in page
    assert "Quarantine is empty." in page
    assert "database unknown" in page


# -- failures never leak ---------------------------------------------------------------------


def test_a_failing_source_leaks_no_exception_text(serve: Serve) -> None:
    base = serve(BrokenSource())
    for path in PATHS:
        reply = fetch(base, path)
        text = reply.body.decode("utf-8") + json.dumps(reply.headers)
        for bit in SECRET_BITS:
            assert bit not in text, (path, bit)
        if path == "/metrics":
            assert reply.status == 200  # the registry does not depend on the source
        elif path == "/status":
            assert reply.status == 500
            assert reply.json() == {"error": "status unavailable"}
        elif path == "/":
            assert reply.status == 503
            assert "Status unavailable" in text
        else:
            assert reply.status == 503
            assert reply.json() == {"error": "status unavailable"}


def test_a_source_returning_nonsense_gets_a_generic_answer(serve: Serve) -> None:
    class Nonsense(FakeSource):
        def status(self) -> dict[str, Any]:
            return {"articles": float("nan"), "path": object()}

    reply = fetch(serve(Nonsense()), "/status")
    assert reply.status == 500
    assert reply.json() == {"error": "status unavailable"}


# -- protocol edges --------------------------------------------------------------------------


def test_unknown_paths_get_a_json_404_that_echoes_nothing(serve: Serve) -> None:
    base = serve(FakeSource())
    for path in ("/nope", "/status/extra", "/%3Cscript%3E", "/healthz/"):
        reply = fetch(base, path)
        assert reply.status == 404
        assert reply.json() == {"error": "not found"}


def test_query_strings_are_ignored(serve: Serve) -> None:
    assert fetch(serve(FakeSource()), "/healthz?verbose=1").status == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"])
def test_other_methods_get_405(serve: Serve, method: str) -> None:
    reply = fetch(serve(FakeSource()), "/status", method=method)
    assert reply.status == 405
    assert reply.headers["Allow"] == "GET, HEAD"
    assert reply.json() == {"error": "method not allowed"}


def test_head_sends_the_get_headers_without_a_body(serve: Serve) -> None:
    base = serve(FakeSource())
    get, head = fetch(base, "/status"), fetch(base, "/status", method="HEAD")
    assert head.status == 200
    assert head.body == b""
    assert head.headers["Content-Length"] == str(len(get.body))
    assert fetch(base, "/", method="HEAD").status == 200
    assert fetch(base, "/nope", method="HEAD").status == 404


def test_every_response_forbids_caching_and_sniffing(serve: Serve) -> None:
    base = serve(FakeSource(loop_age=999.0))
    for path, method in [(p, "GET") for p in PATHS] + [("/nope", "GET"), ("/", "POST")]:
        headers = fetch(base, path, method).headers
        assert headers["Cache-Control"] == "no-store", path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert "Python" not in headers["Server"]


def test_malformed_requests_are_answered_without_echo(serve: Serve) -> None:
    port = port_of(serve(FakeSource()))
    answer = raw_request(port, b"G<script>ET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 405")
    assert b"<script>" not in answer
    # http.server has not settled on a version yet, so it answers the 0.9 way: body only.
    answer = raw_request(port, b"GET /<script> HTTP/9.9\r\n\r\n")
    assert answer.endswith(b'{"error": "http version not supported"}')
    assert b"<script>" not in answer


# -- lifecycle -------------------------------------------------------------------------------


def test_a_silent_client_blocks_neither_others_nor_stop() -> None:
    server = HttpServer("127.0.0.1", 0, FakeSource(), Metrics(), 30.0, socket_timeout=0.5)
    port = server.start()
    try:
        with socket.create_connection(("127.0.0.1", port)):  # connects, never sends a byte
            assert fetch(f"http://127.0.0.1:{port}", "/healthz").status == 200
            started = time.monotonic()
            server.stop()
            assert time.monotonic() - started < 3.0
    finally:
        server.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith("newsdrop-http")]


def test_start_stop_are_explicit_and_stop_is_idempotent() -> None:
    server = HttpServer("127.0.0.1", 0, FakeSource(), Metrics(), 30.0)
    server.stop()  # never started: nothing to do
    port = server.start()
    assert port > 0
    with pytest.raises(RuntimeError):
        server.start()
    server.stop()
    server.stop()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 2):
        pass


def test_access_log_is_off_by_default_and_called_when_given(serve: Serve) -> None:
    lines: list[tuple[str, str, int, float]] = []
    server = HttpServer(
        "127.0.0.1",
        0,
        FakeSource(),
        Metrics(),
        30.0,
        access_log=lambda *line: lines.append(line),
    )
    port = server.start()
    try:
        fetch(f"http://127.0.0.1:{port}", "/healthz?token=abc")
        fetch(f"http://127.0.0.1:{port}", "/", method="POST")
    finally:
        server.stop()
    assert [line[:3] for line in lines] == [("GET", "/healthz", 200), ("POST", "/", 405)]
    assert all(line[3] >= 0 for line in lines)
