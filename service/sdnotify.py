"""A tiny, stdlib-only client of systemd's sd_notify protocol (see sd_notify(3))."""

from __future__ import annotations

import os
import socket

__all__ = ["notify", "ready", "status", "stopping", "watchdog_interval", "watchdog_ping"]


def _address(raw: str) -> str | bytes | None:
    # A leading '@' names a socket in Linux's abstract namespace: a NUL byte on the wire.
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    if raw.startswith("/"):
        return raw
    # vsock (vsock:CID:PORT) and anything else: not spoken here, so nothing is sent.
    return None


def notify(message: str) -> bool:
    """Send one state message to $NOTIFY_SOCKET; False when unset, unsupported or failed."""
    raw = os.environ.get("NOTIFY_SOCKET", "")
    address = _address(raw) if raw else None
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode(), address)
    except OSError:
        # The manager went away or the socket is gone: a notification must never kill the
        # daemon; systemd's own timeouts (start, watchdog) report what did not arrive.
        return False
    return True


def ready() -> bool:
    """Tell the service manager that start-up is complete."""
    return notify("READY=1")


def watchdog_ping() -> bool:
    """Reset the service manager's watchdog timer."""
    return notify("WATCHDOG=1")


def stopping() -> bool:
    """Tell the service manager that shutdown has begun."""
    return notify("STOPPING=1")


def status(text: str) -> bool:
    """Publish a one-line human-readable status (shown by `systemctl status`)."""
    return notify("STATUS=" + " ".join(text.splitlines()))


def watchdog_interval() -> float | None:
    """Seconds of $WATCHDOG_USEC when the watchdog is meant for this process, else None."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    try:
        microseconds = int(usec)
        if pid and int(pid) != os.getpid():
            # Inherited by a child from the daemon: the watchdog belongs to the parent.
            return None
    except ValueError:
        return None
    if microseconds <= 0:
        return None
    return microseconds / 1_000_000
