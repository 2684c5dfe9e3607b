"""Bundle bytes to text: strict UTF-8, else GB18030 or Big5 chosen by plausibility (SPEC 2)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from service.errors import BundleRejected, ReasonCode

_BOM = b"\xef\xbb\xbf"
# C0 controls a text file does not contain; tab, LF, VT, FF, CR and ESC are tolerated.
_CONTROL_BYTES = bytes(b for b in range(0x20) if b not in b"\t\n\x0b\x0c\r\x1b") + b"\x7f"
# Above this share of control bytes the file is not text, whatever decodes.
_MAX_CONTROL_SHARE = 0.05
# Plausibility is judged on a prefix: enough characters to decide, bounded cost on 16 MiB files.
_SAMPLE_CHARS = 4000


@dataclass(frozen=True, slots=True)
class Decoded:
    """A bundle's text and the encoding it was read with."""

    text: str
    encoding: str


def _decode_range(codec: str, leads: range, trails: range) -> frozenset[str]:
    chars: set[str] = set()
    for lead in leads:
        for trail in trails:
            try:
                chars.add(bytes((lead, trail)).decode(codec))
            except UnicodeDecodeError:
                continue
    return frozenset(chars)


@cache
def common_chars() -> frozenset[str]:
    """Characters ordinary Chinese text is mostly made of, built once on first use.

    GB2312 level 1 (B0A1-D7FE) is ordered by frequency and holds the 3,755 most used
    Simplified characters; Big5 A440-C67E holds the 5,401 frequently used Traditional
    ones. With the CJK symbol rows of both and printable ASCII they make a cheap,
    codec-independent yardstick of "looks like real text".
    """
    chars = set(_decode_range("gb2312", range(0xB0, 0xD8), range(0xA1, 0xFF)))
    chars |= _decode_range("gb2312", range(0xA1, 0xA4), range(0xA1, 0xFF))
    chars |= _decode_range("big5", range(0xA4, 0xC6), range(0x40, 0xFF))
    chars |= _decode_range("big5", range(0xC6, 0xC7), range(0x40, 0x7F))
    chars |= _decode_range("big5", range(0xA1, 0xA4), range(0x40, 0xFF))
    chars.update(chr(c) for c in range(0x20, 0x7F))
    chars.update("\t\n\r\u3000\u00a0\u201c\u201d\u2018\u2019\u2014\u2026")
    return frozenset(chars)


@cache
def _common_runs() -> re.Pattern[str]:
    # One class of every common character: the regex engine skips common runs in C, about
    # twice as fast as testing each character against the set in a Python loop.
    return re.compile("[" + "".join(map(re.escape, sorted(common_chars()))) + "]+")


def common_share(text: str) -> float:
    """Share of `text` (a bounded prefix) made of common characters; 0.0 for empty text."""
    sample = text[:_SAMPLE_CHARS]
    if not sample:
        return 0.0
    uncommon = len(_common_runs().sub("", sample))
    return (len(sample) - uncommon) / len(sample)


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def text_of(data: bytes, encoding: str) -> str:
    """The text `decode` gave for `data`, from the encoding it reported (no detection again)."""
    if encoding == "utf-8-sig":
        return data[len(_BOM) :].decode("utf-8")
    return data.decode(encoding)


def decode(data: bytes) -> Decoded:
    """Decode bundle bytes or raise `BundleRejected` (empty, binary, undecodable)."""
    if not data.strip():
        raise BundleRejected(ReasonCode.EMPTY, "the file is empty or holds only whitespace")
    if b"\x00" in data:
        raise BundleRejected(ReasonCode.BINARY, "the file contains NUL bytes; it is not text")
    controls = len(data) - len(data.translate(None, _CONTROL_BYTES))
    if controls > _MAX_CONTROL_SHARE * len(data):
        raise BundleRejected(
            ReasonCode.BINARY, f"{controls} of {len(data)} bytes are control bytes; not text"
        )

    encoding = "utf-8-sig" if data.startswith(_BOM) else "utf-8"
    text = _strict(data[len(_BOM) :] if encoding == "utf-8-sig" else data, "utf-8")
    if text is None:
        # Big5 byte strings often also decode as GB18030 (into kana, Cyrillic and rare
        # characters), so neither codec wins by order alone: the more plausible text does.
        candidates = [
            (common_share(decoded), -rank, codec, decoded)
            for rank, codec in enumerate(("gb18030", "big5"))
            if (decoded := _strict(data, codec)) is not None
        ]
        if not candidates:
            raise BundleRejected(
                ReasonCode.UNDECODABLE,
                "the bytes are neither valid UTF-8, GB18030 nor Big5; re-save the page as UTF-8",
            )
        _, _, encoding, text = max(candidates)
    if not text.strip():
        raise BundleRejected(ReasonCode.EMPTY, "the file holds no text besides a byte order mark")
    return Decoded(text=text, encoding=encoding)
