"""Helpers for tests that run the real daemon as a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

FIXTURES = Path(__file__).parent / "fixtures"
SEEDS = FIXTURES / "seeds"


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Poll `predicate` until it returns a truthy value; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


class Daemon:
    """`newsdrop run` in a subprocess, with its JSON log lines collected."""

    def __init__(self, data_dir: Path, database_url: str, **settings: Any) -> None:
        self.data_dir = data_dir
        self.env = {
            **os.environ,
            "NEWSDROP_DATABASE_URL": database_url,
            "NEWSDROP_DATA_DIR": str(data_dir),
            "NEWSDROP_HTTP_PORT": "0",
            "NEWSDROP_LOG_FORMAT": "json",
            "NEWSDROP_SETTLE_SECONDS": "0.5",
            "NEWSDROP_RECONCILE_SECONDS": "5",
            "NEWSDROP_RETRY_MAX_SECONDS": "2",
            "NEWSDROP_WORKERS": "1",
            "NEWSDROP_SECRETS_DIR": str(data_dir / "no-secrets"),
        }
        self.env.update({f"NEWSDROP_{k.upper()}": str(v) for k, v in settings.items()})
        self.proc: subprocess.Popen[bytes] | None = None
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self, wait_ready: bool = True) -> Daemon:
        """Start the process (and wait for its first loop unless told not to)."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service", "run"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.data_dir.parent,
        )
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()
        if wait_ready:
            try:
                wait_until(lambda: self.event("daemon.started") or self._died(), timeout=60)
                assert self.proc.poll() is None, self.tail()
            except AssertionError:
                self.kill()
                raise
        return self

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.raw.append(line)
            with contextlib.suppress(ValueError):
                self.lines.append(json.loads(line))

    def event(self, name: str) -> list[dict[str, Any]]:
        """Log lines with this event name so far."""
        return [line for line in self.lines if line.get("event") == name]

    @property
    def http_port(self) -> int:
        """The port the daemon's HTTP server bound."""
        return int(wait_until(lambda: self.event("http.listening"))[0]["port"])

    def signal(self, signum: int) -> None:
        """Send a signal to the daemon."""
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        self._close()
        return code

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()

    def tail(self, n: int = 30) -> str:
        """The last log lines, for assertion messages."""
        return "\n".join(self.raw[-n:])


def query(url: str, sql: str, **params: Any) -> Any:
    """One scalar from the database."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()
    finally:
        engine.dispose()


def folder_files(folder: Path) -> list[Path]:
    """Every file below `folder` (recursively), sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file())
