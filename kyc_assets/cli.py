"""The ``kyc`` command: thin wrappers that parse arguments, call domain code and print.

Every command exits non-zero with a one-line error on bad input (a traceback only with
``--debug``) and never leaves a half-written output file behind.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import sys
import tempfile
from pathlib import Path


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


@contextlib.contextmanager
def _output(path: str | None):
    """Write to stdout for None/'-', else to a temp file renamed into place on success."""
    if not path or path == "-":
        yield sys.stdout
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_csv(path: str) -> list[dict]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"cannot read {path}: {exc}") from exc
    return list(csv.DictReader(io.StringIO(text)))


def cmd_generate_sample(args) -> int:
    from kyc_assets.sample_data.world import generate_world

    summary = generate_world(args.out, seed=args.seed, customers=args.customers, transactions=args.transactions)
    print(f"wrote {summary['documents']} documents, {summary['customers']} customers, "
          f"{summary['transactions']} transactions ({summary['planted_typologies']} planted typologies, "
          f"{summary['planted_listed_customers']} customers with listed names) to {args.out}", file=sys.stderr)
    return 0


def cmd_extract(args) -> int:
    from kyc_assets.onboarding.extract import EXTRACT_FIELDS, extract_document
    from kyc_assets.onboarding.ocr import DocumentError

    failed = 0
    for name in args.files:
        record = {"file": name}
        try:
            data = Path(name).read_bytes()
            fields = extract_document(data)
            record.update({k: fields.get(k) for k in EXTRACT_FIELDS})
        except (OSError, DocumentError) as exc:
            failed += 1
            record.update({k: None for k in EXTRACT_FIELDS})
            record["error"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(json.dumps(record, ensure_ascii=False), flush=True)
    return 1 if failed else 0


def cmd_monitor(args) -> int:
    from kyc_assets.monitoring.monitor import monitor_transactions
    from kyc_assets.monitoring.schema import TransactionSchemaError, read_transactions

    try:
        raw = read_transactions(args.transactions if args.transactions != "-" else io.StringIO(sys.stdin.read()))
    except TransactionSchemaError as exc:
        raise CLIError(str(exc)) from exc
    result, quarantine = monitor_transactions(raw)
    with _output(args.output) as fh:
        out = result[["account_id", "risk_score", "alert", "reasons"]].copy()
        out["alert"] = out["alert"].map(lambda v: "true" if v else "false")
        out.to_csv(fh, index=False, float_format="%.4f")
    print(f"{len(result)} accounts scored, {int(result['alert'].sum())} alerted, {len(quarantine)} rows "
          f"quarantined", file=sys.stderr)
    return 0


def cmd_screen(args) -> int:
    from kyc_assets.screening.matcher import Screener
    from kyc_assets.watchlists.errors import WatchlistFormatError
    from kyc_assets.watchlists.sources import load_watchlist

    try:
        lists = [load_watchlist(p) for p in args.watchlist]
    except (WatchlistFormatError, OSError) as exc:
        raise CLIError(str(exc)) from exc
    screener = Screener([e for lst in lists for e in lst.entries])
    rows = _read_csv(args.input)
    if rows and "full_name" not in rows[0]:
        raise CLIError(f"{args.input}: missing required column full_name")
    columns = ["customer_id", "query_name", "list_entity_id", "list_source", "matched_name", "score", "decision",
               "explanation"]
    hits = 0
    with _output(args.output) as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for i, row in enumerate(rows, start=1):
            for hit in screener.screen(row.get("full_name") or "", entity_type=row.get("entity_type") or None,
                                       date_of_birth=row.get("date_of_birth") or None,
                                       nationality=row.get("nationality") or None, threshold=args.threshold):
                hits += 1
                writer.writerow({"customer_id": row.get("customer_id") or i, "query_name": row["full_name"],
                                 "list_entity_id": hit.entity_id, "list_source": hit.list_source,
                                 "matched_name": hit.matched_name, "score": f"{hit.score:.4f}",
                                 "decision": hit.decision, "explanation": hit.explanation})
    print(f"{len(rows)} names screened against {len(screener.entries) if hasattr(screener, 'entries') else '?'} "
          f"entries, {hits} hits", file=sys.stderr)
    return 0


def cmd_match_names(args) -> int:
    from kyc_assets.screening.matcher import DEFAULT_THRESHOLD, score_pair

    rows = _read_csv(args.input)
    if rows and not {"query", "candidate"} <= set(rows[0]):
        raise CLIError(f"{args.input}: missing required column(s) query, candidate")
    with _output(args.output) as fh:
        fields = list(rows[0].keys()) + ["score", "match"] if rows else ["query", "candidate", "score", "match"]
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            score = score_pair(row["query"], row["candidate"], row.get("schema") or None)
            writer.writerow({**row, "score": f"{score:.4f}", "match": "true" if score >= DEFAULT_THRESHOLD else "false"})
    return 0


def cmd_audit_verify(args) -> int:
    from kyc_assets.cases.store import CaseStore
    from kyc_assets.settings import Settings

    report = CaseStore(Settings.from_env().database_url).verify_audit()
    if report.intact:
        print(f"audit log intact: {report.entries} entries")
        return 0
    print(f"audit log broken at entry {report.first_broken}: {report.problem}", file=sys.stderr)
    return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kyc", description="KYC/AML platform command line")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate-sample", help="write the deterministic synthetic sample world")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--customers", type=int, default=18)
    p.add_argument("--transactions", type=int, default=20_000)
    p.set_defaults(func=cmd_generate_sample)

    p = sub.add_parser("extract", help="read identity documents and bills; one JSON object per file")
    p.add_argument("files", nargs="+")
    p.add_argument("--json", action="store_true", help="JSON lines (the default and only format)")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("monitor", help="score accounts from a canonical transactions file")
    p.add_argument("--transactions", required=True)
    p.add_argument("--output")
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser("screen", help="screen names against sanctions lists")
    p.add_argument("--watchlist", action="append", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output")
    p.add_argument("--threshold", type=float)
    p.set_defaults(func=cmd_screen)

    p = sub.add_parser("match-names", help="score name pairs with the screening scorer")
    p.add_argument("--input", required=True)
    p.add_argument("--output")
    p.set_defaults(func=cmd_match_names)

    audit = sub.add_parser("audit", help="audit log tools").add_subparsers(dest="audit_command", required=True)
    p = audit.add_parser("verify", help="recompute the audit log's hash chain")
    p.set_defaults(func=cmd_audit_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CLIError as exc:
        print(f"kyc: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the last line of defence for a command line: one line, unless --debug
        if args.debug:
            raise
        print(f"kyc: error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
