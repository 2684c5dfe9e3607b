"""Which script a page is written in: Simplified (zh-Hans) or Traditional (zh-Hant)."""

from __future__ import annotations

import re
from functools import cache

from service.identity import to_simplified

# Judging a prefix is enough: a page does not switch script halfway.
_SAMPLE = 1500


@cache
def _tables() -> tuple[re.Pattern[str], re.Pattern[str]]:
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
    simplified -= traditional
    # t2s maps a few characters outside the BMP; a class with any of those loses the
    # engine's bitmap lookup and becomes sixty times slower.
    simplified = {c for c in simplified if c <= "\uffff"}
    return (
        re.compile("[" + "".join(sorted(traditional)) + "]"),
        re.compile("[" + "".join(sorted(simplified)) + "]"),
    )


def detect_script(text: str) -> str:
    """`zh-Hant` when Traditional-only characters outnumber Simplified-only ones, else `zh-Hans`."""
    traditional, simplified = _tables()
    sample = text[:_SAMPLE]
    trad = len(traditional.findall(sample))
    simp = len(simplified.findall(sample))
    return "zh-Hant" if trad > simp else "zh-Hans"
