"""The parser pool with real worker processes: submit now, collect later, survive a dead worker."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from service.article import ParsedBundle
from service.pool import Parser, WorkersLost
from tests.conftest import SEEDS

pytestmark = pytest.mark.integration


@pytest.fixture
def parser() -> Iterator[Parser]:
    p = Parser(2)
    p.start()
    yield p
    p.stop()


def _jobs(count: int) -> list[tuple[str, bytes]]:
    seeds = sorted(SEEDS.glob("*.txt"))
    return [(seeds[n % len(seeds)].name, seeds[n % len(seeds)].read_bytes()) for n in range(count)]


def test_results_come_back_in_job_order(parser: Parser) -> None:
    jobs = [*_jobs(20), ("001_0123456789abcdef.txt", b"\x00\x01binary")]
    parsing = parser.submit(jobs)  # returns at once; the workers parse meanwhile
    results = parsing.results()
    assert [r.name for r in results if isinstance(r, ParsedBundle)] == [n for n, _ in jobs[:-1]]
    assert results[-1] == ("binary", results[-1][1])


def test_a_dead_worker_is_reported_once_and_replaced(parser: Parser) -> None:
    pool = parser._pool
    assert pool is not None
    workers = list(pool._processes.values())
    # Chunks of ~0.5 MB: the pipe to the workers is full when one dies, the case where a
    # surviving worker that ignored SIGTERM kept the broken pool's manager thread blocked.
    parsing = parser.submit(_jobs(400))
    os.kill(workers[0].pid, signal.SIGKILL)
    with pytest.raises(WorkersLost):
        parsing.results()
    assert parser._pool is not None
    assert parser._pool is not pool
    parser.restart(pool)  # a second report of the same broken pool changes nothing
    replacement = parser._pool
    assert len(parser.parse(_jobs(16))) == 16
    assert parser._pool is replacement
    deadline = time.monotonic() + 10
    while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(w.is_alive() for w in workers), "the broken pool's workers outlived it"
    pool.shutdown(wait=True)  # returns at once: its manager thread has ended
