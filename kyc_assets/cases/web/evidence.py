"""The evidence behind a case, read for the dashboard: documents and their extracted fields, the list
entries of screening hits, an account's transaction history and anomaly reasons, and links to the
Dagster UI pages of the assets and runs that produced them.

The warehouse (Delta tables, through kyc_assets.storage) is read for each page through an in-memory
DuckDB connection over the tables' current versions; writers never block it, and a page reads each table
as of its last commit.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

CHART_DAYS = 90
HISTORY_DAYS = 30  # the account's history shown: from this many days before the first alert day to the last
MAX_HISTORY = 300


class WarehouseUnavailable(RuntimeError):
    """The warehouse could not be read (missing, or locked by a running materialization)."""


@contextlib.contextmanager
def warehouse(path):
    """A DuckDB connection with ``kyc.<table>`` views over the warehouse (a
    :class:`~kyc_assets.storage.Warehouse`, or its folder/URL)."""
    from kyc_assets.storage import as_warehouse

    try:
        store = as_warehouse(path)
        names = store.tables()
    except Exception as exc:
        raise WarehouseUnavailable(f"the warehouse is unreadable ({type(exc).__name__}); reload shortly") from exc
    if not names:
        raise WarehouseUnavailable("the warehouse has not been materialized yet")
    with store.connect(names) as conn:
        yield conn


def _tables(conn) -> set[str]:
    return {r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'kyc'").fetchall()}


def _rows(conn, sql: str, params: list) -> list[dict]:
    from kyc_assets.resources.warehouse_pii import WarehouseCipher
    from kyc_assets.settings import warehouse_pii_keys

    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    cipher = WarehouseCipher.maybe(warehouse_pii_keys())  # KYC_WAREHOUSE_PII_KEYS: encrypted PII columns
    return [cipher.reveal_row(r) for r in rows] if cipher else rows


def _json_or_text(value: object) -> object:
    if isinstance(value, str) and value[:1] in "[{":
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value


def document_keys(evidence: list[dict]) -> list[str]:
    """Every document sha256 named in the case's evidence references (first-seen order)."""
    out: list[str] = []
    for e in evidence:
        ref = e.get("reference") or {}
        if isinstance(ref, str):
            ref = json.loads(ref)
        for key in ("document_sha256s", "document_sha256"):
            value = ref.get(key)
            for sha in value if isinstance(value, list) else [value] if value else []:
                if isinstance(sha, str) and len(sha) == 64 and sha not in out:
                    out.append(sha)
    return out


def dagster_links(evidence: list[dict], dagster_ui_url: str) -> list[dict]:
    """Links to the Dagster UI: each asset (at its partition) and each run named by the evidence."""
    base = dagster_ui_url.rstrip("/")
    links, seen = [], set()
    for e in evidence:
        ref = e.get("reference") or {}
        assets = [ref.get("asset_key")] + list(ref.get("upstream") or [])
        for asset in [a for a in assets if a]:
            path = "/".join(quote(part, safe="") for part in str(asset).split("/"))
            partition = ref.get("partition") if asset == ref.get("asset_key") else None
            url = f"{base}/assets/{path}" + (f"?{urlencode({'partition': partition})}" if partition else "")
            if url not in seen:
                seen.add(url)
                links.append({"label": f"asset {asset}" + (f" [{partition}]" if partition else ""), "url": url})
        run_id = ref.get("run_id")
        if run_id and f"run:{run_id}" not in seen:
            seen.add(f"run:{run_id}")
            links.append({"label": f"run {str(run_id)[:8] if len(str(run_id)) > 12 else run_id}", "url": f"{base}/runs/{quote(str(run_id), safe='')}"})
    return links


@dataclass
class Chart:
    """An inline SVG line chart of an account's daily inflow and outflow (coordinates precomputed)."""

    width: int = 1100
    height: int = 300
    days: list[str] = field(default_factory=list)
    inflow: str = ""  # SVG polyline points
    outflow: str = ""
    alerts: list[dict] = field(default_factory=list)  # {"x", "y", "day"}
    y_max: float = 0.0
    ticks: list[dict] = field(default_factory=list)  # {"x", "label"}
    y_ticks: list[dict] = field(default_factory=list)  # {"y", "label"}
    pad_left: int = 80
    pad_bottom: int = 34
    pad_top: int = 12
    pad_right: int = 16


def _nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value``."""
    import math

    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value)


def build_chart(daily: list[dict], alert_days: set[str], width: int = 1100, height: int = 300) -> Chart:
    """Daily totals -> polyline coordinates on a rounded amount axis (5 gridlines with amounts), day labels
    along the x axis, and a vertical marker on every alert day."""
    chart = Chart(width=width, height=height, days=[d["day"] for d in daily])
    if not daily:
        return chart
    pad_l, pad_r, pad_t, pad_b = chart.pad_left, chart.pad_right, chart.pad_top, chart.pad_bottom
    y_max = _nice_max(max(max(d["inflow"], d["outflow"]) for d in daily))
    n = len(daily)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = pad_l + (width - pad_l - pad_r) * (i / (n - 1) if n > 1 else 0.5)
        y = height - pad_b - (height - pad_t - pad_b) * (v / y_max)
        return round(x, 1), round(y, 1)

    chart.inflow = " ".join(f"{x},{y}" for x, y in (xy(i, d["inflow"]) for i, d in enumerate(daily)))
    chart.outflow = " ".join(f"{x},{y}" for x, y in (xy(i, d["outflow"]) for i, d in enumerate(daily)))
    chart.alerts = [{"x": xy(i, d["outflow"])[0], "y": xy(i, max(d["inflow"], d["outflow"]))[1], "day": d["day"]}
                    for i, d in enumerate(daily) if d["day"] in alert_days]
    chart.y_max = y_max
    chart.y_ticks = [{"y": xy(0, y_max * k / 4)[1], "label": f"{y_max * k / 4:,.0f}"} for k in range(5)]
    step = max(1, n // 10)
    chart.ticks = [{"x": xy(i, 0)[0], "label": daily[i]["day"][5:]} for i in range(0, n, step)]
    return chart


def read_evidence(case: dict, warehouse_path: Path) -> dict:
    """Everything the case page shows beyond the case store: documents with their extracted fields,
    list entries of screening hits, the account's transactions (chart and recent rows) and anomaly
    reasons. ``error`` is set (and the rest empty) when the warehouse cannot be read."""
    out = {"documents": [], "list_entries": {}, "chart": None, "transactions": [], "anomalies": [], "error": None,
           "customer": None, "flagged": 0}
    evidence = case.get("evidence") or []
    try:
        with warehouse(warehouse_path) as conn:
            tables = _tables(conn)
            out["documents"] = _documents(conn, tables, document_keys(evidence))
            out["list_entries"] = _list_entries(conn, tables, evidence)
            if case.get("subject_type") == "customer" and "customers" in tables:
                rows = _rows(conn, "SELECT * FROM kyc.customers WHERE customer_id = ? LIMIT 1", [str(case["subject_id"])])
                out["customer"] = {k: _json_or_text(v) for k, v in rows[0].items()} if rows else None
            if case.get("subject_type") == "account":
                out.update(_account_activity(conn, tables, str(case["subject_id"]), evidence))
                _in_words(out["anomalies"], evidence)
    except WarehouseUnavailable as exc:
        out["error"] = str(exc)
    return out


def _in_words(anomalies: list[dict], evidence: list[dict]) -> None:
    """Each alert day's reasons as sentences (``said``), with the numbers stored with the case's evidence."""
    from kyc_assets.cases.reasons import sentences

    refs = {(e.get("reference") or {}).get("partition"): e.get("reference") or {} for e in evidence
            if e.get("kind") == "anomaly_alert"}
    for a in anomalies:
        ref = refs.get(a.get("day"), {})
        a["said"] = sentences(a.get("reasons"), ref.get("features"), transactions=ref.get("transactions"))


def _documents(conn, tables: set[str], keys: list[str]) -> list[dict]:
    docs = []
    for sha in keys:
        doc = {"sha256": sha, "media_type": None, "original_name": None, "fields": {}, "status": None}
        if "raw_documents" in tables:
            for r in _rows(conn, "SELECT * FROM kyc.raw_documents WHERE document_sha256 = ? LIMIT 1", [sha]):
                doc.update(media_type=r.get("media_type"), original_name=r.get("original_name"),
                           status=r.get("status"))
        if "extracted_entities" in tables:
            for r in _rows(conn, "SELECT * FROM kyc.extracted_entities WHERE document_sha256 = ? LIMIT 1", [sha]):
                doc["fields"] = {k: _json_or_text(v) for k, v in r.items()
                                 if k not in ("document_sha256", "field_sources") and v not in (None, "", "[]")}
        docs.append(doc)
    return docs


def _list_entries(conn, tables: set[str], evidence: list[dict]) -> dict[str, dict]:
    """The list entry of each screening hit, keyed by evidence id (the version the hit was made against
    when it is still in the warehouse, else the newest)."""
    if "watchlist_entries" not in tables:
        return {}
    out = {}
    for e in evidence:
        ref = e.get("reference") or {}
        if e.get("kind") != "screening_hit" or not ref.get("list_entity_id"):
            continue
        rows = _rows(conn, "SELECT * FROM kyc.watchlist_entries WHERE entity_id = ? ORDER BY "
                           "(list_version = ?) DESC, list_version DESC LIMIT 1",
                     [ref["list_entity_id"], ref.get("list_version") or ""])
        if rows:
            out[e["evidence_id"]] = {k: _json_or_text(v) for k, v in rows[0].items() if v not in (None, "", "[]")}
    return out


def _account_activity(conn, tables: set[str], account: str, evidence: list[dict]) -> dict:
    alert_days = {(e.get("reference") or {}).get("partition") for e in evidence if e.get("kind") == "anomaly_alert"}
    alert_days.discard(None)
    out: dict = {"chart": None, "transactions": [], "anomalies": []}
    if "transactions" in tables:
        amount = "COALESCE(amount_base, amount)"
        daily = _rows(conn, f"""
            WITH t AS (SELECT CAST(timestamp AS DATE) AS day, sender_account, receiver_account, {amount} AS amt,
                              sender_account = receiver_account AS own, channel = 'cash_withdrawal' AS withdrawal
                       FROM kyc.transactions WHERE sender_account = ? OR receiver_account = ?),
                 last AS (SELECT max(day) AS d FROM t)
            SELECT strftime(day, '%Y-%m-%d') AS day,
                   -- the account's own cash movement is one leg: a deposit in, a withdrawal out
                   sum(CASE WHEN receiver_account = ? AND NOT (own AND withdrawal IS TRUE) THEN amt ELSE 0 END)
                       AS inflow,
                   sum(CASE WHEN sender_account = ? AND (NOT own OR withdrawal IS TRUE) THEN amt ELSE 0 END)
                       AS outflow
            FROM t, last WHERE day > last.d - INTERVAL {CHART_DAYS} DAY GROUP BY day ORDER BY day""",
                      [account, account, account, account])
        out["chart"] = build_chart([{"day": d["day"], "inflow": float(d["inflow"] or 0),
                                     "outflow": float(d["outflow"] or 0)} for d in daily], alert_days)
        behind: dict[str, list[str]] = {}
        for e in evidence:
            for rule, rows in ((e.get("reference") or {}).get("transactions") or {}).items():
                for t in rows:
                    if t.get("transaction_id") and rule not in behind.setdefault(str(t["transaction_id"]), []):
                        behind[str(t["transaction_id"])].append(rule)
        if alert_days:
            first, last = min(alert_days), max(alert_days)
            period = f"CAST(timestamp AS DATE) BETWEEN CAST(? AS DATE) - INTERVAL {HISTORY_DAYS} DAY AND CAST(? AS DATE)"
            params = [account, account, first, last]
        else:
            period, params = "TRUE", [account, account]
        rows = _rows(conn, f"""
            SELECT transaction_id, timestamp, sender_account, receiver_account, amount, currency, channel,
                   sender_country, receiver_country
            FROM kyc.transactions WHERE (sender_account = ? OR receiver_account = ?) AND {period}
            ORDER BY timestamp DESC LIMIT {MAX_HISTORY}""", params)
        for t in rows:
            t["rules"] = behind.get(str(t["transaction_id"]), [])
        if behind and not any(t["rules"] for t in rows):  # the flagged ones fell outside the shown window
            ids = list(behind)[:MAX_HISTORY]
            rows += [{**t, "rules": behind[str(t["transaction_id"])]} for t in _rows(conn, f"""
                SELECT transaction_id, timestamp, sender_account, receiver_account, amount, currency, channel,
                       sender_country, receiver_country FROM kyc.transactions
                WHERE transaction_id IN ({", ".join("?" * len(ids))})""", ids)]
        out["transactions"] = sorted(rows, key=lambda t: str(t["timestamp"]))
        out["flagged"] = sum(1 for t in out["transactions"] if t["rules"])
    if "anomaly_scores" in tables:
        out["anomalies"] = _rows(conn, """
            SELECT strftime(CAST(as_of_date AS DATE), '%Y-%m-%d') AS day, risk_score, reasons
            FROM kyc.anomaly_scores WHERE account_id = ? AND alert ORDER BY as_of_date DESC LIMIT 50""", [account])
    return out


def sniff_media_type(data: bytes) -> str:
    """The media type of a stored document from its first bytes (never from its name): the intake's
    detection (onboarding/ocr.py), ``application/octet-stream`` when it knows none."""
    from kyc_assets.onboarding.ocr import detect_media_type

    return detect_media_type(data) or "application/octet-stream"
