"""Synthetic bundles for the benchmark, grown from the seed pages in tests/fixtures/seeds.

Every bundle keeps its seed's page furniture (breadcrumb, title, byline at the top; footer
at the bottom) and gets a body of the seed's own paragraphs, shuffled and partly repeated,
plus a few sentences no other bundle has, so doc_ids, bytes and content hashes are unique.
Sizes are spread uniformly over 3-16 KB, like the seeds themselves (5-16 KB).
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SEEDS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "seeds"
MIN_BYTES = 3 * 1024
MAX_BYTES = 16 * 1024
# Real crawls mix encodings; a few GB18030 pages exercise the decoder's second try.
GB18030_SHARE = 0.05


# A paragraph of the article proper (shuffled and repeated); the seed's other body lines
# (editor lines, link placeholders, related links) keep their order after it, as on the page:
# shuffled to the top they end the article early for the normalizer.
_SENTENCE_END = ("。", "！", "？", "”", "」", "）", ")")


@dataclass(frozen=True)
class Seed:
    """One seed page split into head, article paragraphs, other body lines and footer."""

    head: list[str]
    body: list[str]
    tail: list[str]
    foot: list[str]
    separator: str
    alphabet: str


def load_seeds(folder: Path = SEEDS) -> list[Seed]:
    """Split every seed page into furniture and body paragraphs."""
    seeds = []
    for path in sorted(folder.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        separator = "\n\n" if "\n\n" in text else "\n"
        lines = [line for line in text.split("\n") if line.strip()]
        head, middle, foot = lines[:3], lines[3:-3], lines[-3:]
        body = [p for p in middle if len(p) >= 40 and p.rstrip().endswith(_SENTENCE_END)]
        tail = [p for p in middle if p not in body]
        alphabet = "".join(sorted({c for c in "".join(body) if "\u4e00" <= c <= "\u9fff"}))
        seeds.append(Seed(head, body, tail, foot, separator, alphabet))
    return seeds


def _unique_sentence(rng: random.Random, seed: Seed, serial: int) -> str:
    words = "".join(rng.choice(seed.alphabet) for _ in range(rng.randint(18, 40)))
    return f"{words[:10]}第{serial}号{words[10:]}。"


def make_bundle(seeds: list[Seed], serial: int, salt: str) -> tuple[str, bytes]:
    """The name and bytes of bundle number `serial` (deterministic for a given salt)."""
    rng = random.Random(f"{salt}:{serial}")
    seed = seeds[serial % len(seeds)]
    encoding = "gb18030" if rng.random() < GB18030_SHARE else "utf-8"
    target = rng.randint(MIN_BYTES, MAX_BYTES - 400)
    furniture = len(seed.separator.join(seed.head + seed.tail + seed.foot).encode(encoding))
    body = [seed.body[0]]
    rest = seed.body[1:]
    size = furniture + len(body[0].encode(encoding))
    while size < target:
        paragraph = rng.choice(rest) if rng.random() < 0.85 or len(body) < 2 else body[-1]
        body.append(paragraph)  # the 15% repeats are the duplicate paragraphs pages carry
        size += len(paragraph.encode(encoding)) + len(seed.separator)
    while len(body) > 2 and size > MAX_BYTES - 400:
        size -= len(body.pop(rng.randint(1, len(body) - 1)).encode(encoding))
    for _ in range(rng.randint(1, 3)):
        body.insert(rng.randint(1, len(body)), _unique_sentence(rng, seed, serial))
    text = seed.separator.join(seed.head + body + seed.tail + seed.foot) + "\n"
    doc_id = hashlib.sha256(f"{salt}:doc:{serial}".encode()).hexdigest()[:16]
    return f"{serial:06d}_{doc_id}.txt", text.encode(encoding)


def generate(folder: Path, n: int, salt: str = "bench", start: int = 0) -> list[str]:
    """Write `n` bundles into `folder`; returns their names in order."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds = load_seeds()
    names = []
    for serial in range(start, start + n):
        name, data = make_bundle(seeds, serial, salt)
        (folder / name).write_bytes(data)
        names.append(name)
    return names


def copy_into(source: Path, names: list[str], target: Path) -> None:
    """Copy bundles as new files (new inodes: the daemon refuses hard-linked files)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        (target / name).write_bytes((source / name).read_bytes())


def iter_sizes(folder: Path) -> Iterator[int]:
    """Sizes of the files in `folder`."""
    with os.scandir(folder) as entries:
        for entry in entries:
            yield entry.stat().st_size
