"""sd_notify client: real AF_UNIX datagram sockets stand in for systemd's notify socket."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from service import sdnotify

pytestmark = pytest.mark.unit


@pytest.fixture
def manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket bound in tmp_path and announced as $NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    assert len(str(path)) < 100, "AF_UNIX paths are limited to 108 bytes"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def _received(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_ready_and_watchdog_reach_the_socket(manager: socket.socket) -> None:
    assert sdnotify.ready() is True
    assert _received(manager) == "READY=1"
    assert sdnotify.watchdog_ping() is True
    assert _received(manager) == "WATCHDOG=1"


def test_stopping_and_status(manager: socket.socket) -> None:
    assert sdnotify.stopping() is True
    assert _received(manager) == "STOPPING=1"
    assert sdnotify.status("draining\nlast file") is True
    assert _received(manager) == "STATUS=draining last file"


def test_notify_sends_the_message_verbatim(manager: socket.socket) -> None:
    assert sdnotify.notify("READY=1\nSTATUS=up") is True
    assert _received(manager) == "READY=1\nSTATUS=up"


def test_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"newsdrop-test-{secrets.token_hex(8)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.ready() is True
        assert _received(sock) == "READY=1"


def test_unset_socket_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.ready() is False
    assert sdnotify.watchdog_ping() is False
    monkeypatch.setenv("NOTIFY_SOCKET", "")
    assert sdnotify.notify("READY=1") is False


@pytest.mark.parametrize("value", ["vsock:2:1234", "relative/notify"])
def test_unsupported_address_is_not_used(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", value)
    assert sdnotify.ready() is False


def test_vanished_socket_returns_false(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert sdnotify.ready() is False


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        ("30000000", None, 30.0),
        ("15000000", "self", 15.0),
        ("15000000", "other", None),
        ("0", None, None),
        ("-5", None, None),
        ("soon", None, None),
        (None, None, None),
        ("15000000", "not-a-pid", None),
    ],
)
def test_watchdog_interval(
    monkeypatch: pytest.MonkeyPatch, usec: str | None, pid: str | None, expected: float | None
) -> None:
    for name, value in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        elif value == "self":
            monkeypatch.setenv(name, str(os.getpid()))
        elif value == "other":
            monkeypatch.setenv(name, str(os.getpid() + 1))
        else:
            monkeypatch.setenv(name, value)
    assert sdnotify.watchdog_interval() == expected
