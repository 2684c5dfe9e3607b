"""Canonical text, content hash, SimHash and Hamming distance."""

from __future__ import annotations

import hashlib
import random
import re

import opencc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.identity import (
    _bit_counts,
    canonical_text,
    content_hash,
    hamming,
    script_tables,
    simhash,
)

pytestmark = pytest.mark.unit

STORY = (
    "11月8日,“非武不栖 进无止境”2024常州·武进人才周正式拉开帷幕。连续举办四年的武进人才周,"
    "已成为当地集聚人才的平台。以先进制造业基地著称的常州,站在新产业风口上,正在积极探索如何"
    "同步推进产业发展和人才培养,以实现“新产业”与“新人才”的双向奔赴。"
)
TITLE = "江苏常州打造人才强磁场 助推“新产业”与“新人才”双向奔赴"


@pytest.mark.parametrize(
    ("title", "body", "expected"),
    [
        ("標題", "看著我們。", "标题看着我们"),
        ("Ａ１", "ＡＢＣ　１２３，", "a1abc123"),
        ("", "  空格\n\n换行\t制表 ", "空格换行制表"),
        ("乾燥", "後來", "干燥后来"),
        ("", "“引号”《书名》——破折号……", "引号书名破折号"),
    ],
)
def test_canonical_text(title: str, body: str, expected: str) -> None:
    assert canonical_text(title, body) == expected


def test_canonical_text_is_cached_but_pure() -> None:
    assert canonical_text(TITLE, STORY) is canonical_text(TITLE, STORY)
    canonical_text.cache_clear()
    assert canonical_text(TITLE, STORY) == canonical_text(TITLE, STORY + "\n\n")


def test_content_hash_is_sha256_hex_of_the_canonical_text() -> None:
    digest = content_hash(TITLE, STORY)
    assert re.fullmatch("[0-9a-f]{64}", digest)
    assert content_hash(TITLE, STORY) == digest
    assert content_hash(TITLE, STORY + "另一句。") != digest


def test_content_hash_equal_across_scripts_and_punctuation() -> None:
    traditional = opencc.OpenCC("s2t").convert(STORY)
    assert traditional != STORY
    assert content_hash(TITLE, traditional) == content_hash(TITLE, STORY)
    folded = STORY.replace("，", ",").replace("。", ".").replace("“", '"')
    assert content_hash(TITLE, folded) == content_hash(TITLE, STORY)


def test_round_trip_variants_are_folded() -> None:
    """A sample of the sweep that found the fold groups: every pair stays put after folding."""
    s2t, t2s = opencc.OpenCC("s2t"), opencc.OpenCC("t2s")
    level1 = [
        bytes((lead, trail)).decode("gb2312")
        for lead in range(0xB0, 0xD8)
        for trail in range(0xA1, 0xFF)
        if not (lead == 0xD7 and trail > 0xF9)
    ]
    rng = random.Random(20240305)
    for first in rng.sample(level1, 60):
        text = "\n".join(first + second for second in level1)
        round_trip = t2s.convert(s2t.convert(text))
        assert canonical_text("", round_trip) == canonical_text("", text)


def test_script_tables() -> None:
    traditional, simplified = script_tables()
    assert traditional.search("這")
    assert not traditional.search("这")
    assert simplified.search("这")
    assert not simplified.search("這")
    assert not traditional.search("中国人")


@pytest.mark.parametrize("lanes", [1, 2, 3, 7, 64, 1000, 8191, 8192])
def test_bit_counts_match_a_plain_count(lanes: int) -> None:
    grams = random.Random(lanes).getrandbits(64 * lanes)
    raw = grams.to_bytes(8 * lanes, "little")
    words = [int.from_bytes(raw[i : i + 8], "little") for i in range(0, len(raw), 8)]
    expected = [sum((word >> bit) & 1 for word in words) for bit in range(64)]
    assert _bit_counts(grams, lanes) == expected


def test_bit_counts_of_all_ones() -> None:
    lanes = 5000
    assert _bit_counts((1 << (64 * lanes)) - 1, lanes) == [lanes] * 64


def test_simhash_is_a_signed_64_bit_integer_and_stable() -> None:
    value = simhash(TITLE, STORY)
    assert -(1 << 63) <= value < (1 << 63)
    assert simhash(TITLE, STORY) == value
    # Pinned: the keys come from a fixed BLAKE2b personalisation, the same on every machine.
    assert simhash("", "中文") == simhash("", "中文")


def _reference_simhash(text: str) -> int:
    """The definition, one 3-gram at a time: three blake2b keys per character, XORed along the
    gram, and each bit set where most grams set it."""
    text = text.ljust(3, "\0")
    keys = [
        hashlib.blake2b(
            c.encode("utf-8", "surrogatepass"), digest_size=24, person=b"newsdrop-sh"
        ).digest()
        for c in text
    ]
    grams = [
        int.from_bytes(keys[i][:8], "little")
        ^ int.from_bytes(keys[i + 1][8:16], "little")
        ^ int.from_bytes(keys[i + 2][16:], "little")
        for i in range(len(text) - 2)
    ]
    value = sum(1 << b for b in range(64) if 2 * sum((g >> b) & 1 for g in grams) > len(grams))
    return value - (1 << 64) if value >> 63 else value


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(
            alphabet=st.sampled_from("的是了人我在有他这中大来上国个到说们为子和你地abZ1 "),
            max_size=400,
        ),
        # Any code point may be new to the key table: keyed on sight, never a failed lookup.
        st.text(max_size=60),
    )
)
def test_simhash_is_its_definition(body: str) -> None:
    assert simhash("", body) == _reference_simhash(canonical_text("", body))


def test_simhash_values_stay_what_the_stored_articles_hold() -> None:
    # Fingerprints in existing databases were made by these definitions: a change of the
    # computation must not change a single bit (near-duplicate links would silently break).
    assert simhash(TITLE, STORY) == 2009045112366084201
    assert simhash("", "") == -8685736353117947417
    assert simhash("", "ab") == 1247292088442256919
    assert simhash("Reuters", "A B c") == 366005541924293786
    assert simhash("", STORY * 400) == 2009045112368181337  # 40,000 grams: several chunks


def test_simhash_of_tiny_and_empty_texts() -> None:
    for title, body in [("", ""), ("", "a"), ("甲", ""), ("", "\U00020000\U00020001")]:
        assert -(1 << 63) <= simhash(title, body) < (1 << 63)


def test_simhash_long_text_uses_chunks() -> None:
    body = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(20000))
    assert -(1 << 63) <= simhash("", body) < (1 << 63)


def test_simhash_is_near_for_near_duplicates_and_far_otherwise() -> None:
    edited = STORY.replace("四年", "五年").replace("平台", "舞台") + "(完)"
    other = (
        "黨的二十大報告指出,必須堅持科技是第一生產力、人才是第一資源、創新是第一動力,深入實施"
        "科教興國戰略、人才強國戰略、創新驅動發展戰略。青島正敞開聚天下英才而用之的寬闊胸懷。"
    )
    near = hamming(simhash(TITLE, STORY), simhash(TITLE, edited))
    far = hamming(simhash(TITLE, STORY), simhash("青島廣發求賢帖", other))
    assert near <= 12
    assert far >= 18
    assert hamming(simhash(TITLE, STORY), simhash(TITLE, opencc.OpenCC("s2t").convert(STORY))) == 0


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(0, 0, 0), (0, 1, 1), (-1, 0, 64), (-1, (1 << 63) - 1, 1), (5, 6, 2), (-(1 << 63), 0, 1)],
)
def test_hamming(a: int, b: int, expected: int) -> None:
    assert hamming(a, b) == expected
