"""structlog set-up: JSON lines off a terminal, console lines on one, secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

# user:password@ in any URL, and key=value / key: value pairs whose key names a secret.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@\s]*@", re.I)
_CREDENTIAL_KEY_NAMES = "password|passwd|pwd|secret|token|api_key"
_SECRET_PAIR = re.compile(
    rf"(?P<key>{_CREDENTIAL_KEY_NAMES})(?P<sep>\s*[=:]\s*)(?P<value>[^\s&;,]+)",
    re.I,
)
_SECRET_KEYS = frozenset({"password", "passwd", "secret", "token", "dsn", "database_url", "url"})
_CONTROLS = r"[\x00-\x1f\x7f-\x9f]"
_CONTROL = re.compile(_CONTROLS)
# One search that every string needing work matches (built from the same pieces as the three
# patterns above): most values (names, reason codes) match nothing, and two substitutions per
# value were 12% of the daemon's main-thread CPU in the backlog benchmark.
_NEEDS_CLEANING = re.compile(f"{_CONTROLS}|://|{_CREDENTIAL_KEY_NAMES}", re.I)
_CREDENTIAL_WORDS = tuple(_CREDENTIAL_KEY_NAMES.split("|"))
# Tracebacks keep their line breaks; every other value is one line.
_MULTILINE_KEYS = frozenset({"exception"})
_SCALARS = (int, float, type(None))  # bool is an int


def redact_text(text: str) -> str:
    """Mask passwords in URLs and `password=...` pairs inside free text."""
    text = _URL_CREDENTIALS.sub(r"\g<scheme>\g<user>:***@", text)
    return _SECRET_PAIR.sub(r"\g<key>\g<sep>***", text)


def _escape_controls(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _needs_cleaning(text: str) -> bool:
    """True when `_NEEDS_CLEANING` matches `text`."""
    if text.isascii():
        # The same test in C string methods, five times faster than the case-insensitive
        # alternation: in ASCII, the controls are exactly the unprintable characters, and
        # re.I folds case as lower() does (its extra folds, such as U+017F for s, are not ASCII).
        lowered = text.lower()
        return (
            not text.isprintable()
            or "://" in text
            or any(word in lowered for word in _CREDENTIAL_WORDS)
        )
    return _NEEDS_CLEANING.search(text) is not None


def _clean(value: Any, *, multiline: bool = False) -> Any:
    if isinstance(value, str):
        if not _needs_cleaning(value):
            return value
        redacted = redact_text(value)
        return redacted if multiline else _escape_controls(redacted)
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    return value


def _plain(event_dict: MutableMapping[str, Any]) -> bool:
    """True when no value needs cleaning: scalars only, and no string the patterns match."""
    texts = []
    for value in event_dict.values():
        if isinstance(value, str):
            texts.append(value)
        elif not isinstance(value, _SCALARS):
            return False
    # One search over all strings joined by a space: no pattern piece contains or spans a
    # space, so the joint search matches exactly when one of the strings would.
    return not _needs_cleaning(" ".join(texts))


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: no secret and no raw control character reaches a log line."""
    if _plain(event_dict):
        # The canonical line of every file takes this path: one search instead of one a value.
        return event_dict
    for key, value in list(event_dict.items()):
        if key.lower() in _SECRET_KEYS and value is not None and "://" in str(value):
            event_dict[key] = "***"
        else:
            event_dict[key] = _clean(value, multiline=key in _MULTILINE_KEYS)
    return event_dict


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Set structlog up for this process; call once from the composition root."""
    out = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_processor,
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if use_console
        else structlog.processors.JSONRenderer(ensure_ascii=False)
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
