"""Near-duplicate threshold: precision and recall of SimHash Hamming distances per threshold.

The test set grows from the five seed pages in tests/fixtures/seeds. Each seed is a family
of reprints: the page itself, its other script (OpenCC s2t or t2s), the same article in
another site's page furniture, one sentence rewritten, two sentences rewritten, one
paragraph dropped, and a "reprint" combining script, furniture and a rewritten sentence.
Every pair inside a family is a near duplicate; every pair across families is not. The
unrelated articles are sentence salads drawn from all seeds (same topic and vocabulary,
the hard case) and seeds with the characters of each paragraph shuffled (same character
counts, nothing else in common).

Fingerprints come from the product (`parse_bundle`: the normalizer, then
`service.identity.simhash`); a reference SimHash over character n-grams of the canonical
text is measured in the same run as a baseline.

    python bench/near_dupes.py            # table per threshold, chosen k, per-variant distances
    python bench/near_dupes.py --json     # the same as JSON
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import math
import random
import re
import sys
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "tests" / "fixtures" / "seeds"
GOLDEN = ROOT / "tests" / "fixtures" / "golden_seeds.json"
MAX_K = 24
# A threshold must also hold at scale: the expected chance matches of one article against a
# corpus of this many unrelated (random) 64-bit fingerprints is shown per k and capped.
CORPUS_SIZE = 1_000_000
MAX_CHANCE_MATCHES = 0.1

# Another site's wrapper around a reprinted article: breadcrumb, app prompt, share and
# related-article prompts, editor line, copyright and ICP footers.
OTHER_HEAD = ["当前位置：首页 > 新闻中心 > 国内新闻", "打开APP，阅读体验更佳"]
OTHER_FOOT = [
    "(完)",
    "责任编辑：王晓明",
    "分享到：微信 微博 QQ空间",
    "相关新闻",
    "- 多地出台新政吸引高校毕业生",
    "- 人才公寓申请指南发布",
    "上一篇：春季招聘会本周末举行",
    "下一篇：科技成果转化大会开幕",
    "版权所有 © 2024 东方资讯网 All Rights Reserved",
    "京ICP备12345678号-1  京公网安备 11010502000001号",
]
# What an editor puts in place of a sentence; Simplified here, converted to the page's script.
REWRITES = [
    "记者从有关部门获悉，相关工作目前正在按计划有序推进。",
    "业内人士认为，这一做法为其他地区提供了可资借鉴的经验。",
]
_SENTENCE_END = re.compile(r"(?<=[。！？!?])")


@dataclass(frozen=True)
class Doc:
    """One page of the test set: its family (same family = near duplicates) and variant."""

    family: str
    variant: str
    name: str
    text: str
    title: str  # what a perfect normalizer extracts from `text`
    body: str


def _converter(config: str) -> Callable[[str], str]:
    import opencc

    return opencc.OpenCC(config).convert  # type: ignore[no-any-return]


def _split_page(text: str, golden: dict[str, Any]) -> tuple[str, str, str]:
    """head furniture (with title and byline), article body, foot furniture."""
    # The golden strings are normalized text: their first and last few characters are raw
    # too, give or take converter notes such as 現(xiàn).
    starts = golden.get("body_starts_with_any") or [golden["body_starts_with"]]
    start = min(m.start() for m in (_raw_pattern(s[:6]).search(text) for s in starts) if m)
    ends = list(_raw_pattern(golden["body_ends_with"][-6:]).finditer(text))
    end = ends[-1].end()
    start = text.rfind("\n", 0, start) + 1
    return text[:start], text[start:end], text[end:]


def _raw_pattern(normalized: str) -> re.Pattern[str]:
    return re.compile(
        "".join(re.escape(c) + r"(?:\([a-z\u00c0-\u01dc]{1,8}\))?" for c in normalized)
    )


def _paragraphs(body: str) -> list[str]:
    return [p for p in body.split("\n") if p.strip()]


def _rewrite_sentences(
    body: str, count: int, rng: random.Random, convert: Callable[[str], str]
) -> str:
    paragraphs = _paragraphs(body)
    sentences = [
        (pi, si, s)
        for pi, p in enumerate(paragraphs)
        for si, s in enumerate(_SENTENCE_END.split(p))
        if len(s.strip()) >= 15
    ]
    chosen = rng.sample(sentences, min(count, len(sentences)))
    split = [_SENTENCE_END.split(p) for p in paragraphs]
    for n, (pi, si, _) in enumerate(chosen):
        split[pi][si] = convert(REWRITES[n % len(REWRITES)])
    return "\n\n".join("".join(parts) for parts in split)


def _drop_paragraph(body: str, rng: random.Random) -> str:
    paragraphs = _paragraphs(body)
    del paragraphs[rng.randrange(1, len(paragraphs))]
    return "\n\n".join(paragraphs)


def _other_site(title: str, body: str, head: Sequence[str], foot: Sequence[str]) -> str:
    """The article as another site prints it: its own furniture, no byline."""
    return "\n\n".join([*head, title, body, *foot]) + "\n"


def _doc_name(serial: int, label: str) -> str:
    return f"{serial:03d}_{hashlib.sha256(label.encode()).hexdigest()[:16]}.txt"


def build_test_set(seed: int = 7) -> list[Doc]:
    """The families of reprints and the unrelated articles, deterministic for a seed."""
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    to_trad, to_simp = _converter("s2t"), _converter("t2s")
    rng = random.Random(seed)
    docs: list[Doc] = []
    sentences_of: list[list[str]] = []
    bodies: list[str] = []
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        gold = golden[path.name]
        family = path.stem
        traditional = gold["script"] == "zh-Hant"
        same_script = to_trad if traditional else (lambda s: s)
        flip = to_simp if traditional else to_trad
        head, body, foot = _split_page(text, gold)
        bodies.append(body)
        sentences_of.append(
            [s for p in _paragraphs(body) for s in _SENTENCE_END.split(p) if len(s.strip()) >= 10]
        )
        furniture = tuple(same_script(line) for line in OTHER_HEAD)
        footer = tuple(same_script(line) for line in OTHER_FOOT)

        title = gold["title"]
        sentence = _rewrite_sentences(body, 1, rng, same_script)
        two = _rewrite_sentences(body, 2, rng, same_script)
        dropped = _drop_paragraph(body, rng)
        variants = {
            "original": (text, title, body),
            "script": (flip(text), flip(title), flip(body)),
            "furniture": (_other_site(title, body, furniture, footer), title, body),
            "sentence": (head + sentence + foot, title, sentence),
            "two_sentences": (head + two + foot, title, two),
            "paragraph_dropped": (head + dropped + foot, title, dropped),
            "reprint": (
                flip(_other_site(title, sentence, furniture, footer)),
                flip(title),
                flip(sentence),
            ),
        }
        for variant, (page_text, true_title, true_body) in variants.items():
            docs.append(Doc(family, variant, "", page_text, true_title, true_body))
    for n in range(5):
        # Same topic, same vocabulary, a few sentences of every seed: the hard negatives.
        # Three sentences of each seed at most: no seed makes up more than a sixth of it.
        picked = [s for pool in sentences_of for s in rng.sample(pool, min(3, len(pool)))]
        rng.shuffle(picked)
        salad = "\n\n".join("".join(picked[i : i + 3]) for i in range(0, len(picked), 3))
        title = f"人才工作综述之{n + 1}"
        docs.append(Doc(f"salad-{n}", "unrelated", "", f"{title}\n\n{salad}\n", title, salad))
    for n, body in enumerate(bodies):
        shuffled = []
        for paragraph in _paragraphs(body):
            chars = list(paragraph)
            rng.shuffle(chars)
            shuffled.append("".join(chars))
        title, text = f"综合报道第{n + 1}期", "\n\n".join(shuffled)
        docs.append(Doc(f"shuffled-{n}", "unrelated", "", f"{title}\n\n{text}\n", title, text))
    return [
        dataclasses.replace(d, name=_doc_name(i, f"{d.family}:{d.variant}"))
        for i, d in enumerate(docs)
    ]


# -- fingerprints ------------------------------------------------------------------------------


def product_fingerprints(docs: Sequence[Doc]) -> tuple[dict[str, int], dict[str, str]]:
    """SimHash of every page through the product's parse; rejected pages with their reason."""
    from service.errors import BundleRejected
    from service.parse import parse_bundle

    prints: dict[str, int] = {}
    rejected: dict[str, str] = {}
    for doc in docs:
        try:
            prints[doc.name] = parse_bundle(doc.name, doc.text.encode("utf-8")).article.simhash
        except BundleRejected as exc:
            rejected[doc.name] = exc.reason.value
    return prints, rejected


def ideal_fingerprints(docs: Sequence[Doc], simhash: Callable[[str, str], int]) -> dict[str, int]:
    """A fingerprint function applied to the true title and body: the normalizer left out."""
    return {doc.name: simhash(doc.title, doc.body) for doc in docs}


def reference_simhash(text: str, n: int = 3) -> int:
    """Baseline: 64-bit SimHash over distinct character n-grams of the canonical text."""
    canonical = _canonical(text)
    weights = [0] * 64
    grams = {canonical[i : i + n] for i in range(max(1, len(canonical) - n + 1))}
    for gram in grams:
        value = int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=8).digest(), "big")
        for bit in range(64):
            weights[bit] += 1 if value >> bit & 1 else -1
    return sum(1 << bit for bit in range(64) if weights[bit] > 0)


_T2S: Callable[[str], str] | None = None


def _canonical(text: str) -> str:
    global _T2S  # noqa: PLW0603  # one OpenCC instance per process: building it costs ~10 ms
    if _T2S is None:
        _T2S = _converter("t2s")
    folded = _T2S(unicodedata.normalize("NFKC", text))
    return "".join(c for c in folded if unicodedata.category(c)[0] in "LN")


def reference_fingerprints(docs: Sequence[Doc], n: int = 3) -> dict[str, int]:
    """The baseline over the product's normalized title and body."""
    from service.errors import BundleRejected
    from service.parse import parse_bundle

    prints: dict[str, int] = {}
    for doc in docs:
        try:
            article = parse_bundle(doc.name, doc.text.encode("utf-8")).article
        except BundleRejected:
            continue
        prints[doc.name] = reference_simhash(article.title + "\n" + article.body, n)
    return prints


# -- measurement --------------------------------------------------------------------------------


def hamming(a: int, b: int) -> int:
    """Bits that differ between two 64-bit fingerprints."""
    return ((a ^ b) & 0xFFFF_FFFF_FFFF_FFFF).bit_count()


@dataclass(frozen=True)
class Pair:
    """Two pages, whether they are near duplicates, and their fingerprints' distance."""

    a: Doc
    b: Doc
    duplicate: bool
    distance: int


def pairs(docs: Sequence[Doc], prints: dict[str, int]) -> list[Pair]:
    """Every pair of fingerprinted pages with its truth and distance."""
    kept = [d for d in docs if d.name in prints]
    return [
        Pair(a, b, a.family == b.family, hamming(prints[a.name], prints[b.name]))
        for a, b in itertools.combinations(kept, 2)
    ]


def scores(measured: Sequence[Pair], max_k: int = MAX_K) -> list[dict[str, Any]]:
    """Precision, recall and F1 of "distance <= k means near duplicate" for every k."""
    table = []
    for k in range(max_k + 1):
        tp = sum(1 for p in measured if p.duplicate and p.distance <= k)
        fp = sum(1 for p in measured if not p.duplicate and p.distance <= k)
        fn = sum(1 for p in measured if p.duplicate and p.distance > k)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        table.append(
            {
                "k": k,
                "tp": tp,
                "fp": fp,
                "fn": fn,
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "chance_matches": chance_matches(k),
                "probes_per_band": probes_per_band(k),
            }
        )
    return table


def probes_per_band(k: int) -> int:
    """Band values the store looks up per 16-bit band to guarantee every match within k."""
    return sum(math.comb(16, r) for r in range(k // 4 + 1))


def chance_matches(k: int, corpus: int = CORPUS_SIZE) -> float:
    """Expected random fingerprints within distance k of one article in `corpus` articles."""
    return corpus * sum(math.comb(64, i) for i in range(k + 1)) / 2**64


def choose(table: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The smallest k with the best F1 among the k that stay precise at corpus scale."""
    allowed = [row for row in table if row["chance_matches"] <= MAX_CHANCE_MATCHES]
    best = max(row["f1"] for row in allowed)
    return next(row for row in allowed if row["f1"] == best)


def by_variant(measured: Sequence[Pair]) -> dict[str, dict[str, int]]:
    """Distance of each variant to its family's original, and the closest unrelated pair."""
    out: dict[str, dict[str, int]] = {}
    for p in measured:
        if p.duplicate and p.a.variant == "original":
            out.setdefault(p.b.variant, {})[p.a.family] = p.distance
    negatives = [p.distance for p in measured if not p.duplicate]
    out["closest_unrelated"] = {"min": min(negatives)} if negatives else {}
    return out


def measure(docs: Sequence[Doc], prints: dict[str, int]) -> dict[str, Any]:
    """Everything the report prints for one fingerprint."""
    measured = pairs(docs, prints)
    table = scores(measured)
    return {
        "pairs": {
            "near_duplicate": sum(p.duplicate for p in measured),
            "unrelated": sum(not p.duplicate for p in measured),
        },
        "table": table,
        "chosen": choose(table),
        "variants": by_variant(measured),
    }


def _print_report(name: str, result: dict[str, Any]) -> None:
    print(
        f"\n== {name}: {result['pairs']['near_duplicate']} near-duplicate pairs, "
        f"{result['pairs']['unrelated']} unrelated pairs"
    )
    print(
        "   k    TP    FP    FN  precision  recall     F1  probes/band"
        f"  chance matches in {CORPUS_SIZE:,}"
    )
    for row in result["table"]:
        print(
            f"  {row['k']:2d} {row['tp']:5d} {row['fp']:5d} {row['fn']:5d}"
            f"     {row['precision']:.3f}   {row['recall']:.3f}  {row['f1']:.3f}"
            f"  {row['probes_per_band']:>11}  {row['chance_matches']:.2g}"
        )
    chosen = result["chosen"]
    print(
        f"  chosen k = {chosen['k']} (smallest k with the best F1 and at most "
        f"{MAX_CHANCE_MATCHES} chance matches): precision "
        f"{chosen['precision']:.3f}, recall {chosen['recall']:.3f}"
    )
    from service.store import NEAR_DUPLICATE_DISTANCE

    in_force = result["table"][NEAR_DUPLICATE_DISTANCE]
    print(
        f"  in force: NEAR_DUPLICATE_DISTANCE = {NEAR_DUPLICATE_DISTANCE}: precision "
        f"{in_force['precision']:.3f}, recall {in_force['recall']:.3f}, "
        f"{in_force['probes_per_band']} probes per band"
    )
    print("  distance to the original, per variant and seed:")
    for variant, distances in result["variants"].items():
        print(f"    {variant:<18} {distances}")


def main(argv: Sequence[str] | None = None) -> int:
    """Build the test set, fingerprint it, print the table per threshold."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the variants")
    parser.add_argument("--ngram", type=int, default=3, help="n of the reference baseline")
    args = parser.parse_args(argv)
    docs = build_test_set(args.seed)
    prints, rejected = product_fingerprints(docs)
    from service.identity import simhash as identity_simhash
    from service.normalize import NORMALIZER_VERSION

    results = {
        "normalizer_version": NORMALIZER_VERSION,
        "documents": len(docs),
        "rejected": {
            d.name: f"{d.family}/{d.variant}: {rejected[d.name]}"
            for d in docs
            if d.name in rejected
        },
        "product": measure(docs, prints),
        "identity_on_ideal_extraction": measure(docs, ideal_fingerprints(docs, identity_simhash)),
        f"reference_{args.ngram}gram": measure(docs, reference_fingerprints(docs, args.ngram)),
        f"reference_{args.ngram}gram_on_ideal_extraction": measure(
            docs, ideal_fingerprints(docs, lambda t, b: reference_simhash(f"{t}\n{b}", args.ngram))
        ),
    }
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return 0
    rejected_text = results["rejected"] or "none"
    print(f"{len(docs)} pages, normalizer {NORMALIZER_VERSION}; rejected: {rejected_text}")
    _print_report("product (parse_bundle -> service.identity.simhash)", results["product"])
    _print_report(
        "service.identity.simhash on the true title and body (normalizer left out)",
        results["identity_on_ideal_extraction"],
    )
    _print_report(
        f"baseline: reference SimHash, {args.ngram}-grams, on the product's extraction",
        results[f"reference_{args.ngram}gram"],
    )
    _print_report(
        f"baseline: reference SimHash, {args.ngram}-grams, on the true title and body",
        results[f"reference_{args.ngram}gram_on_ideal_extraction"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
