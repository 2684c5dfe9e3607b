"""The daemon's HTTP surface: liveness, readiness, Prometheus metrics, a JSON summary and a page.

A thin adapter: every handler asks a `StatusSource` for cached values and renders them. It never
touches the database, the inbox or a lock of the pipeline, so a slow or hostile client can not
hold up ingestion. Stdlib only (`http.server`), on its own daemon thread.
"""

from __future__ import annotations

import contextlib
import functools
import html
import json
import math
import socket
import socketserver
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from string import Template
from typing import Any, NamedTuple, Protocol, cast

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.metrics import Metrics

READINESS_CHECKS = ("database", "watcher", "directories", "reconcile")
OUTCOMES = ("inserted", "updated", "unchanged", "duplicate", "quarantined")

AccessLog = Callable[[str, str, int, float], None]
"""Called after each response with (method, path, status, milliseconds)."""

_JSON = "application/json"
_HTML = "text/html; charset=utf-8"
# Sent on every response: nothing here may be cached by a proxy or sniffed into another type.
_COMMON_HEADERS = (("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"))
# The page needs no script at all; forbidding it makes a missed escape harmless.
_PAGE_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("Referrer-Policy", "no-referrer"),
)
_UNAVAILABLE = {"error": "status unavailable"}
_MAX_DISPLAY = 300


class StatusSource(Protocol):
    """What the HTTP surface may ask the daemon; every call returns cached values at once.

    readiness(): {"database", "watcher", "directories", "reconcile"} -> bool.
    status(): {"articles", "versions", "files": {outcome: N}, "inbox_backlog", "database":
    "up"|"down", "watcher_mode": "inotify"|"polling", "recent": [{"name", "doc_id", "outcome",
    "reason", "at" (ISO 8601), "ms"}] (last 20)}.
    dashboard(): status() plus "throughput": [{"minute" (ISO 8601), "files"}] for the last hour,
    "quarantine": [{"name", "reason", "at"}] (latest 50) and "oldest_pending_age" (seconds).
    """

    def liveness_age(self) -> float: ...  # seconds since the main loop's last tick
    def readiness(self) -> dict[str, bool]: ...
    def status(self) -> dict[str, Any]: ...
    def dashboard(self) -> dict[str, Any]: ...


class Response(NamedTuple):
    """One HTTP answer, built before a byte is written."""

    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def _json(status: int, payload: object, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    # ensure_ascii: file names may hold lone surrogates (undecodable bytes), which UTF-8 can not
    # encode; \u escapes keep the body valid. allow_nan=False: NaN is not JSON.
    body = json.dumps(payload, ensure_ascii=True, allow_nan=False).encode("ascii")
    return Response(status, _JSON, body, headers)


@dataclass
class Routes:
    """Maps a GET path to a `Response`; never raises and never lets exception text out."""

    source: StatusSource
    metrics: Metrics
    liveness_max_age: float
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # the page's "now"

    def respond(self, path: str) -> Response:
        """The answer to `GET path` (query already stripped)."""
        handler = {
            "/healthz": self.healthz,
            "/readyz": self.readyz,
            "/metrics": self.prometheus,
            "/status": self.status,
            "/": self.page,
        }.get(path)
        if handler is None:
            return _json(HTTPStatus.NOT_FOUND, {"error": "not found"})
        return handler()

    def healthz(self) -> Response:
        """200 while the main loop ticks; a database outage alone must never get us restarted."""
        try:
            age = float(self.source.liveness_age())
        except Exception:
            return _json(HTTPStatus.SERVICE_UNAVAILABLE, _UNAVAILABLE)
        if not math.isfinite(age):
            return _json(
                HTTPStatus.SERVICE_UNAVAILABLE, {"status": "stalled", "loop_age_seconds": None}
            )
        alive = age <= self.liveness_max_age
        return _json(
            HTTPStatus.OK if alive else HTTPStatus.SERVICE_UNAVAILABLE,
            {"status": "ok" if alive else "stalled", "loop_age_seconds": round(age, 3)},
        )

    def readyz(self) -> Response:
        """200 when every readiness check passes, else 503 naming the failing ones."""
        try:
            reported = self.source.readiness()
            # A check the source forgot to report counts as failing: never ready by omission.
            checks = {name: reported.get(name) is True for name in READINESS_CHECKS}
            checks.update({str(k): v is True for k, v in reported.items() if k not in checks})
        except Exception:
            return _json(HTTPStatus.SERVICE_UNAVAILABLE, _UNAVAILABLE)
        failing = [name for name, ok in checks.items() if not ok]
        if failing:
            return _json(
                HTTPStatus.SERVICE_UNAVAILABLE,
                {"status": "not ready", "failing": failing, "checks": checks},
            )
        return _json(HTTPStatus.OK, {"status": "ready", "checks": checks})

    def prometheus(self) -> Response:
        """The Prometheus text exposition of the daemon's own registry."""
        try:
            body = generate_latest(self.metrics.registry)
        except Exception:
            return _json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "metrics unavailable"})
        return Response(HTTPStatus.OK, CONTENT_TYPE_LATEST, body)

    def status(self) -> Response:
        """The daemon's JSON summary, as the source reports it."""
        try:
            return _json(HTTPStatus.OK, self.source.status())
        except Exception:
            return _json(HTTPStatus.INTERNAL_SERVER_ERROR, _UNAVAILABLE)

    def page(self) -> Response:
        """The status page for a person."""
        try:
            text = render_status_page(self.source.dashboard(), self.clock())
        except Exception:
            # Still a page that refreshes, so a screen left open recovers by itself.
            body = _UNAVAILABLE_PAGE.encode("utf-8")
            return Response(HTTPStatus.SERVICE_UNAVAILABLE, _HTML, body, _PAGE_HEADERS)
        return Response(HTTPStatus.OK, _HTML, text.encode("utf-8"), _PAGE_HEADERS)


_UNAVAILABLE_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta http-equiv="refresh" content="10"><title>newsdrop: status unavailable</title></head>'
    "<body><h1>newsdrop</h1><p>Status unavailable. This page retries every 10 seconds.</p>"
    "</body></html>"
)


class _Server(ThreadingHTTPServer):
    """A threading server that knows its routes and can join the requests it started."""

    # Daemon threads: a client that hangs must never keep the process alive at exit;
    # stop() still joins them within the socket timeout.
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        routes: Routes,
        *,
        socket_timeout: float,
        max_connections: int,
        access_log: AccessLog | None,
    ) -> None:
        self.routes = routes
        self.socket_timeout = socket_timeout
        self.max_connections = max_connections
        self.access_log = access_log
        self._requests: set[threading.Thread] = set()
        self._requests_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's getfqdn(), a reverse DNS lookup that can stall start-up."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve on a tracked thread; past `max_connections`, refuse rather than pile up threads."""
        with self._requests_lock:
            if len(self._requests) >= self.max_connections:
                self.shutdown_request(request)
                return
            thread = threading.Thread(
                target=self._serve_one,
                args=(request, client_address),
                name="newsdrop-http-request",
                daemon=True,
            )
            self._requests.add(thread)
        thread.start()

    def _serve_one(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._requests_lock:
                self._requests.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: the default prints a traceback to stderr, outside structlog."""

    def join_requests(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for requests in flight to finish."""
        deadline = time.monotonic() + timeout
        with self._requests_lock:
            pending = list(self._requests)
        for thread in pending:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    def version_string(self) -> str:
        """The Server header: no Python or library version to fingerprint."""
        return "newsdrop"

    def setup(self) -> None:
        # Bounds how long a slow or silent client can hold its thread.
        cast(socket.socket, self.request).settimeout(self._server.socket_timeout)
        super().setup()

    @property
    def _server(self) -> _Server:
        return cast(_Server, self.server)

    def do_GET(self) -> None:
        """Answer a GET."""
        self._serve(head=False)

    def do_HEAD(self) -> None:
        """Answer a HEAD: the GET headers, no body."""
        self._serve(head=True)

    def _serve(self, *, head: bool) -> None:
        started = time.perf_counter()
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        response = self._server.routes.respond(path)
        self._write(response, head=head)
        self._log_access(path, response.status, started)

    def _write(self, response: Response, *, head: bool) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in (*_COMMON_HEADERS, *response.headers):
                self.send_header(name, value)
            self.end_headers()
            if not head:
                self.wfile.write(response.body)
        except OSError:
            # The client went away or timed out; nothing to tell it.
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A short JSON error instead of the stdlib's HTML page, which echoes the request line."""
        headers: tuple[tuple[str, str], ...] = (("Connection", "close"),)
        if code == HTTPStatus.NOT_IMPLEMENTED:
            # http.server answers 501 to a method with no do_* handler; only GET and HEAD have one.
            code = HTTPStatus.METHOD_NOT_ALLOWED
            headers += (("Allow", "GET, HEAD"),)
        self.close_connection = True
        response = _json(code, {"error": HTTPStatus(code).phrase.lower()}, headers)
        self._write(response, head=self.command == "HEAD")
        if self.command:  # empty when the request line itself was unreadable
            path = str(getattr(self, "path", "")).split("?", 1)[0]
            self._log_access(path, code, time.perf_counter())

    def _log_access(self, path: str, status: int, started: float) -> None:
        log = self._server.access_log
        if log is None:
            return
        ms = (time.perf_counter() - started) * 1000
        with contextlib.suppress(Exception):  # an access log must not break the response path
            log(str(self.command), path[:200], int(status), round(ms, 2))

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's stderr lines; access logs go through `access_log` if given."""


class HttpServer:
    """The daemon's HTTP endpoints on a background thread; nothing starts before `start()`."""

    def __init__(
        self,
        host: str,
        port: int,
        source: StatusSource,
        metrics: Metrics,
        liveness_max_age: float,
        *,
        access_log: AccessLog | None = None,
        socket_timeout: float = 5.0,
        max_connections: int = 32,
    ) -> None:
        self.host = host
        self.port = port
        self.socket_timeout = socket_timeout
        self.max_connections = max_connections
        self.access_log = access_log
        self.routes = Routes(source, metrics, liveness_max_age)
        _page_template()  # a template missing from the install fails here, not on first visit
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        """Bind, serve on a daemon thread and return the bound port (useful with port 0)."""
        if self._server is not None:
            raise RuntimeError("HttpServer already started")
        server_class = _Server6 if ":" in self.host else _Server
        server = server_class(
            (self.host, self.port),
            self.routes,
            socket_timeout=self.socket_timeout,
            max_connections=self.max_connections,
            access_log=self.access_log,
        )
        # A short poll interval keeps stop() quick; the loop is idle otherwise.
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="newsdrop-http",
            daemon=True,
        )
        self._server = server
        self._thread.start()
        self.port = int(server.server_address[1])
        return self.port

    def stop(self) -> None:
        """Stop serving, close the socket and join the server and request threads."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        thread.join(self.socket_timeout)
        server.join_requests(self.socket_timeout + 1.0)
        self._server = self._thread = None


# -- the page ------------------------------------------------------------------------------


@functools.cache
def _page_template() -> Template:
    text = resources.files("service").joinpath("templates/status.html").read_text("utf-8")
    return Template(text)


def _clean(value: object) -> str:
    """`value` as safe HTML text: control, format and undecodable characters made visible."""
    text = "" if value is None else str(value)
    if len(text) > _MAX_DISPLAY:
        text = text[:_MAX_DISPLAY] + "…"
    out = []
    for char in text:
        # Cc: newlines, ESC sequences; Cf: bidi overrides that reorder what a reader sees;
        # Cs: lone surrogates from undecodable file names; Zl/Zp: line breaks by another name.
        if unicodedata.category(char) in {"Cc", "Cf", "Cs", "Zl", "Zp"}:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return html.escape("".join(out), quote=True)


def _count(value: object) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None


def _number(value: object) -> str:
    n = _count(value)
    return "—" if n is None else f"{n:,}"


def _duration(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "—"
    seconds = max(0, int(value))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    # The daemon reports UTC; a naive value is read as UTC rather than as this host's zone.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _clock_cell(value: object) -> str:
    moment = _instant(value)
    if moment is None:
        return f"<td>{_clean(value)}</td>"
    return f'<td title="{_clean(value)}">{moment:%H:%M:%S}</td>'


_OUTCOME_CLASS = {
    "inserted": "ok",
    "updated": "info",
    "unchanged": "idle",
    "duplicate": "dup",
    "quarantined": "bad",
}


def _outcome_badge(outcome: object) -> str:
    css = _OUTCOME_CLASS.get(outcome if isinstance(outcome, str) else "", "warn")
    return f'<span class="badge {css}">{_clean(outcome)}</span>'


def _state_badges(data: Mapping[str, Any]) -> str:
    database, watcher = data.get("database"), data.get("watcher_mode")
    db_css = {"up": "ok", "down": "bad"}.get(database if isinstance(database, str) else "", "warn")
    # Polling is the fallback when inotify is unavailable or overflowed: working, but worth a look.
    watch_css = {"inotify": "ok", "polling": "warn"}.get(
        watcher if isinstance(watcher, str) else "", "warn"
    )
    return (
        f'<span class="badge {db_css}">database {_clean(database or "unknown")}</span>'
        f'<span class="badge {watch_css}">watcher {_clean(watcher or "unknown")}</span>'
    )


def _cards(data: Mapping[str, Any]) -> str:
    files = data.get("files")
    quarantined = files.get("quarantined") if isinstance(files, Mapping) else None
    cards = (
        ("Articles", _number(data.get("articles"))),
        ("Versions", _number(data.get("versions"))),
        ("Inbox backlog", _number(data.get("inbox_backlog"))),
        ("Oldest pending", _duration(data.get("oldest_pending_age"))),
        ("Quarantined", _number(quarantined)),
    )
    return "\n".join(
        f'  <div class="card"><div class="label">{label}</div>'
        f'<div class="value">{_clean(value)}</div></div>'
        for label, value in cards
    )


def _outcomes(data: Mapping[str, Any]) -> str:
    files = data.get("files")
    files = files if isinstance(files, Mapping) else {}
    return "\n".join(
        f'    <div class="outcome">{_outcome_badge(name)}<b>{_number(files.get(name))}</b></div>'
        for name in OUTCOMES
    )


def _minute_counts(throughput: object, now: datetime) -> list[tuple[datetime, int]]:
    """Sixty one-minute slots ending at `now`, missing minutes counted as zero."""
    end = now.astimezone(UTC).replace(second=0, microsecond=0)
    slots = {end - timedelta(minutes=offset): 0 for offset in range(59, -1, -1)}
    for entry in throughput if isinstance(throughput, list) else []:
        if not isinstance(entry, Mapping):
            continue
        minute, files = _instant(entry.get("minute")), _count(entry.get("files"))
        if minute is None or files is None:
            continue
        minute = minute.replace(second=0, microsecond=0)
        if minute in slots:
            slots[minute] += max(0, files)
    return list(slots.items())


def _throughput(data: Mapping[str, Any], now: datetime) -> tuple[str, str]:
    minutes = _minute_counts(data.get("throughput"), now)
    total = sum(n for _, n in minutes)
    peak = max(n for _, n in minutes)
    summary = f"{total:,} files, peak {peak:,}/min"
    width, height, gap = 10, 100, 2
    bars = []
    for i, (minute, n) in enumerate(minutes):
        # A 1-unit stub for empty minutes keeps the time axis readable.
        h = max(1.0, height * n / peak) if peak and n else 1.0
        css = "bar" if n else "zero"
        label = f"{minute:%H:%M} UTC: {n:,} file{'s' if n != 1 else ''}"
        bars.append(
            f'<rect class="{css}" x="{i * width}" y="{height - h:.1f}" '
            f'width="{width - gap}" height="{h:.1f}"><title>{label}</title></rect>'
        )
    start, end = minutes[0][0], minutes[-1][0]
    chart = (
        f'  <svg class="chart" viewBox="0 0 {len(minutes) * width} {height}" '
        'preserveAspectRatio="none" role="img" '
        f'aria-label="Files per minute, last hour: {summary}">' + "".join(bars) + "</svg>\n"
        f'  <div class="axis"><span>{start:%H:%M} UTC</span><span>{end:%H:%M} UTC</span></div>\n'
    )
    busy = [(minute, n) for minute, n in minutes if n]
    if busy:
        rows = "".join(
            f'<tr><td>{minute:%H:%M}</td><td class="num">{n:,}</td></tr>'
            for minute, n in reversed(busy)
        )
        chart += (
            "  <details><summary>Per-minute counts</summary><table>"
            f'<tr><th>Minute (UTC)</th><th class="num">Files</th></tr>{rows}</table></details>\n'
        )
    return chart, summary


def _rows(entries: object) -> list[Mapping[str, Any]]:
    return [e for e in entries if isinstance(e, Mapping)] if isinstance(entries, list) else []


def _recent(data: Mapping[str, Any]) -> str:
    rows = _rows(data.get("recent"))
    if not rows:
        return '  <div class="empty">No files yet.</div>'
    body = "".join(
        "<tr>"
        + _clock_cell(e.get("at"))
        + f'<td class="name">{_clean(e.get("name"))}</td>'
        + f'<td class="name">{_clean(e.get("doc_id") or "—")}</td>'
        + f"<td>{_outcome_badge(e.get('outcome'))}</td>"
        + f'<td class="reason">{_clean(e.get("reason") or "")}</td>'
        + f'<td class="num">{_number(e.get("ms"))}</td>'
        + "</tr>"
        for e in rows
    )
    return (
        "  <table><tr><th>Time (UTC)</th><th>File</th><th>Doc id</th><th>Outcome</th>"
        f'<th>Reason</th><th class="num">ms</th></tr>{body}</table>'
    )


def _quarantine(data: Mapping[str, Any]) -> tuple[str, int]:
    rows = _rows(data.get("quarantine"))
    if not rows:
        return '  <div class="empty">Quarantine is empty.</div>', 0
    body = "".join(
        "<tr>"
        + _clock_cell(e.get("at"))
        + f'<td class="name">{_clean(e.get("name"))}</td>'
        + f'<td class="reason">{_clean(e.get("reason"))}</td>'
        + "</tr>"
        for e in rows
    )
    table = f"  <table><tr><th>Time (UTC)</th><th>File</th><th>Reason</th></tr>{body}</table>"
    return table, len(rows)


def render_status_page(data: Mapping[str, Any], now: datetime) -> str:
    """The HTML status page for a `StatusSource.dashboard()` snapshot taken at `now`."""
    throughput, summary = _throughput(data, now)
    quarantine, quarantine_count = _quarantine(data)
    database = data.get("database")
    title = "newsdrop: database down" if database == "down" else "newsdrop: status"
    return _page_template().substitute(
        title=title,
        state=_state_badges(data),
        generated=f"{now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
        cards=_cards(data),
        outcomes=_outcomes(data),
        throughput_summary=_clean(summary),
        throughput=throughput,
        recent=_recent(data),
        quarantine_count=quarantine_count,
        quarantine=quarantine,
    )
