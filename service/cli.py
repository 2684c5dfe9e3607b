"""The `newsdrop` command line: run, ingest, parse, db upgrade, requeue, reprocess, status."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from service import __version__
from service.errors import BundleRejected, NewsdropError
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
    requeue.add_argument("names", nargs="*")
    requeue.add_argument("--reason", help="only bundles quarantined for this reason code")
    status = sub.add_parser("status", help="articles, versions, outcomes and backlog")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


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
            from service.app import requeue

            moved = requeue(settings, args.reason, args.names)
            _print_json({"requeued": moved}, pretty=False)
            return 0
    except NewsdropError as exc:
        # Our own errors carry a message written for the user (no secrets, no stack).
        log.error("cli.failed", command=args.command, error=type(exc).__name__, message=str(exc))
        sys.stderr.write(f"newsdrop: {exc}\n")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    return EXIT_FAILURE
