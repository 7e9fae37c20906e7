"""Reasons in words: one sentence per monitoring typology and per top feature, with the numbers that
triggered it (plain Python, no Dagster, no I/O).

:func:`sentences` takes an alert's reason names (``structuring;amount_in_sum_30d;...``, a list, or the
``reasons`` text of ``anomaly_scores``), the feature values stored with the evidence (``features``) and,
when escalation found them, the transactions behind each typology (``transactions``: ``{rule: [{"timestamp",
"amount", "channel", ...}]}``) and returns readable sentences, typologies first::

    9 cash deposits of 9,100–9,950 USD in 6 days, total 86,400 USD, each under the 10,000 USD reporting
    threshold.

A name without a template (a new rule, a new feature) gets a readable generic sentence, never the raw
``a;b;c`` list. The queue, the case page, ``kyc trace`` and the SAR narrative all render through here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import date

_WINDOW = re.compile(r"^(?P<base>.+)_(?P<days>\d+)d$")

_CHANNEL_WORDS = {"cash_deposit": "cash deposits", "cash_withdrawal": "cash withdrawals", "wire": "wires",
                  "ach": "ACH transfers", "card": "card payments", "crypto": "crypto transfers"}


def money(value: object, currency: str = "USD") -> str:
    """``86,400 USD`` (cents shown only below 100)."""
    v = _num(value)
    if v is None:
        return "an unknown amount"
    return f"{v:,.2f} {currency}" if abs(v) < 100 and v != int(v) else f"{v:,.0f} {currency}"


def _num(value: object) -> float | None:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) or math.isinf(v) else v


def _int(value: object) -> int:
    v = _num(value)
    return round(v) if v is not None else 0


def _pct(value: object) -> str:
    v = _num(value) or 0.0
    return f"{v * 100:.0f}%"


def split_names(reasons: object) -> list[str]:
    """Reason names from a list or a ``;``/``,``-separated text (``name(detail)`` keeps ``name``)."""
    if reasons is None:
        return []
    parts = list(reasons) if isinstance(reasons, (list, tuple)) else re.split(r"[;,]", str(reasons))
    out = []
    for p in parts:
        name = str(p).strip().split("(")[0].split("=")[0].strip()
        if name and name not in out:
            out.append(name)
    return out


def _span_days(rows: list[Mapping]) -> int:
    days = sorted({str(r.get("timestamp", ""))[:10] for r in rows if r.get("timestamp")})
    if len(days) < 2:
        return 1
    return (date.fromisoformat(days[-1][:10]) - date.fromisoformat(days[0][:10])).days + 1


def _kind_words(rows: list[Mapping]) -> str:
    channels = {str(r.get("channel") or "") for r in rows}
    if len(channels) == 1:
        return _CHANNEL_WORDS.get(channels.pop(), "transactions")
    return "transactions"


def _structuring(f: Mapping, tx: list[Mapping], threshold: float, currency: str) -> str:
    if tx:
        amounts = [_num(r.get("amount")) or 0.0 for r in tx]
        lo, hi = min(amounts), max(amounts)
        spread = money(lo, currency) if lo == hi else f"{lo:,.0f}–{hi:,.0f} {currency}"
        span = _span_days(tx)
        return (f"{len(tx)} {_kind_words(tx)} of {spread} in {span} day{'s' if span != 1 else ''}, total "
                f"{money(sum(amounts), currency)}, each under the {threshold:,.0f} {currency} reporting threshold.")
    n30, n7 = _int(f.get("structuring_count_30d")), _int(f.get("structuring_count_7d"))
    return (f"{n30 or n7} transactions just under the {threshold:,.0f} {currency} reporting threshold in "
            f"{'30' if n30 else '7'} days ({n7} in the last 7 days).")


def _fan(direction: str, f: Mapping, currency: str) -> str:
    if direction == "in":
        n, total, legs = (_int(f.get("distinct_counterparties_in_30d")), f.get("amount_in_sum_30d"),
                          _int(f.get("tx_in_count_30d")))
        return (f"Money collected from {n} different senders in 30 days ({legs} credits, total "
                f"{money(total, currency)}).")
    n, total, legs = (_int(f.get("distinct_counterparties_out_30d")), f.get("amount_out_sum_30d"),
                      _int(f.get("tx_out_count_30d")))
    return (f"Money sent to {n} different receivers in 30 days ({legs} payments, total {money(total, currency)}, "
            f"after receiving {money(f.get('amount_in_sum_30d'), currency)}).")


def _rule_sentence(name: str, f: Mapping, tx: list[Mapping], threshold: float, currency: str) -> str | None:
    if name == "structuring":
        return _structuring(f, tx, threshold, currency)
    if name == "fan_in":
        return _fan("in", f, currency)
    if name == "fan_out":
        return _fan("out", f, currency)
    if name == "cycle":
        return "Money sent by the account came back to it through a chain of 2 to 4 transfers within 30 days."
    if name == "rapid_pass_through":
        ratio = _num(f.get("passthrough_ratio"))
        share = f"{ratio * 100:.0f}% of the" if ratio is not None else "Most of the"
        return (f"{share[0].upper()}{share[1:]} money received left the account again within hours "
                f"({money(f.get('amount_in_sum_7d'), currency)} in, {money(f.get('amount_out_sum_7d'), currency)} "
                "out in 7 days).")
    if name == "high_risk_corridor":
        legs = _int(f.get("tx_in_count_30d")) + _int(f.get("tx_out_count_30d"))
        share = _num(f.get("high_risk_share_30d")) or 0.0
        return (f"{round(share * legs)} of {legs} transactions in 30 days ({_pct(share)}) were with "
                "high-risk jurisdictions.")
    if name == "velocity_spike":
        legs7 = _int(f.get("tx_in_count_7d")) + _int(f.get("tx_out_count_7d"))
        change = _num(f.get("velocity_change")) or 0.0
        return f"{legs7} transactions in the last 7 days, {change:.1f} times the account's usual daily rate."
    if name == "scatter_gather":
        return (f"Money split over {_int(f.get('scatter_gather_paths'))} intermediary accounts and gathered again "
                "at one account within 30 days.")
    if name == "gather_scatter":
        return (f"Funds from {_int(f.get('distinct_counterparties_in_7d'))} senders "
                f"({money(f.get('amount_in_sum_7d'), currency)}) left to {_int(f.get('distinct_counterparties_out_7d'))} "
                f"receivers ({money(f.get('amount_out_sum_7d'), currency)}) within 7 days.")
    if name == "dormant_reactivation":
        return (f"The account was inactive for {_int(f.get('dormancy_gap_days'))} days, then moved "
                f"{money((_num(f.get('amount_in_sum_7d')) or 0) + (_num(f.get('amount_out_sum_7d')) or 0), currency)} "
                "in 7 days.")
    if name == "learned_from_decisions":
        return "Resembles accounts that analysts confirmed as suspicious before."
    return None


_FEATURE_WORDS = {
    "tx_out_count": ("payments out", "count"), "tx_in_count": ("credits in", "count"),
    "amount_out_sum": ("sent in total", "money"), "amount_in_sum": ("received in total", "money"),
    "amount_out_mean": ("the average payment out", "money"), "amount_out_max": ("the largest payment out", "money"),
    "amount_out_std": ("the spread of payment amounts out (standard deviation)", "money"),
    "distinct_counterparties_out": ("different receivers", "count"),
    "distinct_counterparties_in": ("different senders", "count"),
    "cash_share": ("of the transactions in cash", "share"), "round_amount_share": ("in round amounts", "share"),
    "high_risk_share": ("with high-risk jurisdictions", "share"),
    "structuring_count": ("transactions just under the reporting threshold", "count"),
}
_GLOBAL_WORDS = {
    "passthrough_ratio": lambda v, c: f"Pass-through: {v * 100:.0f}% of a credit left again within hours.",
    "velocity_change": lambda v, c: f"Activity in the last 7 days at {v:.1f} times the usual daily rate.",
    "cycle_flag": lambda v, c: "The account lies on a cycle of transfers that returns money to it.",
    "scatter_gather_paths": lambda v, c: f"{v:.0f} intermediaries between one source and one destination.",
    "hub_neighbor_degree": lambda v, c: f"Linked to a pass-through hub with {v:.0f} counterparties.",
    "dormancy_gap_days": lambda v, c: f"A gap of {v:.0f} days without activity before the recent transactions.",
    "dormant_reactivation": lambda v, c: "A dormant account that became active again.",
}


def _feature_sentence(name: str, value: float | None, currency: str) -> str | None:
    if name in _GLOBAL_WORDS:
        return _GLOBAL_WORDS[name](value or 0.0, currency) if value is not None else None
    m = _WINDOW.match(name)
    if not m or m["base"] not in _FEATURE_WORDS or value is None:
        return None
    words, kind = _FEATURE_WORDS[m["base"]]
    days = int(m["days"])
    period = "in 1 day" if days == 1 else f"in {days} days"
    if kind == "money" and words.endswith("in total"):
        return f"Unusually high: {money(value, currency)} {words} {period}."
    if kind == "money":
        return f"Unusually high: {words} {period} was {money(value, currency)}."
    if kind == "share":
        return f"Unusually high: {_pct(value)} {words} {period}."
    return f"Unusually high: {value:,.0f} {words} {period}."


def _generic(name: str, value: float | None, explanations: Mapping[str, str]) -> str:
    words = explanations.get(name) or name.replace("_", " ").strip()
    number = "" if value is None else f" ({value:,.2f})".replace(".00)", ")")
    return f"Unusual {words}{number}." if name in explanations or value is not None else \
        f"Flagged by the monitoring rule or signal “{words}”."


def _graph_explanations() -> dict[str, str]:
    """Descriptions of the graph typologies and features, when the monitoring code has them."""
    out: dict[str, str] = {}
    try:
        from kyc_assets.monitoring import graph  # type: ignore[attr-defined]
    except ImportError:
        return out
    out.update(getattr(graph, "EXPLANATIONS", {}) or {})
    for name, text, *_ in getattr(graph, "TYPOLOGY_SIGNALS", ()) or ():
        out[name] = f"pattern: the account {text}"
    for name, text in (getattr(graph, "COMBINED_REASONS", {}) or {}).items():
        out[name] = f"pattern: the account {text}"
    return out


def sentences(reasons: object, features: Mapping | None = None, *, transactions: Mapping | None = None,
              threshold: float = 10_000.0, currency: str = "USD") -> list[str]:
    """Readable sentences for an alert's reason names (typologies first, then features); see the module
    docstring. ``features``: feature name -> value; ``transactions``: rule -> the transactions behind it."""
    f = dict(features or {})
    tx = dict(transactions or {})
    explanations = _graph_explanations()
    out: list[str] = []
    for name in split_names(reasons):
        text = _rule_sentence(name, f, list(tx.get(name) or []), threshold, currency)
        if text is None:
            text = _feature_sentence(name, _num(f.get(name)), currency)
        if text is None:
            text = _generic(name, _num(f.get(name)), explanations)
        if text not in out:
            out.append(text)
    return out


def summary(reasons: object, features: Mapping | None = None, **kwargs) -> str:
    """The sentences of :func:`sentences` joined into one paragraph ("" without reasons)."""
    return " ".join(sentences(reasons, features, **kwargs))


#: The feature columns each typology's sentence reads (escalation stores these with the evidence).
RULE_FEATURES: dict[str, tuple[str, ...]] = {
    "structuring": ("structuring_count_7d", "structuring_count_30d", "amount_in_sum_30d", "cash_share_30d"),
    "fan_in": ("distinct_counterparties_in_30d", "amount_in_sum_30d", "tx_in_count_30d"),
    "fan_out": ("distinct_counterparties_out_30d", "amount_out_sum_30d", "tx_out_count_30d", "amount_in_sum_30d"),
    "rapid_pass_through": ("passthrough_ratio", "amount_in_sum_7d", "amount_out_sum_7d"),
    "high_risk_corridor": ("high_risk_share_30d", "tx_in_count_30d", "tx_out_count_30d"),
    "velocity_spike": ("velocity_change", "tx_in_count_7d", "tx_out_count_7d"),
    "scatter_gather": ("scatter_gather_paths",),
    "gather_scatter": ("distinct_counterparties_in_7d", "distinct_counterparties_out_7d", "amount_in_sum_7d",
                       "amount_out_sum_7d"),
    "dormant_reactivation": ("dormancy_gap_days", "amount_in_sum_7d", "amount_out_sum_7d"),
}


def features_needed(reasons: object) -> list[str]:
    """The feature columns the sentences of these reasons read (the reason names themselves included)."""
    out: list[str] = []
    for name in split_names(reasons):
        for col in (*RULE_FEATURES.get(name, ()), name):
            if col not in out:
                out.append(col)
    return out


def evidence_sentences(evidence: Iterable[Mapping], *, threshold: float = 10_000.0,
                       currency: str = "USD") -> list[str]:
    """Sentences for a case's anomaly evidence (references carrying ``reasons``, ``features`` and
    ``transactions``), each once, typologies first."""
    out: list[str] = []
    for e in evidence:
        ref = e.get("reference") or {}
        if e.get("kind") != "anomaly_alert":
            continue
        for s in sentences(ref.get("reasons"), ref.get("features"), transactions=ref.get("transactions"),
                           threshold=threshold, currency=currency):
            if s not in out:
                out.append(s)
    return out


def case_sentences(case: Mapping, *, threshold: float = 10_000.0, currency: str = "USD", limit: int = 6) -> list[str]:
    """The case's reasons in words, strongest first: the non-monitoring reasons as recorded, then the
    sentences of its riskiest alert day (latest on ties) and how many alert days there are."""
    evidence = list(case.get("evidence") or [])
    alerts = [e for e in evidence if e.get("kind") == "anomaly_alert"]
    out = [str(e.get("reason")) for e in evidence if e.get("kind") != "anomaly_alert" and e.get("reason")]
    out = list(dict.fromkeys(out))
    if alerts:
        def ref(e):
            r = e.get("reference") or {}
            return r if isinstance(r, Mapping) else {}
        top = max(alerts, key=lambda e: (float(e.get("risk") or 0), str(ref(e).get("partition") or "")))
        r = ref(top)
        said = sentences(r.get("reasons"), r.get("features"), transactions=r.get("transactions"),
                         threshold=threshold, currency=currency)[:limit]
        days = sorted({str(ref(e).get("partition")) for e in alerts if ref(e).get("partition")})
        span = f" (alerted on {len(days)} days, {days[0]} to {days[-1]}; strongest {r.get('partition')})" \
            if len(days) > 1 else f" ({days[0]})" if days else ""
        out.append(f"Monitoring alert{span}: " + " ".join(said))
    return out
