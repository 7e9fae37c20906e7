"""``kyc risk ...``: rate, explain, what-if, overrides and reviews (registered by kyc_assets/cli.py). Thin.

- ``kyc risk rate --input CSV [--output CSV] [--methodology FILE]``: offline rating with the same engine;
  input and output columns as in INTERFACES.md.
- ``kyc risk explain CUSTOMER_ID [--json]``: the latest rating in the warehouse, factor by factor.
- ``kyc risk what-if --methodology FILE [--input CSV] [--json]``: a proposed methodology against the one in
  force on today's customers (the warehouse's ratings, or an input CSV).
- ``kyc risk override request|approve|reject`` and ``kyc risk review list|edd|close``: four-eyes overrides
  and review work through the review store (analyst identity as for ``kyc case``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

OUTPUT_COLUMNS = ["customer_id", "score", "tier", "next_review_date", "methodology_version", "reasons"]
#: INTERFACES.md input columns (besides customer_id) and what the engine reads from each
_VALID = {"customer_type": {"person", "company", "trust", "individual", "organization", "organisation"},
          "onboarding_channel": {"in_person", "remote", "branch", "online"},
          "sanctions_status": {"none", "potential", "suppressed", "confirmed"},
          "is_pep": {"true", "false"}, "pep_domestic": {"true", "false"}, "adverse_media": {"true", "false"}}


def _error(message: str) -> Exception:
    from kyc_assets.cli import CLIError

    return CLIError(message)


def _settings():
    from kyc_assets.settings import Settings

    try:
        return Settings.from_env()
    except ValueError as exc:
        raise _error(str(exc)) from exc


def _methodology(path: str | None):
    from kyc_assets.risk.methodology import MethodologyError, load_country_lists, load_methodology

    settings = _settings()
    try:
        return (load_methodology(path or settings.risk_methodology_path),
                load_country_lists(settings.risk_country_lists_path))
    except MethodologyError as exc:
        raise _error(str(exc)) from exc


def _as_of(args) -> date:
    if getattr(args, "as_of", None):
        try:
            return date.fromisoformat(args.as_of)
        except ValueError as exc:
            raise _error(f"--as-of must be YYYY-MM-DD, not {args.as_of!r}") from exc
    return datetime.now(UTC).date()


def read_rating_csv(path: str) -> tuple[list[dict], list[str]]:
    """The engine's input rows from an INTERFACES.md rating CSV, and the notes on what was quarantined or read
    as unknown (one line each)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(f"cannot read {path}: {exc}") from exc
    try:
        reader = csv.DictReader(io.StringIO(text.replace("\x00", "")))
        rows = list(reader)
    except csv.Error as exc:
        raise _error(f"{path}: malformed CSV: {exc}") from exc
    if reader.fieldnames is None or "customer_id" not in reader.fieldnames:
        raise _error(f"{path}: missing required column customer_id")
    notes, out, seen = [], [], set()
    for i, row in enumerate(rows, start=2):
        cid = (row.get("customer_id") or "").strip()
        if not cid:
            notes.append(f"line {i}: quarantined: empty customer_id, not rated")
            continue
        if cid in seen:
            notes.append(f"line {i}: quarantined: customer_id repeated, rated once (first row)")
            continue
        seen.add(cid)
        clean = {}
        for col, valid in _VALID.items():
            value = (row.get(col) or "").strip().lower()
            if value and value not in valid:
                notes.append(f"line {i}: {col} {value[:20]!r} is not one of {', '.join(sorted(valid))}: "
                             "read as unknown")
                value = ""
            clean[col] = value or None
        pep_class = None
        if clean["is_pep"] == "true":
            pep_class = {"true": "domestic", "false": "foreign"}.get(clean["pep_domestic"] or "")
        media = {"true": "found", "false": "none"}.get(clean["adverse_media"] or "")
        account_opened = (row.get("account_opened") or "").strip() or None
        if account_opened:
            try:
                date.fromisoformat(account_opened)
            except ValueError:
                notes.append(f"line {i}: account_opened {account_opened[:20]!r} is not YYYY-MM-DD: read as unknown")
                account_opened = None
        out.append({"customer_id": cid, "nationality": row.get("nationality") or None,
                    "residence_country": row.get("residence_country") or None,
                    "customer_type": clean["customer_type"], "onboarding_channel": clean["onboarding_channel"],
                    "sanctions_status": clean["sanctions_status"], "is_pep": clean["is_pep"],
                    "pep_class": pep_class, "adverse_media": media, "account_opened": account_opened})
    return out, notes


def cmd_rate(args) -> int:
    import pandas as pd

    from kyc_assets.cli import _output, csv_safe
    from kyc_assets.risk.engine import tier_counts
    from kyc_assets.risk.ratings import ratings_table

    methodology, lists = _methodology(args.methodology)
    rows, notes = read_rating_csv(args.input)
    for note in notes:
        print(f"kyc: {note}", file=sys.stderr)
    frame = pd.DataFrame(rows, columns=["customer_id"] if not rows else None)
    as_of = _as_of(args)
    rated = ratings_table(frame, methodology, lists, as_of=as_of) if rows else \
        pd.DataFrame(columns=OUTPUT_COLUMNS + ["computed_tier"])
    with _output(args.output) as fh:
        writer = csv.DictWriter(fh, fieldnames=OUTPUT_COLUMNS)
        writer.writeheader()
        for rec in rated[OUTPUT_COLUMNS].to_dict("records"):
            rec["score"] = f"{rec['score']:.4f}"
            writer.writerow({k: csv_safe(v) for k, v in rec.items()})
    counts = tier_counts(rated["tier"]) if len(rated) else {}
    print(f"{len(rated)} customers rated with methodology {methodology.label} "
          f"({', '.join(f'{n} {t}' for t, n in counts.items()) or 'none'}), "
          f"{sum('quarantined' in n for n in notes)} rows quarantined", file=sys.stderr)
    return 0


def _warehouse_ratings():
    """The latest customer_risk_ratings table (read-only); a one-line error when it is not there."""
    from kyc_assets.settings import warehouse

    settings = _settings()
    location = settings.warehouse_url
    try:
        store = warehouse(settings)
        present = store.exists("customer_risk_ratings")
    except Exception as exc:  # an unreadable location: say which, in one line
        raise _error(f"the warehouse at {location} is unreadable: {str(exc).splitlines()[0]}") from exc
    if not present:
        raise _error(f"customer_risk_ratings is not in the warehouse at {location}: materialize it first (make demo)")
    return store.read("customer_risk_ratings")


def cmd_explain(args) -> int:
    from kyc_assets.risk.engine import INPUT_COLUMNS, explain

    ratings = _warehouse_ratings()
    row = ratings[ratings["customer_id"] == args.customer_id]
    if not len(row):
        raise _error(f"no rating for customer {args.customer_id[:60]!r}")
    rec = row.iloc[0].to_dict()
    factors = explain(rec)
    out = {k: rec.get(k) for k in ("customer_id", "score", "tier", "computed_tier", "override_tier", "override_id",
                                   "hard_rules", "next_review_date", "methodology_version", "country_lists_version",
                                   "rated_on")}
    out["factors"] = factors
    out["inputs"] = {k: rec.get(k) for k in INPUT_COLUMNS[1:]}
    out["input_versions"] = json.loads(rec.get("input_versions") or "{}")
    if args.json:
        print(json.dumps(out, indent=2, sort_keys=True, default=str))
        return 0
    override = f" (override of computed {out['computed_tier']}: {out['override_id']})" if out["override_tier"] else ""
    print(f"{out['customer_id']}: {out['tier']}{override}, score {out['score']:.4f}, methodology "
          f"{out['methodology_version']}, rated {out['rated_on']}, next review {out['next_review_date']}")
    print(f"hard rules: {out['hard_rules'] or 'none'}")
    print(f"{'factor':<20} {'category':<26} contribution")
    for f in factors:
        print(f"{f['factor']:<20} {f['category']:<26} {f['contribution']:.4f}")
    print(f"country lists: {out['country_lists_version']}")
    print("inputs: " + ", ".join(f"{k}={v}" for k, v in out["input_versions"].items()))
    return 0


def cmd_what_if(args) -> int:
    import pandas as pd

    from kyc_assets.risk.methodology import MethodologyError, load_methodology
    from kyc_assets.risk.ratings import inputs_of
    from kyc_assets.risk.whatif import compare, render_markdown

    current, lists = _methodology(args.current)
    try:
        proposed = load_methodology(args.methodology)
    except MethodologyError as exc:
        raise _error(str(exc)) from exc
    as_of = _as_of(args)
    bases = {}
    if args.input:
        rows, notes = read_rating_csv(args.input)
        for note in notes:
            print(f"kyc: {note}", file=sys.stderr)
        inputs = pd.DataFrame(rows)
    else:
        inputs = inputs_of(_warehouse_ratings())
        try:
            from kyc_assets.cases.store import CaseStore
            from kyc_assets.risk.reviews_store import ReviewStore

            bases = {c: s.last_review_on or s.first_rated_on for c, s in ReviewStore(CaseStore.from_env()).states()
                     .items()}
        except ValueError as exc:
            raise _error(str(exc)) from exc
    if not len(inputs):
        raise _error("no customers to compare")
    impact = compare(inputs, current, proposed, lists, as_of=as_of, last_reviews=bases)
    if args.json:
        print(json.dumps(impact.as_dict(), indent=2, sort_keys=True))
    else:
        print(render_markdown(impact, as_of), end="")
    print(f"{impact.customers} customers: {impact.up} up, {impact.down} down under {impact.proposed_version}",
          file=sys.stderr)
    return 0


# -- overrides and reviews --------------------------------------------------------------------------

def _reviews(args, action: str, subject: str):
    from kyc_assets.cases.commands import _authenticate, _store
    from kyc_assets.risk.reviews_store import ReviewStore

    store = _store()
    analyst = _authenticate(store, args, args.actor, action, subject) if getattr(args, "actor", None) else None
    return ReviewStore(store), analyst


def cmd_override_request(args) -> int:
    from kyc_assets.cases.commands import _run

    ratings = _warehouse_ratings()
    row = ratings[ratings["customer_id"] == args.customer_id]
    if not len(row):
        raise _error(f"no rating for customer {args.customer_id[:60]!r}")
    reviews, analyst = _reviews(args, "override_request", args.customer_id)
    out = _run(lambda: reviews.request_override(args.customer_id, tier=args.tier,
                                                computed_tier=str(row.iloc[0]["computed_tier"]), reason=args.reason,
                                                analyst=analyst))
    print(f"{out['override_id']}: {args.customer_id} to {args.tier} requested; a second analyst must approve it")
    return 0


def cmd_override_decide(args) -> int:
    from kyc_assets.cases.commands import _run

    approve = args.risk_override_command == "approve"
    reviews, analyst = _reviews(args, "override_approve" if approve else "override_reject", args.override_id)
    out = _run(lambda: reviews.decide_override(args.override_id, analyst=analyst, approve=approve,
                                               reason=args.reason or ""))
    print(f"{out['override_id']}: {out['status']}"
          f"{' until the next review (' + str(out['expires_on']) + ')' if approve else ''}; "
          "it applies from the next rating run")
    return 0


def cmd_review_list(args) -> int:
    from kyc_assets.cases.commands import _print_json, _run

    reviews, _ = _reviews(args, "review_list", "reviews")
    rows = _run(lambda: reviews.list_reviews(status=None if args.status == "all" else args.status,
                                             limit=args.limit))
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            print(f"{r['review_id']}  {r['kind']:<16} {r['status']:<7} {r['tier']:<10} due {r['due_date']}"
                  f"{' OVERDUE' if r['overdue'] else ''}  {r['customer_id']}  {'; '.join(r['reasons'])[:90]}")
    print(f"{len(rows)} review(s)", file=sys.stderr)
    return 0


def cmd_review_edd(args) -> int:
    from kyc_assets.cases.commands import _run

    reviews, analyst = _reviews(args, "review_edd_record", args.review_id)
    _run(lambda: reviews.record_edd(args.review_id, item=args.item, analyst=analyst, note=args.note))
    print(f"{args.review_id}: {args.item} recorded")
    return 0


def cmd_review_close(args) -> int:
    from kyc_assets.cases.commands import _run

    methodology, _ = _methodology(None)
    reviews, analyst = _reviews(args, "review_close", args.review_id)
    out = _run(lambda: reviews.close_review(args.review_id, analyst=analyst, outcome=args.outcome,
                                            methodology=methodology))
    print(f"{out['review_id']}: closed ({out['overrides_expired']} override(s) expired)")
    return 0


def register(sub) -> None:
    """Add ``risk`` to the ``kyc`` parser."""
    from kyc_assets.risk.methodology import EDD_ITEMS, TIERS

    risk = sub.add_parser("risk", help="customer risk rating and perpetual KYC (rate, explain, what-if, overrides, "
                                       "reviews)")
    rsub = risk.add_subparsers(dest="risk_command", required=True)

    p = rsub.add_parser("rate", help="rate customers from a CSV offline, with the platform's methodology and code")
    p.add_argument("--input", required=True, help="CSV: customer_id and optional rating columns (INTERFACES.md)")
    p.add_argument("--output", help="CSV out (default stdout)")
    p.add_argument("--methodology", help="methodology YAML (default KYC_RISK_METHODOLOGY, else the bundled one)")
    p.add_argument("--as-of", help="rate as of this day, YYYY-MM-DD (default today, UTC)")
    p.set_defaults(func=cmd_rate)

    p = rsub.add_parser("explain", help="a customer's latest rating, factor by factor (from the warehouse)")
    p.add_argument("customer_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_explain)

    p = rsub.add_parser("what-if", help="impact of a proposed methodology on today's customers")
    p.add_argument("--methodology", required=True, help="the proposed methodology YAML")
    p.add_argument("--current", help="the methodology to compare against (default: the one in force)")
    p.add_argument("--input", help="rate this CSV instead of the warehouse's latest ratings")
    p.add_argument("--as-of", help="YYYY-MM-DD (default today, UTC)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_what_if)

    p = rsub.add_parser("override", help="analyst tier overrides (four eyes)")
    osub = p.add_subparsers(dest="risk_override_command", required=True)
    q = osub.add_parser("request", help="request an override of a customer's tier (needs a reason)")
    q.add_argument("customer_id")
    q.add_argument("--tier", required=True, choices=TIERS)
    q.add_argument("--reason", required=True)
    q.add_argument("--as", dest="actor", required=True, help="the requesting analyst")
    q.add_argument("--password-stdin", action="store_true")
    q.set_defaults(func=cmd_override_request)
    for verb in ("approve", "reject"):
        q = osub.add_parser(verb, help=f"{verb} a pending override (an analyst other than the requester)")
        q.add_argument("override_id")
        q.add_argument("--reason", default="")
        q.add_argument("--as", dest="actor", required=True)
        q.add_argument("--password-stdin", action="store_true")
        q.set_defaults(func=cmd_override_decide)

    p = rsub.add_parser("review", help="periodic and event reviews (perpetual KYC)")
    vsub = p.add_subparsers(dest="risk_review_command", required=True)
    q = vsub.add_parser("list", help="the review queue")
    q.add_argument("--status", default="open", choices=["open", "closed", "all"])
    q.add_argument("--limit", type=int, default=200)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_review_list)
    q = vsub.add_parser("edd", help="record an enhanced-due-diligence item of a review")
    q.add_argument("review_id")
    q.add_argument("--item", required=True, choices=EDD_ITEMS)
    q.add_argument("--note", required=True, help="what was obtained and where it is kept")
    q.add_argument("--as", dest="actor", required=True)
    q.add_argument("--password-stdin", action="store_true")
    q.set_defaults(func=cmd_review_edd)
    q = vsub.add_parser("close", help="close a review (EDD items first for high-risk reviews)")
    q.add_argument("review_id")
    q.add_argument("--outcome", required=True)
    q.add_argument("--as", dest="actor", required=True)
    q.add_argument("--password-stdin", action="store_true")
    q.set_defaults(func=cmd_review_close)


__all__ = ["argparse", "register"]
