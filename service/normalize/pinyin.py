"""Pinyin notes that converters leave after characters, as in `發(fā)展`."""

from __future__ import annotations

import re

_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ"
_PLAIN_VOWELS = "aeiouüv"
_INITIAL = "(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?"
# The shape of a syllable with its one tone mark; the regex itself is the validation, which
# keeps `(café)` and `(About Us)` out without a per-match callback.
_SYLLABLE = f"{_INITIAL}[{_PLAIN_VOWELS}]{{0,2}}[{_TONED}][{_PLAIN_VOWELS}]{{0,2}}(?:ng|n|r)?"
# Converters annotate common characters only, so the BMP block is enough behind the bracket;
# starting the pattern with the bracket lets the regex engine skip ahead to candidates.
_BEHIND = "(?<=[\u3400-\u9fff][(（])"
# One syllable carrying its tone mark, right after an ideograph: nothing else writes that.
_TONED_NOTE = re.compile(f"[(（]{_BEHIND}({_SYLLABLE})[)）]")
_TONELESS_NOTE = re.compile(f"[(（]{_BEHIND}([a-zü]{{1,6}})[)）]")
# A note whose character was lost with a garbled lead byte: `?chuàng)`.
BROKEN_NOTE = re.compile(f"\\?({_SYLLABLE})[)）]")
# Toneless notes (`的(de)`) are stripped only where the page shows the converter's toned
# pattern this many times: alone, `(an)` or `(men)` after a character may be real text.
_TONELESS_MIN_TONED = 5

_ANY_TONE = re.compile(f"[{_TONED}]")
_PLAIN = str.maketrans("āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜv", "aaaaeeeeiiiioooouuuuüüüüü")

_FINALS_BY_INITIAL = {
    "": "a o e ai ei ao ou an en ang eng er",
    "y": "i a e ao ou an in ang ing ong u ue uan un",
    "w": "u a o ai ei an en ang eng",
    "b p m": "a o ai ei ao an en ang eng i ie iao ian in ing u ou iu e",
    "f": "a o ei ou an en ang eng u",
    "d t": "a e ai ei ao ou an en ang eng ong i ia ie iao iu ian ing u uo ui uan un",
    "n l": "a o e ai ei ao ou an en ang eng ong i ia ie iao iu ian in iang ing u uo uan un ü üe",
    "g k h": "a e ai ei ao ou an en ang eng ong u ua uo uai ui uan un uang",
    "j q x": "i ia ie iao iu ian in iang ing iong u ue uan un",
    "zh ch sh r": "a e ai ei ao ou an en ang eng ong i u ua uo uai ui uan un uang",
    "z c s": "a e ai ei ao ou an en ang eng ong i u uo ui uan un",
}
SYLLABLES = frozenset(
    initial + final
    for initials, finals in _FINALS_BY_INITIAL.items()
    for initial in (initials.split() or [""])
    for final in finals.split()
)


def is_syllable(text: str) -> bool:
    """True when `text` (tone marks allowed) is one Mandarin syllable in pinyin."""
    return text.translate(_PLAIN) in SYLLABLES


def _strip_if_syllable(match: re.Match[str]) -> str:
    return "" if is_syllable(match[1]) else match[0]


def strip_pinyin_notes(text: str) -> tuple[str, int]:
    """Remove `字(pinyin)` converter notes; returns the text and how many were removed."""
    if _ANY_TONE.search(text) is None:
        # No tone mark anywhere, so no toned note: one class scan instead of the note regex.
        return text, 0
    # Toneless candidates are checked against the syllable table; they are few.
    stripped, toned = _TONED_NOTE.subn("", text)
    if toned < _TONELESS_MIN_TONED:
        return stripped, toned
    before = len(stripped)
    stripped = _TONELESS_NOTE.sub(_strip_if_syllable, stripped)
    # Every toneless note is at least three characters long: `(a)`.
    return stripped, toned + (before - len(stripped) > 0)


def chars_read_as(text: str, syllable: str) -> set[str]:
    """Characters the page annotates as `syllable` (`創(chuàng)`): a page-local dictionary."""
    found: set[str] = set()
    for note in (f"({syllable})", f"（{syllable}）"):
        if note in text:
            # One C-level split instead of a find loop: every piece but the last ends with
            # the annotated character.
            found.update(
                piece[-1]
                for piece in text.split(note)[:-1]
                if piece and "\u3400" <= piece[-1] <= "\u9fff"
            )
    return found
