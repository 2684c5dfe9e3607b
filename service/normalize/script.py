"""Which script a page is written in: Simplified (zh-Hans) or Traditional (zh-Hant)."""

from __future__ import annotations

from service.identity import script_tables

# Judging a prefix is enough: a page does not switch script halfway.
_SAMPLE = 600


def detect_script(text: str) -> str:
    """`zh-Hant` when Traditional-only characters outnumber Simplified-only ones, else `zh-Hans`."""
    traditional, simplified = script_tables()
    sample = text[:_SAMPLE]
    trad = len(traditional.findall(sample))
    simp = len(simplified.findall(sample))
    return "zh-Hant" if trad > simp else "zh-Hans"
