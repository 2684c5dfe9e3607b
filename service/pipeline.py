"""One batch of claimed bundles: read, parse, one transaction, then file moves after COMMIT."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, KeysView, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from sqlalchemy import exc as sa_exc
from structlog.typing import FilteringBoundLogger

from service.article import ParsedBundle
from service.errors import BundleRejected, ReasonCode
from service.failpoints import exit_at
from service.inbox import Claimed, Inbox, display_name
from service.metrics import Metrics
from service.naming import parse_name
from service.pool import Gathered, Parser, Parsing, WorkersLost, made_whole, parse_job
from service.store import Accepted, Arrival, Item, Recorded, Rejected, SameBytes

__all__ = [
    "Committed",
    "FileResult",
    "Parser",
    "Pipeline",
    "Started",
    "StorePort",
    "WorkersLost",
    "parse_job",
]

log = structlog.get_logger("newsdrop")


class StorePort(Protocol):
    """What the pipeline needs of the database."""

    def same_bytes_as_current(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """(doc_id, sha256) pairs already current."""
        ...

    def record(
        self, items: Sequence[Item], before_commit: Callable[[], None] | None = None
    ) -> list[Recorded]:
        """Apply a batch in one transaction."""
        ...


@dataclass
class Started:
    """A batch on its way: files read and hashed, the unknown ones parsing in the pool."""

    claims: Sequence[Claimed]
    items: list[Item]
    jobs: dict[str, tuple[Claimed, bytes]]
    to_parse: list[SameBytes]
    parsing: Parsing | Gathered
    started: float


@dataclass(frozen=True, slots=True)
class _Ahead:
    """An inbox file read before its claim: its hash and, unless current, its parse."""

    raw_sha256: str
    parsing: Parsing | None
    index: int
    size: int = 0  # bytes sent to parse: what its parse holds in memory until the claim


@dataclass(frozen=True, slots=True)
class FileResult:
    """The canonical record of one finished file."""

    name: str
    doc_id: str | None
    sha256: str | None
    outcome: str
    reason: str | None
    ms: float
    replayed: bool


@dataclass
class Committed:
    """A batch whose transaction is committed: its files may move now."""

    batch: Started
    items: list[Item]
    recorded: list[Recorded]


class Pipeline:
    """Turns claimed files into committed outcomes and moves them only after COMMIT."""

    def __init__(
        self,
        inbox: Inbox,
        store: StorePort,
        parser: Parser,
        metrics: Metrics,
        *,
        failpoint: str | None = None,
        move_files: bool = True,
    ) -> None:
        self.inbox = inbox
        self.store = store
        self.parser = parser
        self.metrics = metrics
        self.failpoint = failpoint
        self.move_files = move_files
        self._ahead: dict[str, _Ahead] = {}
        self._ahead_bytes = 0

    def process(
        self, claims: Sequence[Claimed], seen_at: dict[str, datetime] | None = None
    ) -> list[FileResult]:
        """Ingest claimed files; raises `Transient` with every file still safely in place."""
        return self.finish(self.start(claims, seen_at))

    @property
    def can_look_ahead(self) -> bool:
        """True when parsing ahead runs in the pool (it would block the loop in-process)."""
        return self.parser.pooled

    @property
    def ahead(self) -> KeysView[str]:
        """Names of the inbox files read ahead of their claim."""
        return self._ahead.keys()

    @property
    def ahead_bytes(self) -> int:
        """Size of the files parsed ahead: their parses are held until the files are claimed."""
        return self._ahead_bytes

    def forget_ahead(self, names: Iterable[str]) -> None:
        """Drop what was read ahead for these names (gone from the inbox)."""
        for name in names:
            self._drop_ahead(name)

    def _drop_ahead(self, name: str) -> _Ahead | None:
        ahead = self._ahead.pop(name, None)
        if ahead is not None:
            self._ahead_bytes -= ahead.size
        return ahead

    def look_ahead(self, names: Sequence[str]) -> int:
        """Read, hash and start parsing inbox files still settling; returns how many parse.

        Nothing is claimed or recorded: `start` takes a parse only for a claimed file whose
        bytes hash the same, so a file written to meanwhile is simply parsed again. The
        settle time of a backlog found at start-up (2 s by default) is spent parsing.
        """
        self.forget_ahead(names)  # a name read again replaces what was read for it before
        found: list[tuple[str, str, str, bytes]] = []
        for name in names:
            try:
                doc_id = parse_name(name).doc_id
            except BundleRejected:
                data = None  # not read: its claim quarantines it for the name alone
            else:
                data = self.inbox.peek(name)
            if data is None:
                self._ahead[name] = _Ahead("", None, -1)  # `start` will say why: not again
                continue
            found.append((name, doc_id, hashlib.sha256(data).hexdigest(), data))
        current = self.store.same_bytes_as_current([(doc, sha) for _, doc, sha, _ in found])
        jobs = [(name, sha, data) for name, doc, sha, data in found if (doc, sha) not in current]
        parsing = self.parser.submit([(name, data) for name, _, data in jobs])
        for name, doc, sha, _ in found:
            if (doc, sha) in current:
                self._ahead[name] = _Ahead(sha, None, -1)
        for index, (name, sha, data) in enumerate(jobs):
            self._ahead[name] = _Ahead(sha, parsing, index, len(data))
            self._ahead_bytes += len(data)
        return len(jobs)

    def start(
        self, claims: Sequence[Claimed], seen_at: dict[str, datetime] | None = None
    ) -> Started:
        """Read and hash the files, skip the bytes already current, submit the rest to parse.

        Returns at once: the daemon writes the batch before this one while the pool parses.
        """
        started = time.monotonic()
        claimed_at = datetime.now(UTC)
        seen = seen_at or {}
        items: list[Item] = []
        jobs: dict[str, tuple[Claimed, bytes]] = {}
        parsed_ahead: dict[str, tuple[Parsing, int]] = {}
        for claim in claims:
            ahead = self._drop_ahead(claim.name)
            arrival = Arrival(
                claim.arrival_key, display_name(claim.name), seen.get(claim.name), claimed_at
            )
            try:
                self.inbox.check(claim)
                bundle_name = parse_name(claim.name)
                data = self.inbox.read(claim)
            except BundleRejected as exc:
                items.append(Rejected(arrival, exc.reason, exc.message, size=claim.size))
                continue
            except FileNotFoundError:
                log.warning("ingest.file_vanished", name=display_name(claim.name))
                continue
            sha = hashlib.sha256(data).hexdigest()
            jobs[claim.arrival_key] = (claim, data)
            items.append(SameBytes(arrival, bundle_name.doc_id, sha, len(data)))
            if ahead is not None and ahead.parsing is not None and ahead.raw_sha256 == sha:
                parsed_ahead[claim.arrival_key] = (ahead.parsing, ahead.index)
        same = [i for i in items if isinstance(i, SameBytes)]
        # Identical bytes already current need no parse: a replay costs one indexed lookup.
        current = self.store.same_bytes_as_current([(i.doc_id, i.raw_sha256) for i in same])
        to_parse = [i for i in same if (i.doc_id, i.raw_sha256) not in current]
        keys = [i.arrival.arrival_key for i in to_parse]
        fresh = [key for key in keys if key not in parsed_ahead]
        submitted = self.parser.submit([(jobs[key][0].name, jobs[key][1]) for key in fresh])
        parsing: Parsing | Gathered = submitted
        if len(fresh) < len(keys):
            position = {key: index for index, key in enumerate(fresh)}
            parsing = Gathered(
                [parsed_ahead.get(key) or (submitted, position[key]) for key in keys]
            )
        return Started(claims, items, jobs, to_parse, parsing, started)

    def finish(self, batch: Started) -> list[FileResult]:
        """Collect the parses, commit the batch in one transaction, then move the files."""
        return self.file(self.commit(batch))

    def commit(self, batch: Started) -> Committed:
        """Collect the parses and apply the batch in one transaction (no file is moved)."""
        items = self._parsed(batch)
        recorded = self._record(items, batch.jobs)
        exit_at(self.failpoint, "after_commit")
        return Committed(batch, items, recorded)

    def file(self, committed: Committed) -> list[FileResult]:
        """After COMMIT: move every file to processed/ or quarantine/, one log line each."""
        batch = committed.batch
        by_name = {claim.arrival_key: claim for claim in batch.claims}
        # One logger bound per batch, not one per line: the module's lazy proxy builds a new
        # bound logger on every call (4 of the ~21 us of each file's line).
        lines: FilteringBoundLogger = log.bind()
        if any(rec.outcome != "quarantined" for rec in committed.recorded):
            self.metrics.last_ingest.set(time.time())
        results = []
        for item, rec in zip(committed.items, committed.recorded, strict=True):
            claim = by_name[item.arrival.arrival_key]
            results.append(self._finish(claim, item, rec, batch.started, lines))
        exit_at(self.failpoint, "after_move")
        return results

    @staticmethod
    def _parsed(batch: Started) -> list[Item]:
        replaced: dict[str, Item] = {}
        for item, result in zip(batch.to_parse, batch.parsing.results(), strict=True):
            if isinstance(result, ParsedBundle):
                data = batch.jobs[item.arrival.arrival_key][1]
                replaced[item.arrival.arrival_key] = Accepted(
                    item.arrival, made_whole(result, data)
                )
            else:
                replaced[item.arrival.arrival_key] = Rejected(
                    item.arrival,
                    ReasonCode(result[0]),
                    result[1],
                    doc_id=item.doc_id,
                    raw_sha256=item.raw_sha256,
                    size=item.size,
                )
        return [replaced.get(i.arrival.arrival_key, i) for i in batch.items]

    def _record(self, items: list[Item], jobs: dict[str, tuple[Claimed, bytes]]) -> list[Recorded]:
        before_commit = (
            (lambda: exit_at(self.failpoint, "before_commit")) if self.failpoint else None
        )
        try:
            recorded = self.store.record(items, before_commit=before_commit)
        except (sa_exc.IntegrityError, sa_exc.DataError, sa_exc.ProgrammingError) as exc:
            if len(items) == 1:
                only = items[0]
                log.error(
                    "ingest.database_rejected", name=only.arrival.name, error=type(exc).__name__
                )
                rejected = Rejected(
                    only.arrival, ReasonCode.PARSE_ERROR, "the database rejected the article"
                )
                return self.store.record([rejected])
            # Isolate the bundle that breaks the batch: the others still commit.
            return [rec for item in items for rec in self._record([item], jobs)]
        stale = [
            (n, i)
            for n, (i, r) in enumerate(zip(items, recorded, strict=True))
            if r.outcome is None
        ]
        if stale:
            # The doc_id moved on between our check and the transaction: parse these after all.
            for position, item in stale:
                claim, data = jobs[item.arrival.arrival_key]
                result = self.parser.parse([(claim.name, data)])[0]
                if isinstance(result, ParsedBundle):
                    items[position] = Accepted(item.arrival, result)
                else:
                    items[position] = Rejected(item.arrival, ReasonCode(result[0]), result[1])
            again = self._record([items[p] for p, _ in stale], jobs)
            for (position, _), rec in zip(stale, again, strict=True):
                recorded[position] = rec
        return recorded

    def _finish(
        self, claim: Claimed, item: Item, rec: Recorded, started: float, lines: FilteringBoundLogger
    ) -> FileResult:
        outcome = rec.outcome or "unchanged"
        sha = getattr(item, "raw_sha256", None)
        if isinstance(item, Accepted):
            sha = item.bundle.raw_sha256
            doc_id: str | None = item.bundle.article.doc_id
        else:
            doc_id = getattr(item, "doc_id", None)
        if self.move_files:
            if outcome == "quarantined":
                message = item.message if isinstance(item, Rejected) else (rec.reason or "")
                self.inbox.file_quarantined(claim, rec.reason or "parse_error", message, sha)
            else:
                self.inbox.file_processed(claim)
        ms = (time.monotonic() - started) * 1000
        result = FileResult(
            display_name(claim.name), doc_id, sha, outcome, rec.reason, round(ms, 1), rec.replayed
        )
        self._observe(result, lines)
        return result

    def _observe(self, result: FileResult, lines: FilteringBoundLogger) -> None:
        self.metrics.count_file(result.outcome, result.reason or "")
        self.metrics.ingest_duration.observe(result.ms / 1000)
        fields: dict[str, Any] = {
            "name": result.name,
            "doc_id": result.doc_id,
            "sha256": result.sha256,
            "outcome": result.outcome,
            "reason": result.reason,
            "ms": result.ms,
        }
        if result.replayed:
            fields["replayed"] = True
        lines.info("ingest.file_done", **fields)
