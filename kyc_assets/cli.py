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


def _monitoring_models(settings) -> tuple[object, object, str]:
    """The registered anomaly model and supervised model (None when none is registered) and a note."""
    from kyc_assets.monitoring.model import ModelRegistry

    registry = ModelRegistry(settings.models_dir)
    version = registry.latest("anomaly") if registry.root.exists() else None
    if version is None:
        return None, None, f"no anomaly model registered in {registry.root}: fitted one on this batch"
    anomaly = registry.load(version)
    supervised_version = registry.latest("supervised")
    supervised = registry.load(supervised_version) if supervised_version else None
    note = f"registered anomaly model {version}"
    if supervised is not None:
        note += f" and supervised model {supervised_version}"
    return anomaly, supervised, note


def cmd_monitor(args) -> int:
    """Score every account over the whole period of a transaction file, streamed in chunks, with the
    platform's own configuration (settings), model registry and alert policy."""
    from kyc_assets.monitoring.monitor import MonitorConfig, monitor_file
    from kyc_assets.monitoring.schema import TransactionSchemaError
    from kyc_assets.settings import Settings

    try:
        settings = Settings.from_env()
        config = MonitorConfig.from_settings(settings)
        if args.budget is not None:
            config = config.with_options(alert_policy="budget", alert_budget=args.budget)
        elif args.policy:
            config = config.with_options(alert_policy=args.policy)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    anomaly, supervised, model_note = _monitoring_models(settings) if not args.fit_model else \
        (None, None, "fitted an anomaly model on this batch (--fit-model)")
    source = sys.stdin if args.transactions == "-" else args.transactions
    notes: dict = {}
    with contextlib.ExitStack() as stack:
        sink = None
        if args.quarantine:
            qfh = stack.enter_context(_output(args.quarantine))
            header = [True]

            def sink(frame) -> None:
                frame.to_csv(qfh, index=False, header=header[0])
                header[0] = False
        try:
            result, quarantined = monitor_file(source, chunk_rows=args.chunk_rows, on_quarantine=sink, notes=notes,
                                               config=config, anomaly_model=anomaly, supervised=supervised)
        except TransactionSchemaError as exc:
            raise CLIError(str(exc)) from exc
        with _output(args.output) as fh:
            out = result[["account_id", "risk_score", "alert", "reasons"]].copy()
            out["alert"] = out["alert"].map(lambda v: "true" if v else "false")
            out.to_csv(fh, index=False, float_format="%.4f")
        if sink is not None and header[0]:  # nothing quarantined: still write the header
            qfh.write("transaction_id,reason\n")
    reasons = ", ".join(f"{n} {r}" for r, n in sorted(quarantined.items(), key=lambda kv: -kv[1])[:3])
    policy = config.policy
    policy_text = (f"budget {policy.budget:.2%} of active accounts per day" if policy.policy == "budget"
                   else f"threshold {policy.threshold}")
    print(f"{len(result)} accounts scored, {int(result['alert'].sum())} alerted ({policy_text}), "
          f"{sum(quarantined.values())} rows quarantined{f' ({reasons})' if reasons else ''}", file=sys.stderr)
    print(f"model: {model_note}", file=sys.stderr)
    if notes.get("skipped_rules"):
        print(f"rules skipped (input columns absent): {', '.join(notes['skipped_rules'])}", file=sys.stderr)
    return 0


_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> object:
    """A CSV cell a spreadsheet will not execute: text starting with = + - @ TAB or CR gets a leading
    quote (OWASP CSV injection guidance); other values are returned unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def _read_name_rows(path: str) -> list[dict]:
    """Input rows for screening; NUL bytes are dropped so that one bad cell cannot abort the run."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"cannot read {path}: {exc}") from exc
    try:
        return list(csv.DictReader(io.StringIO(text.replace("\x00", ""))))
    except csv.Error as exc:
        raise CLIError(f"{path}: malformed CSV: {exc}") from exc


def _screener_for(paths: list[str], use_saved: bool):
    """The Screener over the given lists: loaded from the saved index when one exists for these list bytes
    and this code version (see screening/index_store.py), else built from the lists (and saved)."""
    from kyc_assets.screening.index_store import cached_screener
    from kyc_assets.screening.matcher import Screener
    from kyc_assets.settings import screening_index_dir
    from kyc_assets.watchlists.errors import WatchlistFormatError
    from kyc_assets.watchlists.sources import list_version, load_watchlist

    def build():
        lists = [load_watchlist(p) for p in paths]
        return Screener([e for lst in lists for e in lst.entries])

    try:
        directory = screening_index_dir() if use_saved else None
        key = ["kyc-screen", *(list_version(p) for p in paths)] if directory is not None else []
        screener, report = cached_screener(key, build, directory)
    except (WatchlistFormatError, OSError) as exc:
        raise CLIError(str(exc)) from exc
    if report.rejected:
        print(f"kyc: screening index {report.key}: {report.status} ({report.reason})", file=sys.stderr)
    return screener, report


def cmd_screen(args) -> int:
    import time

    from kyc_assets.screening.matcher import default_workers

    started = time.perf_counter()
    screener, report = _screener_for(args.watchlist, not args.no_saved_index)
    index_s = time.perf_counter() - started
    rows = _read_name_rows(args.input)
    if rows and "full_name" not in rows[0]:
        raise CLIError(f"{args.input}: missing required column full_name")
    queries, quarantined = [], 0
    for i, row in enumerate(rows, start=1):
        customer_id = (row.get("customer_id") or "").strip() or str(i)
        name = row.get("full_name") or ""
        if not name.strip():
            quarantined += 1
            print(f"kyc: row {i} (customer_id {csv_safe(customer_id)}): quarantined: empty full_name, not screened",
                  file=sys.stderr)
            continue
        queries.append((customer_id, name, {"name": name, "entity_type": row.get("entity_type") or None,
                                            "date_of_birth": row.get("date_of_birth") or None,
                                            "nationality": row.get("nationality") or None}))
    # Identical screening inputs give identical hits: screen each distinct one once.
    distinct: dict[tuple, int] = {}
    for _, _, q in queries:
        distinct.setdefault((q["name"], q["entity_type"], q["date_of_birth"], q["nationality"]), len(distinct))
    unique_rows = [dict(zip(("name", "entity_type", "date_of_birth", "nationality"), k, strict=True))
                   for k in distinct]
    workers = default_workers() if len(unique_rows) >= 5_000 else 1
    started = time.perf_counter()
    unique_results = screener.screen_batch(unique_rows, threshold=args.threshold, workers=workers)
    results = [unique_results[distinct[(q["name"], q["entity_type"], q["date_of_birth"], q["nationality"])]]
               for _, _, q in queries]
    screen_s = time.perf_counter() - started
    columns = ["customer_id", "query_name", "list_entity_id", "list_source", "matched_name", "score", "decision",
               "explanation"]
    hits = 0
    with _output(args.output) as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for (customer_id, name, _), found in zip(queries, results, strict=True):
            for hit in found:
                hits += 1
                writer.writerow({k: csv_safe(v) for k, v in {
                    "customer_id": customer_id, "query_name": name, "list_entity_id": hit.entity_id,
                    "list_source": hit.list_source, "matched_name": hit.matched_name, "score": f"{hit.score:.4f}",
                    "decision": hit.decision, "explanation": hit.explanation}.items()})
    print(f"{len(queries)} names screened against {len(screener.entries)} entries, {hits} hits, "
          f"{quarantined} rows quarantined", file=sys.stderr)
    if args.timings:
        print(f"kyc: timings: index {index_s:.2f} s ({report.status}), screening {len(unique_rows)} distinct names "
              f"with {workers} worker(s) {screen_s:.2f} s", file=sys.stderr)
    return 0


def cmd_match_names(args) -> int:
    from kyc_assets.screening.matcher import DEFAULT_THRESHOLD, score_pair

    rows = _read_name_rows(args.input)
    if rows and not {"query", "candidate"} <= set(rows[0]):
        raise CLIError(f"{args.input}: missing required column(s) query, candidate")
    with _output(args.output) as fh:
        fields = list(rows[0].keys()) + ["score", "match"] if rows else ["query", "candidate", "score", "match"]
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            score = score_pair(row["query"] or "", row["candidate"] or "", row.get("schema") or None)
            writer.writerow({**{k: csv_safe(v) for k, v in row.items()}, "score": f"{score:.4f}",
                             "match": "true" if score >= DEFAULT_THRESHOLD else "false"})
    return 0


def cmd_serve(args) -> int:
    """The review dashboard (kyc_assets/cases/web)."""
    from kyc_assets.cases.web.app import serve

    if not 0 < args.port < 65536:
        raise CLIError(f"--port must be 1-65535, not {args.port}")
    serve(host=args.host, port=args.port)
    return 0


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
    p.add_argument("--quarantine", help="also write the quarantined rows, with their reason, to this CSV")
    p.add_argument("--chunk-rows", type=int, default=500_000,
                   help="rows validated at a time (memory stays bounded whatever the file size)")
    p.add_argument("--budget", type=float,
                   help="alert budget: share of the accounts active on a day that are alerted, e.g. 0.005 "
                        "(default KYC_ALERT_BUDGET; implies --policy budget)")
    p.add_argument("--policy", choices=["budget", "threshold"],
                   help="alert policy (default KYC_ALERT_POLICY): a daily budget, or risk >= KYC_ALERT_THRESHOLD")
    p.add_argument("--fit-model", action="store_true",
                   help="fit the anomaly model on this file even when one is registered in KYC_MODELS_DIR")
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser("screen", help="screen names against sanctions lists")
    p.add_argument("--watchlist", action="append", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output")
    p.add_argument("--threshold", type=float)
    p.add_argument("--no-saved-index", action="store_true",
                   help="build the index from the lists and neither read nor write the saved index "
                        "(KYC_SCREENING_INDEX_DIR)")
    p.add_argument("--timings", action="store_true", help="print where the time went (index, screening) to stderr")
    p.set_defaults(func=cmd_screen)

    p = sub.add_parser("match-names", help="score name pairs with the screening scorer")
    p.add_argument("--input", required=True)
    p.add_argument("--output")
    p.set_defaults(func=cmd_match_names)

    from kyc_assets.cases.commands import register as register_case_commands

    register_case_commands(sub)  # kyc case ..., kyc trace, kyc audit verify
    from kyc_assets.risk.cli import register as register_risk_commands

    register_risk_commands(sub)  # kyc risk rate | explain | what-if | override | review
    p = sub.add_parser("serve", help="the review dashboard (case queue, evidence, four-eyes decisions)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.set_defaults(func=cmd_serve)
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
