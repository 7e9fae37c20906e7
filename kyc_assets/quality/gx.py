"""Great Expectations 1.x suites for pandas frames, shared by every asset check.

Checks describe what they expect with the small builders below (plain tuples, so that
importing this module stays cheap); ``validate`` turns them into a GX suite on an ephemeral
context and runs it. GX is imported lazily: it costs ~3 s and ~270 MB, and loading the code
location must stay fast.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

Expectation = tuple[str, dict[str, Any]]


def required_columns(*columns: str) -> list[Expectation]:
    return [("ExpectColumnToExist", {"column": c}) for c in columns]


def not_null(*columns: str) -> list[Expectation]:
    return [("ExpectColumnValuesToNotBeNull", {"column": c}) for c in columns]


def unique(*columns: str) -> list[Expectation]:
    if len(columns) == 1:
        return [("ExpectColumnValuesToBeUnique", {"column": columns[0]})]
    return [("ExpectCompoundColumnsToBeUnique", {"column_list": list(columns)})]


def between(column: str, min_value: float | None = None, max_value: float | None = None) -> list[Expectation]:
    return [("ExpectColumnValuesToBeBetween", {"column": column, "min_value": min_value, "max_value": max_value})]


def in_set(column: str, values: list[Any]) -> list[Expectation]:
    return [("ExpectColumnValuesToBeInSet", {"column": column, "value_set": list(values)})]


def row_count_between(min_value: int | None = None, max_value: int | None = None) -> list[Expectation]:
    return [("ExpectTableRowCountToBeBetween", {"min_value": min_value, "max_value": max_value})]


@dataclass
class ValidationOutcome:
    passed: bool
    evaluated: int
    failures: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        """Counts and expectation names only: never the offending values (they may be PII)."""
        return {
            "expectations_evaluated": self.evaluated,
            "expectations_failed": len(self.failures),
            "failures": "; ".join(self.failures) or "none",
        }


@functools.cache
def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


_counter = itertools.count()


def validate(df: pd.DataFrame, expectations: list[Expectation], name: str) -> ValidationOutcome:
    """Run the expectations on ``df`` with Great Expectations and summarise the outcome."""
    import great_expectations as gx

    ctx = _context()
    n = next(_counter)
    source = ctx.data_sources.add_or_update_pandas(name="kyc")
    batch = source.add_dataframe_asset(name=f"{name}_{n}").add_batch_definition_whole_dataframe("all")
    suite = gx.ExpectationSuite(name=f"{name}_{n}")
    missing = [kw["column"] for kind, kw in expectations if kind == "ExpectColumnToExist" and kw["column"] not in df]
    for kind, kwargs in expectations:
        # An expectation on a missing column would raise inside GX; the column check reports it.
        if kind != "ExpectColumnToExist" and kwargs.get("column") in missing:
            continue
        suite.add_expectation(getattr(gx.expectations, kind)(**kwargs))
    suite = ctx.suites.add(suite)
    definition = ctx.validation_definitions.add(gx.ValidationDefinition(name=f"{name}_{n}", data=batch, suite=suite))
    result = definition.run(batch_parameters={"dataframe": df})
    failures = []
    for r in result.results:
        if not r.success:
            cfg = r.expectation_config
            target = cfg.kwargs.get("column") or ",".join(cfg.kwargs.get("column_list", []) or [])
            count = r.result.get("unexpected_count") if r.result else None
            detail = f" ({count} rows)" if count is not None else ""
            error = r.exception_info.get("exception_message") if r.exception_info and r.exception_info.get(
                "raised_exception") else None
            failures.append(f"{cfg.type}[{target}]{detail}" + (f": {error}" if error else ""))
    # Drop the per-run objects so the ephemeral context does not grow with every check.
    ctx.validation_definitions.delete(f"{name}_{n}")
    ctx.suites.delete(f"{name}_{n}")
    source.delete_asset(f"{name}_{n}")
    return ValidationOutcome(passed=bool(result.success), evaluated=len(result.results), failures=failures)
