"""The implementations compared by the parity test and the benchmarks (one registry).

Each entry is a callable ``(claims, contract, schedules, output=None) -> polars.DataFrame``
where ``claims`` is a polars frame or a Parquet path; with ``output`` the implementation also
writes its full result there as Parquet (the end-to-end benchmark). The frame returned has
one row per input line, in input order, with at least:

- ``line_index`` (UInt32, 0-based input position),
- ``pricing_method`` (String),
- ``allowed_amount`` (Int64 cents; null where the implementation does not price the line).

``pricer`` prices every line (denied and rejected lines have allowed 0.00). ``polars`` prices
RBRVS lines that give a ``locality`` and percent-of-charges lines (see ``polars_rbrvs``);
``duckdb`` is the same scope written as DuckDB SQL, with the same outputs (see
``duckdb_rbrvs``; it reads a Parquet path with DuckDB and writes ``output`` with DuckDB's
``COPY``).
"""
from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import polars as pl

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))
_REPO = _HERE.parent
if str(_REPO) not in sys.path:  # a checkout without `pip install .`
    sys.path.insert(0, str(_REPO))

from polars_rbrvs import price_polars  # noqa: E402


def cents(column: str) -> pl.Expr:
    """A Decimal(18, 2) money column as Int64 cents (exact: its unscaled integer)."""
    return pl.col(column).to_physical().cast(pl.Int64)


def pricer_lines(result_lines: pl.DataFrame) -> pl.DataFrame:
    """The registry's columns from ``PricingResult.lines``."""
    return result_lines.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("line_index"),
        pl.col("pricing_method").cast(pl.String),
        pl.col("line_status").cast(pl.String),
        pl.col("reason").cast(pl.String),
        cents("fee_schedule_amount").alias("fee_schedule_amount"),
        cents("allowed_amount").alias("allowed_amount"),
    )


def write_output(frame: pl.DataFrame, path) -> None:
    """Write an implementation's full output (Parquet), as ``pricer reprice -o`` does: zstd
    level 1 (the batch's setting; polars' default level 3 took 0.9 s longer for 10 M priced
    lines and made a file about as big)."""
    frame.write_parquet(path, compression="zstd", compression_level=1)


def price_pricer(claims, contract, schedules, output=None) -> pl.DataFrame:
    """pricer.price end to end (read, validate, encode, kernel, assemble); with ``output``,
    the priced lines (every input and output column) are written there as Parquet."""
    import pricer
    lines = pricer.price(claims, contract=contract, schedules=schedules).lines
    if output is not None:
        write_output(lines, output)
    return pricer_lines(lines)


def price_polars_only(claims, contract, schedules, output=None, with_inputs=False
                      ) -> pl.DataFrame:
    """The polars-only implementation; with ``output``, its result is written there (with
    ``with_inputs``, after every input column, as pricer writes priced lines)."""
    if with_inputs and output is not None:
        claims = pl.read_parquet(claims) if isinstance(claims, (str, Path)) else claims
    frame = price_polars(claims, contract, schedules)
    if output is not None:
        write_output(pl.concat([claims, frame.drop("line_index")], how="horizontal")
                     if with_inputs else frame, output)
    return frame


def price_duckdb_only(claims, contract, schedules, output=None, with_inputs=False
                      ) -> pl.DataFrame:
    """The DuckDB SQL implementation; with ``output``, DuckDB writes its result there (with
    ``with_inputs``, after every input column)."""
    from duckdb_rbrvs import price_duckdb  # imported on use: duckdb is a dev dependency
    return price_duckdb(claims, contract, schedules, output=output, with_inputs=with_inputs)


IMPLEMENTATIONS = {
    "pricer": price_pricer,
    "polars": price_polars_only,
    "duckdb": price_duckdb_only,
}

# The alternatives writing what pricer writes of a line: every input column, then their own
# result columns (like for like in the end-to-end comparisons; the registry entries above
# write their few result columns only). Same amounts: the parity test covers the entries.
WITH_INPUTS = {f"{name}+inputs": partial(IMPLEMENTATIONS[name], with_inputs=True)
               for name in ("polars", "duckdb")}


def implementation(name: str):
    """A registry entry or one of ``WITH_INPUTS`` by name."""
    return {**IMPLEMENTATIONS, **WITH_INPUTS}[name]


# Methods every implementation prices, and whether a line must give a `locality` for it.
COMMON_METHODS = {"rbrvs": True, "percent_of_charges": False}


def locality_given(claims) -> pl.Series:
    """Boolean per line: the claim line gives a non-blank ``locality``."""
    frame = pl.scan_parquet(claims) if isinstance(claims, (str, Path)) else claims.lazy()
    if "locality" not in frame.collect_schema():
        return frame.select(pl.repeat(False, pl.len()).alias("locality_given")).collect() \
            .to_series()
    return frame.select(
        (pl.col("locality").cast(pl.String).str.strip_chars().fill_null("") != "")
        .alias("locality_given")
    ).collect().to_series()


def compare(results: dict[str, pl.DataFrame], given: pl.Series, reference: str = "pricer"):
    """Compare every implementation with ``reference`` on the lines both price.

    Returns ``(compared, mismatches, uncovered)``:

    - ``compared``: lines per method where both give an amount (dict method -> count, per
      implementation name),
    - ``mismatches``: frame of lines where an implementation prices a line (non-null
      ``allowed_amount``) and the reference gives another method or amount. A reference
      rejection ``locality_invalid`` on a line without a given locality is not a mismatch
      (only the engine resolves state/county/ZIP),
    - ``uncovered``: frame of lines the reference prices by a common method (``rbrvs`` with a
      given locality, ``percent_of_charges``) that an implementation leaves unpriced.
    """
    ref = results[reference].select(
        "line_index",
        pl.col("pricing_method").alias("ref_method"),
        pl.col("allowed_amount").alias("ref_allowed"),
        (pl.col("reason") if "reason" in results[reference].columns
         else pl.lit(None, pl.String)).alias("ref_reason"),
    ).with_columns(given.alias("locality_given"))
    compared, mismatches, uncovered = {}, [], []
    for name, frame in results.items():
        if name == reference:
            continue
        j = ref.with_columns(
            frame["pricing_method"].alias("method"), frame["allowed_amount"].alias("allowed"))
        priced = j.filter(pl.col("allowed").is_not_null()
                          & ~((pl.col("ref_reason") == "locality_invalid").fill_null(False)
                              & ~pl.col("locality_given")))
        compared[name] = dict(priced.group_by("method").len().iter_rows())
        bad = priced.filter((pl.col("method") != pl.col("ref_method"))
                            | (pl.col("allowed") != pl.col("ref_allowed")))
        mismatches.append(bad.with_columns(pl.lit(name).alias("implementation")))
        need = pl.lit(False)
        for method, needs_locality in COMMON_METHODS.items():
            m = pl.col("ref_method") == method
            need = need | (m & pl.col("locality_given") if needs_locality else m)
        miss = j.filter(need & pl.col("allowed").is_null()
                        & (pl.col("method") != "policy_out_of_scope"))
        uncovered.append(miss.with_columns(pl.lit(name).alias("implementation")))
    return compared, pl.concat(mismatches), pl.concat(uncovered)
