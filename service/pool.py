"""The parser processes: bundles parsed on every core, submitted now and collected later.

Kept apart from the pipeline so that a spawned worker imports the pure core and nothing else:
measured RSS of a worker, 56 MB when it imported the pipeline (SQLAlchemy, structlog, the
store) against 29 MB with the parser alone.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from service.article import ParsedBundle
from service.decode import text_of
from service.errors import BundleRejected, Transient
from service.parse import parse_bundle

ParseResult = ParsedBundle | tuple[str, str]
"""A parsed bundle, or the (reason code, message) of its rejection."""

# Below this many bundles the pipe to a worker costs more than parsing in-process; a single
# renamed-in file (the latency path) never waits for a pool round trip.
_POOL_MIN_BATCH = 8


class WorkersLost(Transient):
    """A parser process died (killed, out of memory): rebuild the pool, retry the batch."""


def parse_job(job: tuple[str, bytes]) -> ParseResult:
    """Parse one bundle; a rejection comes back as (reason code, message).

    The bundle comes back without its decoded text: the caller holds the bytes and gets the
    text back with `made_whole` (a bundle's pickle is half as large, and so is the time to
    send it; measured 47 + 40 us with the text, 25 + 22 us without, 19 us to decode again).
    """
    name, data = job
    try:
        return parse_bundle(name, data).with_text("")
    except BundleRejected as exc:
        return (exc.reason.value, exc.message)


def made_whole(bundle: ParsedBundle, data: bytes) -> ParsedBundle:
    """A bundle from `parse_job` with its text again, from the bytes it was parsed from."""
    return bundle.with_text(text_of(data, bundle.encoding))


def parse_chunk(jobs: list[tuple[str, bytes]]) -> list[ParseResult]:
    """Parse a chunk of bundles in one worker task (one pickle round trip per chunk)."""
    return [parse_job(job) for job in jobs]


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole foreground process group; only the main process decides when to
    # stop, after it has filed the batch in hand. SIGTERM keeps its default: a broken pool ends
    # its surviving workers with it, and one that ignored it lived on with the pool's manager
    # thread blocked on its pipe, which then held up the daemon's exit. (systemd sends SIGTERM
    # to the main process alone: KillMode=mixed in deploy/.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Parsing:
    """Bundles being parsed; `results()` waits for them and keeps their order."""

    def __init__(
        self,
        parser: Parser,
        futures: list[Future[list[ParseResult]]] | None = None,
        done: list[ParseResult] | None = None,
        pool: ProcessPoolExecutor | None = None,
    ) -> None:
        self._parser = parser
        self._futures = futures or []
        self._done = done
        self._pool = pool

    def results(self) -> list[ParseResult]:
        """Every result, in job order, bundles without their text (see `parse_job`).

        Raises `WorkersLost` if a worker died.
        """
        if self._done is None:
            try:
                self._done = [r for future in self._futures for r in future.result()]
            except BrokenProcessPool as exc:
                self._parser.restart(self._pool)
                raise WorkersLost("a parser process died") from exc
        return self._done


class Gathered:
    """Results picked from several `Parsing`s (parsed ahead or now), in the caller's order."""

    def __init__(self, picks: list[tuple[Parsing, int]]) -> None:
        self._picks = picks

    def results(self) -> list[ParseResult]:
        """Every picked result, in order; raises `WorkersLost` if a worker died."""
        return [parsing.results()[index] for parsing, index in self._picks]


class Parser:
    """Parses bundles in a process pool (both cores) or in-process for tiny batches."""

    def __init__(self, workers: int) -> None:
        self.workers = workers if workers > 0 else (os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None
        # The loop submits and the writer thread may re-parse: one pool, replaced once.
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the worker processes now, so the first batch does not pay for it."""
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self.workers > 1 and self._pool is None:
            # spawn, not fork: the daemon has threads (watchdog, HTTP) by the time pools restart.
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_ignore_interrupts,
            )
            list(
                self._pool.map(parse_job, [("000_0000000000000000.txt", b"warm up")] * self.workers)
            )

    @property
    def pooled(self) -> bool:
        """True when bundles parse in worker processes, off the caller's thread."""
        return self._pool is not None

    def restart(self, broken: ProcessPoolExecutor | None) -> None:
        """Replace a broken pool with fresh workers (once, whoever saw it break first)."""
        with self._lock:
            if self._pool is not broken or broken is None:
                return
            broken.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            self._start()

    def submit(self, jobs: list[tuple[str, bytes]]) -> Parsing:
        """Start parsing `jobs`; the caller collects them with `results()` when it needs them."""
        pool = self._pool
        if pool is None or len(jobs) < _POOL_MIN_BATCH:
            return Parsing(self, done=[parse_job(job) for job in jobs])
        # Four chunks per worker: the pool balances them, one pickle round trip per chunk.
        size = max(1, len(jobs) // (self.workers * 4))
        try:
            futures = [
                pool.submit(parse_chunk, jobs[i : i + size]) for i in range(0, len(jobs), size)
            ]
        except BrokenProcessPool as exc:
            self.restart(pool)
            raise WorkersLost("a parser process died") from exc
        return Parsing(self, futures, pool=pool)

    def parse(self, jobs: list[tuple[str, bytes]]) -> list[ParseResult]:
        """Parse every job and wait, keeping order; bundles come with their text."""
        results = self.submit(jobs).results()
        return [
            made_whole(result, data) if isinstance(result, ParsedBundle) else result
            for result, (_, data) in zip(results, jobs, strict=True)
        ]

    def stop(self) -> None:
        """Stop the worker processes."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
