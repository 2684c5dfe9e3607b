"""The `newsdrop` command line: run, ingest, parse, db upgrade, requeue, reprocess, dupes,
export, status."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from service import __version__
from service.errors import BundleRejected, NewsdropError, ReasonCode
from service.logs import configure_logging
from service.settings import Settings, load_settings

EXIT_REJECTED = 2
EXIT_FAILURE = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsdrop",
        description="Watch a folder of scraped Chinese news pages and upsert them into PostgreSQL.",
    )
    parser.add_argument("--version", action="version", version=f"newsdrop {__version__}")
    parser.add_argument(
        "--config", type=Path, help="settings file (env format); default config/newsdrop.env"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the daemon (embedded PostgreSQL when no database URL is set)")
    ingest = sub.add_parser("ingest", help="one-shot backfill of files or folders")
    ingest.add_argument("paths", nargs="+", type=Path)
    ingest.add_argument(
        "--move", action="store_true", help="move files through the inbox lifecycle"
    )
    parse = sub.add_parser("parse", help="print the normalized article as JSON (no database)")
    parse.add_argument("files", nargs="+", type=Path)
    parse.add_argument("--explain", action="store_true", help="show each line's rule")
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply the schema migrations")
    requeue = sub.add_parser("requeue", help="move quarantined bundles back into the inbox")
    requeue.add_argument("names", nargs="*", help="quarantined bundle names (default: all)")
    requeue.add_argument(
        "--reason",
        choices=[code.value for code in ReasonCode],
        help="only bundles quarantined for this reason code",
    )
    requeue.add_argument("--json", action="store_true", help="one JSON object per bundle")
    reprocess = sub.add_parser(
        "reprocess", help="re-derive stored articles from their raw bundles (current normalizer)"
    )
    reprocess.add_argument(
        "--since", type=_timestamp, help="only articles updated at or after DATE (ISO 8601)"
    )
    reprocess.add_argument(
        "--dry-run", action="store_true", help="count what would change and show diffs"
    )
    reprocess.add_argument(
        "--batch-size", type=int, default=500, help="articles per transaction (default 500)"
    )
    dupes = sub.add_parser("dupes", help="list near-duplicate clusters")
    dupes.add_argument("--json", action="store_true", help="one JSON object per cluster")
    export = sub.add_parser("export", help="stream current articles as JSONL or Parquet")
    export.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl")
    export.add_argument(
        "--updated-after",
        type=_timestamp,
        help="only articles updated strictly after TIMESTAMP (ISO 8601; UTC when no offset)",
    )
    export.add_argument("--out", type=Path, help="file to write (JSONL default: stdout)")
    status = sub.add_parser("status", help="articles, versions, outcomes and backlog")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _timestamp(text: str) -> datetime:
    """An ISO 8601 date or timestamp; one without an offset is taken as UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date or timestamp (e.g. 2026-11-22 or "
            "2026-11-22T08:00:00+08:00)"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _print_json(data: Any, *, pretty: bool) -> None:
    text = json.dumps(data, ensure_ascii=False, indent=2 if pretty else None)
    sys.stdout.write(text + "\n")


def cmd_parse(files: Sequence[Path], explain: bool) -> int:
    """Print one JSON object per file; exit 2 when any file would be quarantined."""
    from service.normalize import explain as explain_lines
    from service.parse import parse_bundle

    pretty = len(files) == 1
    status = 0
    for path in files:
        try:
            data = path.read_bytes()
            bundle = parse_bundle(path.name, data)
        except BundleRejected as exc:
            _print_json(
                {"file": path.name, "error": exc.reason.value, "message": exc.message},
                pretty=pretty,
            )
            status = EXIT_REJECTED
            continue
        except OSError as exc:
            _print_json(
                {"file": path.name, "error": "unreadable", "message": exc.strerror}, pretty=pretty
            )
            status = EXIT_REJECTED
            continue
        out = bundle.article.to_json_dict()
        if explain:
            out["explain"] = [
                {
                    "line": d.line_no,
                    "kept": d.kept,
                    "rule": d.rule,
                    "reason": d.reason,
                    "text": d.text,
                }
                for d in explain_lines(bundle.text)
            ]
        _print_json(out, pretty=pretty)
    return status


def cmd_ingest(settings: Settings, paths: Sequence[Path], move: bool) -> int:
    """Backfill and print a summary of outcomes."""
    from service.app import ingest_paths, iter_bundle_files

    progress = None
    bar: Any = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        total = sum(1 for _ in iter_bundle_files(paths))
        bar = tqdm(total=total, unit="file", file=sys.stderr)
        progress = bar.update
    try:
        outcomes = ingest_paths(settings, paths, move=move, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    summary = {
        "files": sum(v for k, v in outcomes.items() if not k.startswith("reason:")),
        "outcomes": {k: v for k, v in sorted(outcomes.items()) if not k.startswith("reason:")},
        "quarantine_reasons": {
            k.removeprefix("reason:"): v
            for k, v in sorted(outcomes.items())
            if k.startswith("reason:")
        },
    }
    _print_json(summary, pretty=True)
    return 0


def cmd_status(settings: Settings, as_json: bool) -> int:
    """Print the service's figures."""
    from service.app import status_report

    report = status_report(settings)
    if as_json:
        _print_json(report, pretty=False)
    else:
        files = report.get("files") or {}
        print(f"database       {report['database']}")
        print(f"articles       {report['articles']}")
        print(f"versions       {report['versions']}")
        print(f"inbox backlog  {report['inbox_backlog']}")
        for outcome, count in files.items():
            print(f"  {outcome:<12} {count}")
    return 0 if report["database"] == "up" else EXIT_FAILURE


def _progress_bar(
    unit: str,
) -> tuple[Any, Callable[[int], None] | None, Callable[[int], None] | None]:
    """A tqdm bar on stderr when it is a terminal: (bar, update, set total)."""
    if not sys.stderr.isatty():
        return None, None, None
    from tqdm import tqdm

    bar = tqdm(total=0, unit=unit, file=sys.stderr)

    def set_total(total: int) -> None:
        bar.total = total
        bar.refresh()

    return bar, bar.update, set_total


def cmd_requeue(settings: Settings, reason: str | None, names: Sequence[str], as_json: bool) -> int:
    """Move quarantined bundles back and print what moved; 1 when a named one did not."""
    from service.app import requeue

    results = requeue(settings, reason, names)
    for result in results:
        if as_json:
            _print_json(result.to_json_dict(), pretty=False)
        elif result.moved:
            print(
                f"requeued  quarantine/{result.name} -> inbox/{result.inbox_name}"
                f"  ({result.reason or 'reason unknown'})"
            )
        else:
            print(f"skipped   {result.name}: {result.note}")
    if not as_json:
        moved = sum(r.moved for r in results)
        print(f"{moved} requeued, {len(results) - moved} skipped")
    return EXIT_FAILURE if names and not all(r.moved for r in results) else 0


def cmd_reprocess(
    settings: Settings, since: datetime | None, dry_run: bool, batch_size: int
) -> int:
    """Re-derive stored articles and print a summary (and example diffs in a dry run)."""
    from service.app import reprocess_corpus

    bar, update, set_total = _progress_bar("article")
    try:
        report = reprocess_corpus(
            settings,
            since=since,
            dry_run=dry_run,
            batch_size=batch_size,
            progress=update,
            total=set_total,
        )
    finally:
        if bar is not None:
            bar.close()
    summary = report.to_json_dict()
    summary["dry_run"] = dry_run
    _print_json(summary, pretty=True)
    if dry_run:
        print(f"{report.changed} of {report.scanned} articles would change")
        for example in report.examples:
            print(example)
    return 0


def cmd_dupes(settings: Settings, as_json: bool) -> int:
    """Print the near-duplicate clusters."""
    from service.app import near_duplicate_clusters

    clusters = 0
    for cluster in near_duplicate_clusters(settings):
        clusters += 1
        if as_json:
            _print_json(cluster.to_json_dict(), pretty=False)
            continue
        root = cluster.root
        print(f"{root.id:>8}  {root.doc_id}  {root.title}")
        for member in cluster.members:
            exact = "  (exact duplicate)" if member.duplicate_of is not None else ""
            print(
                f"  d={member.distance:<2} {member.id:>6}  {member.doc_id}  {member.title}{exact}"
            )
    if not as_json:
        print(f"{clusters} clusters")
    return 0


def cmd_export(
    settings: Settings, fmt: str, out: Path | None, updated_after: datetime | None
) -> int:
    """Stream the articles out; the count goes to stderr so stdout stays pure JSONL."""
    from service.app import export_corpus

    try:
        count = export_corpus(settings, fmt, out, updated_after)
    except BrokenPipeError:
        # The reader left (`newsdrop export | head`): not an error. Point stdout at devnull
        # so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    sys.stderr.write(f"newsdrop: exported {count} articles\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `newsdrop` console script."""
    args = _parser().parse_args(argv)
    log = structlog.get_logger("newsdrop")
    try:
        if args.command == "parse":
            return cmd_parse(args.files, args.explain)
        settings = load_settings(args.config)
        configure_logging(settings.log_format, settings.log_level)
        if args.command == "run":
            from service.app import run_daemon

            return run_daemon(settings)
        if args.command == "ingest":
            return cmd_ingest(settings, args.paths, args.move)
        if args.command == "status":
            return cmd_status(settings, args.json)
        if args.command == "db":
            from service.app import upgrade_database

            _print_json({"revision": upgrade_database(settings)}, pretty=False)
            return 0
        if args.command == "requeue":
            return cmd_requeue(settings, args.reason, args.names, args.json)
        if args.command == "reprocess":
            return cmd_reprocess(settings, args.since, args.dry_run, args.batch_size)
        if args.command == "dupes":
            return cmd_dupes(settings, args.json)
        if args.command == "export":
            return cmd_export(settings, args.format, args.out, args.updated_after)
    except NewsdropError as exc:
        # Our own errors carry a message written for the user (no secrets, no stack).
        log.error("cli.failed", command=args.command, error=type(exc).__name__, message=str(exc))
        sys.stderr.write(f"newsdrop: {exc}\n")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    return EXIT_FAILURE
