"""Prometheus metrics of one newsdrop process, on a registry of its own (no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

WATCHER_MODES = ("inotify", "polling")


@dataclass
class Metrics:
    """Every metric the daemon exports; names follow Prometheus conventions."""

    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )
    _file_counts: dict[tuple[str, str], Counter] = field(
        default_factory=dict, init=False, repr=False
    )

    def __post_init__(self) -> None:
        r = self.registry
        self.files = Counter(
            "newsdrop_files",
            "Bundles finished, by outcome and quarantine reason.",
            ["outcome", "reason"],
            registry=r,
        )
        self.ingest_duration = Histogram(
            "newsdrop_ingest_duration_seconds",
            "Time from claiming a bundle to its database commit.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=r,
        )
        self.inbox_backlog = Gauge(
            "newsdrop_inbox_backlog_files", "Bundles waiting in the inbox.", registry=r
        )
        self.oldest_pending_age = Gauge(
            "newsdrop_oldest_pending_age_seconds",
            "How long the oldest bundle known to be waiting has waited.",
            registry=r,
        )
        self.quarantine_size = Gauge(
            "newsdrop_quarantine_files", "Bundles in the quarantine folder.", registry=r
        )
        self.database_up = Gauge(
            "newsdrop_database_up", "1 when the last database call succeeded.", registry=r
        )
        self.retries = Counter(
            "newsdrop_retries",
            "Retries after transient failures, by operation.",
            ["operation"],
            registry=r,
        )
        self.watcher_mode = Gauge(
            "newsdrop_watcher_mode", "1 for the way the inbox is watched now.", ["mode"], registry=r
        )
        self.events_lost = Counter(
            "newsdrop_events_lost",
            "Kernel inotify queue overflows (events were dropped).",
            registry=r,
        )
        self.articles = Gauge("newsdrop_articles", "Articles in the database.", registry=r)
        self.last_ingest = Gauge(
            "newsdrop_last_ingest_timestamp_seconds",
            "Unix time of the last committed bundle.",
            registry=r,
        )
        for mode in WATCHER_MODES:
            self.watcher_mode.labels(mode=mode).set(0)

    def count_file(self, outcome: str, reason: str) -> None:
        """One more finished bundle with this outcome and quarantine reason ("" for none)."""
        child = self._file_counts.get((outcome, reason))
        if child is None:
            # labels() takes a lock and builds the label tuple on every call: keep each child.
            child = self._file_counts[(outcome, reason)] = self.files.labels(outcome, reason)
        child.inc()

    def set_watcher_mode(self, mode: str) -> None:
        """Mark `mode` (inotify or polling) as the active way of watching the inbox."""
        for known in WATCHER_MODES:
            self.watcher_mode.labels(mode=known).set(1 if known == mode else 0)
