"""Identity of an article's content: canonical text, content hash and SimHash (SPEC 3)."""

from __future__ import annotations

import codecs
import hashlib
import re
import unicodedata
from functools import cache, lru_cache
from typing import Any

import opencc

_SIGN = 1 << 63
_MASK64 = (1 << 64) - 1
_NGRAM = 3

# Characters that do not survive an OpenCC round trip (t2s(s2t(x)) != x) or that t2s leaves
# alone where mainland text writes another (著/着). Each group folds to its first character:
# the canonical text only has to be the same for both scripts, never to be read. Found by
# round-tripping every two-character string of GB2312 (levels 1 and 2) and every BMP
# ideograph alone; tests/unit/test_identity.py repeats a sample of that sweep.
_FOLD_GROUPS = (
    "着著 干乾 沉沈渖 借藉 复覆 背揹 于於 夫伕 征徵 秘祕 熏薰 厘釐 修脩 钟锺 宁甯 升昇 画划"
    " 里哩 巨钜 浚濬 穗\U00030b38 澄澂 仇雠 呆待 具俱 炼链 了瞭 拿拏 苔薹 象像 坐座 咨谘 烟菸"
    " 拼拚 挨捱 折摺 后後 伙夥 余馀 矩榘 昵暱 旋镟 穞稆 曲麴麹 糖醣 夹袷 么麽 咤吒 径迳 吣唚"
    " 尽侭 緪縆 线缐 苎苧 托讬 面麺"
)
_FOLD = {other: group[0] for group in _FOLD_GROUPS.split() for other in group[1:]}
# A regex pass finds the rare characters to fold; str.translate with a dict would look up
# every character of the text (~130 us on a seed page).
_FOLDABLE = re.compile("[" + "".join(sorted(_FOLD)) + "]")
_CASED = re.compile("[A-Z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff]")
# Everything that is not a letter or a digit: punctuation, symbols, whitespace.
_NOT_WORD = re.compile(r"[\W_]+")


@cache
def _t2s() -> Any:
    # Built on first use, not at import: loading the dictionaries takes a few milliseconds.
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """OpenCC t2s (Traditional to Simplified, character and phrase level)."""
    converted: str = _t2s().convert(text)
    return converted


@cache
def script_tables() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Character classes of Traditional-only and Simplified-only ideographs, built on first use.

    One OpenCC t2s pass over every BMP ideograph, one per line so no phrase rule applies:
    a character t2s changes is Traditional; what it changes into is Simplified.
    """
    chars = [chr(code) for code in range(0x3400, 0x4DC0)] + [
        chr(code) for code in range(0x4E00, 0xA000)
    ]
    converted = to_simplified("\n".join(chars)).split("\n")
    traditional = {c for c, s in zip(chars, converted, strict=True) if s != c and len(s) == 1}
    simplified = {s for c, s in zip(chars, converted, strict=True) if s != c and len(s) == 1}
    # t2s maps a few characters outside the BMP; a class with any of those loses the
    # engine's bitmap lookup and becomes sixty times slower.
    simplified = {c for c in simplified - traditional if c <= "\uffff"}
    return (
        re.compile("[" + "".join(sorted(traditional)) + "]"),
        re.compile("[" + "".join(sorted(simplified)) + "]"),
    )


@lru_cache(maxsize=8)
def canonical_text(title: str, body: str) -> str:
    """Title and body reduced to what identifies the story: Simplified, NFKC, no punctuation.

    Cached for the last few pages: content_hash and simhash both start from it.
    """
    # Punctuation and spaces go first: full-width punctuation is what keeps Chinese text
    # from being NFKC-normal, and NFKC costs ~540 us on such text but 2-5 us to check.
    # (Symbols whose NFKC form is a letter or digit, such as ㎡, are dropped as symbols.)
    text = _NOT_WORD.sub("", f"{title}\n{body}")
    if not unicodedata.is_normalized("NFKC", text):
        text = _NOT_WORD.sub("", unicodedata.normalize("NFKC", text))
    # Text without a single Traditional-only character is left as it is: t2s would not
    # change it, and OpenCC is the costliest step here (~90 ns per character).
    if script_tables()[0].search(text):
        text = to_simplified(text)
    if _FOLDABLE.search(text):
        text = _FOLDABLE.sub(lambda match: _FOLD[match.group()], text)
    # Case only matters for Latin, Greek and Cyrillic letters; lower() on ideographs is a
    # per-character table lookup that changes nothing.
    return text.lower() if _CASED.search(text) else text


def content_hash(title: str, body: str) -> str:
    """sha256 hex of the canonical text: equal for the same story in either script."""
    return hashlib.sha256(canonical_text(title, body).encode("utf-8")).hexdigest()


def _keys_of(code: int) -> bytes:
    """Three random 64-bit keys of one code point (simple tabulation hashing)."""
    return hashlib.blake2b(
        chr(code).encode("utf-8", "surrogatepass"),
        digest_size=8 * _NGRAM,
        person=b"newsdrop-sh",
    ).digest()


# Grows with the alphabet actually seen (a few thousand ideographs), never with the text.
# A plain dict, not a dict subclass with __missing__: the charmap codec looks up an exact
# dict faster (callgrind: 0.78M against 1.06M instructions for a 1,600-character page).
_KEYS: dict[int, bytes] = {}


def _keys_along(text: str) -> bytes:
    """The keys of every character of `text`, end to end (24 bytes per character)."""
    # The charmap codec looks every code point up in _KEYS and concatenates the values in C:
    # no one-character string is made per character, as iterating over the text would.
    try:
        return codecs.charmap_encode(text, "strict", _KEYS)[0]
    except UnicodeEncodeError:
        # Characters never seen before: key them all at once, then the lookup cannot fail.
        for code in {ord(char) for char in text}.difference(_KEYS):
            _KEYS[code] = _keys_of(code)
        return codecs.charmap_encode(text, "strict", _KEYS)[0]


# Lane counts are folded in powers of two; texts longer than this are summed in chunks.
_MAX_LANES = 1 << 13
_PATTERNS = {1: b"\x55" * 8, 2: b"\x33" * 8, 4: b"\x0f" * 8, 8: b"\xff\x00" * 4}


@cache
def _masks() -> tuple[dict[int, int], dict[int, int]]:
    spread = {w: int.from_bytes(p * _MAX_LANES, "little") for w, p in _PATTERNS.items()}
    low = {1 << k: (1 << (64 << k)) - 1 for k in range(14)}
    return spread, low


def _bit_counts(grams: int, lanes: int) -> list[int]:
    """For each of 64 bit positions, how many of the `lanes` 64-bit lanes of `grams` set it.

    SWAR in Python's big integers: split the bits into ever wider fields and add the upper
    half of the lanes onto the lower half while the fields have room. Once the fields are
    16 bits wide no count can overflow, and `% (2**64 - 1)` adds up all remaining lanes at
    once (2**64 is 1 modulo it). About a hundred whole-number operations, not 64 * lanes.
    """
    spread, low = _masks()
    width = 1
    parts = [grams]
    span = 1 << (lanes - 1).bit_length()
    largest = 1
    while width < 16:
        mask = spread[width]
        parts = [p & mask for p in parts] + [(p >> width) & mask for p in parts]
        width *= 2
        room = (1 << width) - 1
        while width < 16 and span > 1 and largest * 2 <= room:
            span //= 2
            shift = 64 * span
            parts = [(p >> shift) + (p & low[span]) for p in parts]
            largest *= 2
    parts = [part % _MASK64 for part in parts]
    counts = [0] * 64
    for index, part in enumerate(parts):
        for field in range(4):
            counts[field * 16 + index] = (part >> (16 * field)) & 0xFFFF
    return counts


def simhash(title: str, body: str) -> int:
    """64-bit SimHash over character 3-grams of the canonical text, as a signed integer."""
    text = canonical_text(title, body)
    if len(text) < _NGRAM:
        text = text.ljust(_NGRAM, "\0")
    keys = memoryview(_keys_along(text)).cast("Q")
    first, second, third = (keys[i::_NGRAM].tobytes() for i in range(_NGRAM))
    total = len(text) - _NGRAM + 1
    counts = [0] * 64
    for start in range(0, total, _MAX_LANES):
        lanes = min(_MAX_LANES, total - start)
        a, b = 8 * start, 8 * (start + lanes)
        # The 3-gram at i hashes to K0[c_i] ^ K1[c_i+1] ^ K2[c_i+2], all lanes at once.
        grams = (
            int.from_bytes(first[a:b], "little")
            ^ int.from_bytes(second[a + 8 : b + 8], "little")
            ^ int.from_bytes(third[a + 16 : b + 16], "little")
        )
        for bit, count in enumerate(_bit_counts(grams, lanes)):
            counts[bit] += count
    value = 0
    for bit, count in enumerate(counts):
        if 2 * count > total:
            value |= 1 << bit
    return value - (1 << 64) if value & _SIGN else value


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two 64-bit fingerprints (signed or not)."""
    return ((a ^ b) & _MASK64).bit_count()
