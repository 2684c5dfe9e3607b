"""Mojibake: detect garbled spans and repair them where the bytes allow (SPEC 3)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.decode import common_chars, common_share
from service.normalize.pinyin import BROKEN_NOTE, chars_read_as

PRIVATE_USE = re.compile("[\ue000-\uf8ff]")
# What lossy decoding leaves behind: replacement characters and the classic GBK/UTF-8 ghosts.
# Single character classes only: a leading alternation would cost the engine its fast scan.
_LOST = re.compile("[\ue000-\uf8ff\ufffd]")
_GHOSTS = ("锟斤拷", "烫烫烫", "屯屯屯")
_GARBAGE = re.compile("[\ue000-\uf8ff\ufffd锟烫屯]")
# Anything a mojibake pass looks for: Latin-1 letters, private use, lost bytes, ghosts.
_SUSPECT = re.compile("[\u00e0-\u00ef\ue000-\uf8ff\ufffd?锟烫屯]")
_GARBAGE_HEADS = frozenset("\ufffd锟烫屯")

# GBK read one byte out of step: a lost lead byte shows as `?`, then characters built from
# (trail, next lead) pairs, until a trail byte in 0x40-0x7E surfaces as ASCII and resyncs.
# The first character may be a full-width form (A3xx) the page folded to ASCII.
_MISALIGNED = re.compile(
    r"\?(?P<run>[\x21-\x3e\x40-\x7e]?[^\x00-\x7f?]{1,80})(?P<trail>[\x40-\x7e])?"
)
# Lost lead bytes to try: A1 (the row of 。、“” and friends) is by far the likeliest in news
# text, then A3 (full-width punctuation); only when neither reads well, the other rows.
_LIKELY_LEADS = (0xA1, 0xA3)
_OTHER_LEADS = (
    *range(0xB0, 0xF8),
    0xA2,
    *range(0xA4, 0xB0),
    *range(0x81, 0xA1),
    *range(0xF8, 0xFF),
)
# A repair must read as ordinary text, and better than the garbled span it replaces.
_MIN_REPAIRED_SHARE = 0.75
_FULL_TO_ASCII = str.maketrans("，：；！？（）", ",:;!?()")

# UTF-8 read as Latin-1/cp1252: a three-byte lead (E0-EF shows as à-ï) and its continuations.
_LATIN1_RUN = re.compile(
    "[\u00e0-\u00ef][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u2122]{2,}(?:[\u00c2-\u00f4][\u0080-\u00bf\u0152-\u2122]{1,3})*"
)


@dataclass(frozen=True, slots=True)
class MojibakeReport:
    """What the mojibake pass found: the text after repair and counts of garbled spans."""

    text: str
    detected: int
    repaired: int


def _to_gbk_bytes(run: str) -> bytes | None:
    # Half-width forms in a span were full-width (A3xx) before the page folded them.
    widened = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in run)
    try:
        return widened.encode("gb18030")
    except UnicodeEncodeError:
        return None


def _best_realignment(payload: bytes) -> tuple[str, int | None] | None:
    """The most plausible strict decoding of a lost lead byte + `payload`, and a dangling lead."""
    return _best_with_leads(payload, _LIKELY_LEADS) or _best_with_leads(payload, _OTHER_LEADS)


def _best_with_leads(payload: bytes, leads: tuple[int, ...]) -> tuple[str, int | None] | None:
    best: tuple[float, str, int | None] | None = None
    for lead in leads:
        data = bytes((lead,)) + payload
        dangling: int | None = None
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            # The span stopped on a lead byte whose trail was lost with the next `?`.
            dangling = data[-1]
            try:
                text = data[:-1].decode("gb18030")
            except UnicodeDecodeError:
                continue
        if PRIVATE_USE.search(text) or "\ufffd" in text:
            continue
        score = common_share(text)
        if best is None or score > best[0]:
            best = (score, text, dangling)
        if score == 1.0:
            break
    if best is None or best[0] < _MIN_REPAIRED_SHARE:
        return None
    return best[1], best[2]


def _recover_lost_char(text: str, dangling: int, syllable: str) -> str | None:
    """The one character the page reads as `syllable` whose GBK code starts with `dangling`."""
    lead = bytes((dangling,))
    candidates = {ch for ch in chars_read_as(text, syllable) if ch.encode("gb18030")[:1] == lead}
    return candidates.pop() if len(candidates) == 1 else None


def repair_misaligned_gbk(text: str) -> MojibakeReport:
    """Re-align GBK spans decoded one byte out of step (SPEC 3, golden example of seed 004)."""
    if "?" not in text:
        return MojibakeReport(text, 0, 0)
    common = common_chars()
    ascii_commas = text.count(",") >= text.count("，")
    out: list[str] = []
    pos = detected = repaired = 0
    for match in _MISALIGNED.finditer(text):
        run, trail = match["run"], match["trail"] or ""
        if all(ch in common for ch in run):
            # Ordinary text after a question mark (`真的吗?!我不信`): nothing garbled here.
            continue
        detected += 1
        payload = _to_gbk_bytes(run)
        found = _best_realignment(payload + trail.encode()) if payload is not None else None
        if found is None or common_share(found[0]) <= common_share(match[0]):
            continue
        fixed, dangling = found
        end = match.end()
        if dangling is not None:
            note = BROKEN_NOTE.match(text, end)
            if note is not None:
                # `?chuàng)`: the lost character's pinyin note survived; the page's own notes
                # may name exactly one character with that reading and that lead byte.
                lost = _recover_lost_char(text, dangling, note[1])
                fixed += lost or ""
                end = note.end()
            elif text.startswith("?", end):
                end += 1
        if ascii_commas:
            fixed = fixed.translate(_FULL_TO_ASCII)
        out.append(text[pos : match.start()])
        out.append(fixed)
        pos = end
        repaired += 1
    if not detected:
        return MojibakeReport(text, 0, 0)
    out.append(text[pos:])
    return MojibakeReport("".join(out), detected, repaired)


def _latin1_fix(match: re.Match[str]) -> str:
    run = match[0]
    try:
        fixed = run.encode("cp1252").decode("utf-8")
    except UnicodeError:
        try:
            fixed = run.encode("latin-1").decode("utf-8")
        except UnicodeError:
            return run
    return fixed if any("\u3400" <= ch <= "\u9fff" for ch in fixed) else run


def repair_utf8_as_latin1(text: str) -> tuple[str, int]:
    """Undo UTF-8 text that was read as Latin-1/cp1252 (`ä¸­å›½` -> `中国`)."""
    if _LATIN1_RUN.search(text) is None:
        return text, 0
    fixed = _LATIN1_RUN.sub(_latin1_fix, text)
    return fixed, int(fixed != text)


def has_garbage(text: str) -> bool:
    """True when text still holds private-use characters or lossy-decoding ghosts."""
    if _GARBAGE.search(text) is None:
        return False
    return _LOST.search(text) is not None or any(ghost in text for ghost in _GHOSTS)


@dataclass(frozen=True, slots=True)
class Suspects:
    """Which mojibake passes a text needs, from one scan: most pages need none."""

    latin1: bool
    lost_byte: bool
    garbage: bool


def mojibake_suspects(text: str) -> Suspects:
    """One class scan for every character a mojibake pass looks for."""
    found = set(_SUSPECT.findall(text))
    return Suspects(
        latin1=any("\u00e0" <= ch <= "\u00ef" for ch in found),
        lost_byte="?" in found,
        garbage=not found.isdisjoint(_GARBAGE_HEADS)
        or any("\ue000" <= ch <= "\uf8ff" for ch in found),
    )
