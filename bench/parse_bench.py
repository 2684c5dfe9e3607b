"""parse_bundle throughput on one core, against a baseline measured in the same run.

Variants of the seed bundles are generated in memory (their middle paragraphs shuffled,
fresh doc_ids), then each is parsed once. The baseline does the unavoidable minimum on
the same bytes: decode, one regex pass and one OpenCC t2s pass.

    /work/venv/bin/python bench/parse_bench.py [--bundles 3000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import opencc  # noqa: E402

from service.parse import parse_bundle  # noqa: E402

SEEDS = REPO / "tests" / "fixtures" / "seeds"
_WHITESPACE = re.compile(r"[ \t\u00a0\u3000]+")


def variants(count: int, seed: int = 7) -> list[tuple[str, bytes]]:
    """`count` bundles made from the seeds: middle lines shuffled, new doc_ids."""
    rng = random.Random(seed)
    pages = [path.read_text("utf-8").split("\n") for path in sorted(SEEDS.glob("*.txt"))]
    bundles = []
    for seq in range(count):
        lines = list(rng.choice(pages))
        head, tail = 6, max(6, len(lines) // 4)
        middle = lines[head:-tail]
        rng.shuffle(middle)
        text = "\n".join(lines[:head] + middle + lines[-tail:])
        doc_id = f"{rng.getrandbits(64):016x}"
        bundles.append((f"{seq:03d}_{doc_id}.txt", text.encode("utf-8")))
    return bundles


def baseline_pass(converter: object) -> Callable[[str, bytes], object]:
    """Decode, one regex pass and one OpenCC t2s conversion: the floor for any parser."""
    convert = converter.convert  # type: ignore[attr-defined]

    def run(name: str, data: bytes) -> object:
        text = data.decode("utf-8")
        return convert(_WHITESPACE.sub(" ", text))

    return run


def measure(
    label: str, bundles: list[tuple[str, bytes]], work: Callable[[str, bytes], object]
) -> float:
    """Bundles per second of `work` over `bundles`, in CPU time of this one-threaded process.

    CPU time, not wall time: other processes on a shared machine do not count against us.
    """
    started = time.process_time()
    for name, data in bundles:
        work(name, data)
    elapsed = time.process_time() - started
    rate = len(bundles) / elapsed
    print(f"{label:<12} {len(bundles):>6} bundles in {elapsed:6.2f} s  {rate:8.0f} bundles/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=int, default=3000)
    parser.add_argument("--profile", action="store_true", help="print the top functions")
    args = parser.parse_args()
    bundles = variants(args.bundles)
    size = sum(len(data) for _, data in bundles) / len(bundles)
    print(f"{len(bundles)} bundles, {size / 1024:.1f} KiB on average")
    baseline = baseline_pass(opencc.OpenCC("t2s"))
    for name, data in bundles[:20]:  # warm-up: OpenCC dictionaries, lazy tables, regex caches
        parse_bundle(name, data)
        baseline(name, data)

    # The generated corpus and the warmed-up caches are long-lived: keep the collector from
    # re-scanning them on every full collection, as a long-running daemon would.
    gc.collect()
    gc.freeze()
    base_rate = measure("baseline", bundles, baseline)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
    parse_rate = measure("parse_bundle", bundles, parse_bundle)
    if args.profile:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    print(f"ratio        parse_bundle / baseline = {parse_rate / base_rate:.2f}")
    print(f"target       >= 1000 bundles/s: {'met' if parse_rate >= 1000 else 'NOT met'}")


if __name__ == "__main__":
    main()
