"""Every implementation of the benchmark registry prices the common lines to the same cent.

The registry (``benchmarks/implementations.py``) holds pricer itself, a polars-only
implementation of RBRVS (§6) and percent of charges (§10) written apart from the engine
(``benchmarks/polars_rbrvs.py``) and the same scope written as DuckDB SQL
(``benchmarks/duckdb_rbrvs.py``). On the lines pricer and another implementation both price
(RBRVS lines that give a ``locality``, and percent-of-charges lines) they must give the same
method and the same allowed amount, and no implementation may leave one of those lines
unpriced. The polars and DuckDB implementations have one scope: they must agree on every line
(method, fee schedule amount, allowed amount, total RVU).
"""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import polars as pl
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

from implementations import IMPLEMENTATIONS, compare, locality_given  # noqa: E402
from polars_rbrvs import price_polars  # noqa: E402

from conftest import claim_lines  # noqa: E402

LINES = 50_000


def _what_if(contract):
    """Terms swapped around so both rounding modes meet both kinds of conversion factor."""
    return (
        contract
        .replace_lob("commercial", rounding="cms", conversion_factor="61.2345",
                     percent_of_charges="0.4725")
        .replace_lob("medicare", rounding="rvu_2dp", conversion_factor="33.4009",
                     status_policy={"N": "rbrvs", "I": "gap_fill", "C": "deny:96"})
        .replace_lob("medicaid", rounding="cms", conversion_factor="cms",
                     percent_of_charges="1.25", carve_outs=[])
    )


@pytest.fixture(scope="module")
def claims(schedules):
    from pricer.synth import synth_claims
    return synth_claims(LINES, seed=20250, invalid_share=0.02, schedules=schedules)


SAME_SCOPE = ("polars", "duckdb")  # two writings of one scope: identical on every line


def _same_scope(results: dict[str, pl.DataFrame]) -> None:
    first, *others = SAME_SCOPE
    for name in others:
        assert results[name].columns == results[first].columns, name
        diff = results[first].join(results[name], on="line_index", suffix=f"_{name}").filter(
            pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_{name}"))
                              for c in results[first].columns if c != "line_index"))
        with pl.Config(tbl_cols=-1, tbl_rows=30, tbl_width_chars=200):
            assert diff.height == 0, f"{first} and {name} differ:\n{diff.head(30)}"


def _check(claims, contract, schedules) -> dict:
    results = {name: impl(claims, contract, schedules) for name, impl in IMPLEMENTATIONS.items()}
    for name, frame in results.items():
        assert frame.height == claims.height, name
        assert frame["line_index"].to_list() == list(range(claims.height)), name
    compared, mismatches, uncovered = compare(results, locality_given(claims))
    with pl.Config(tbl_cols=-1, tbl_rows=30, tbl_width_chars=200):
        assert mismatches.height == 0, f"amounts or methods differ:\n{mismatches.head(30)}"
        assert uncovered.height == 0, f"common lines left unpriced:\n{uncovered.head(30)}"
    _same_scope(results)
    return {"compared": compared, "results": results}


def test_registry_names_pricer_polars_and_duckdb():
    assert {"pricer", "polars", "duckdb"} <= set(IMPLEMENTATIONS)


@pytest.mark.parametrize("terms", ["default", "what_if"])
def test_synthetic_lines_same_allowed_amounts(claims, contract, schedules, terms):
    if terms == "what_if":
        contract = _what_if(contract)
    out = _check(claims, contract, schedules)
    assert set(out["compared"]) >= set(SAME_SCOPE)
    for name, counts in out["compared"].items():
        assert counts.get("rbrvs", 0) > LINES // 10, (name, counts)
        assert counts.get("percent_of_charges", 0) > LINES // 100, (name, counts)

    # the compared RBRVS lines exercise every rule of §6 the polars implementation covers
    rb = out["results"]["polars"]["pricing_method"] == "rbrvs"
    mods = [pl.col(f"modifier_{k}").str.strip_chars().str.to_uppercase() for k in range(1, 5)]
    lines = claims.filter(rb).select(
        pl.any_horizontal([m == "26" for m in mods]).fill_null(False).alias("pc"),
        pl.any_horizontal([m == "TC" for m in mods]).fill_null(False).alias("tc"),
        pl.col("place_of_service").cast(pl.Int32).is_in([21, 22, 23, 24]).alias("facility"),
        pl.col("line_of_business").is_in(["medicare", "medicare_cost"]).alias("medicare"),
        ((pl.col("date_of_service") > dt.date(2026, 1, 31))
         & ~pl.col("locality").str.starts_with("024")).alias("no_floor"),
        (pl.col("units") > 1).alias("units"),
    ).sum()
    assert all(v > 0 for v in lines.row(0)), lines


def test_hand_made_lines(schedules, contract):
    """Row selection, facility, floor and method edges on a few explicit lines."""
    frame = claim_lines(
        {"hcpcs": "99213"},
        {"hcpcs": "99213", "place_of_service": "22"},
        {"hcpcs": "99213", "place_of_service": "2"},
        {"hcpcs": "71046", "modifier_1": "26"},
        {"hcpcs": "71046", "modifier_2": "tc"},
        {"hcpcs": "71046", "modifier_1": "26", "modifier_2": "TC"},   # denied CO-4
        {"hcpcs": "86153"},                                         # 26 only: denied CO-4
        {"hcpcs": "86153", "modifier_3": "26"},
        {"hcpcs": "99213", "locality": "10112-00", "date_of_service": dt.date(2026, 1, 31)},
        {"hcpcs": "99213", "locality": "10112-00", "date_of_service": dt.date(2026, 2, 1)},
        {"hcpcs": "99213", "units": 3, "billed_charge": "10.00"},    # lower of charges
        {"hcpcs": "99213", "line_of_business": "medicare"},
        {"hcpcs": "99213", "line_of_business": "medicare", "place_of_service": "21"},
        {"hcpcs": "S9083", "line_of_business": "medicare"},         # status I: deny / pct
        {"hcpcs": "85025", "billed_charge": "33.33"},               # status X: pct
        {"hcpcs": "85025", "billed_charge": "33.33", "locality": None},
        {"hcpcs": "0241U", "billed_charge": "99.99"},               # not in the RVU file
        {"hcpcs": "99213", "locality": "99999-99"},                 # rejected
        {"hcpcs": "99213", "date_of_service": dt.date(2027, 3, 1)},  # no vintage: pct
    )
    out = _check(frame, contract, schedules)
    methods = out["results"]["polars"]["pricing_method"].to_list()
    assert methods[:5] == ["rbrvs"] * 5
    assert methods[5:7] == ["denied", "denied"]
    assert methods[14:17] == ["percent_of_charges"] * 3
    assert methods[17] == "rejected"
    assert methods[18] == "percent_of_charges"
    allowed = out["results"]["pricer"]["allowed_amount"].to_list()
    assert allowed[8] != allowed[9]      # the 1.0 work floor ends 2026-01-31 (Alabama)
    assert allowed[10] == 1000           # billed $10.00 < fee


@pytest.mark.parametrize("terms", ["default", "what_if"])
def test_parquet_in_parquet_out(claims, contract, schedules, terms, tmp_path):
    """From a Parquet path (DuckDB reads it itself) to the output Parquet (DuckDB's COPY): the
    same lines as from the frame, and the file holds the frame returned."""
    if terms == "what_if":
        contract = _what_if(contract)
    path = tmp_path / "claims.parquet"
    claims.write_parquet(path)
    from_frame = IMPLEMENTATIONS["duckdb"](claims, contract, schedules)
    for name in SAME_SCOPE:
        out = tmp_path / f"{name}.parquet"
        frame = IMPLEMENTATIONS[name](str(path), contract, schedules, output=out)
        assert frame.equals(from_frame), name
        assert pl.read_parquet(out).equals(frame), name


def test_comparison_implementations_refuse_terms_they_do_not_implement(contract, schedules):
    from duckdb_rbrvs import price_duckdb
    dated = contract.replace_lob("commercial", periods=[
        {"effective_from": "2025-07-01", "conversion_factor": "60.00"}])
    frame = claim_lines({"hcpcs": "99213"})
    for price in (price_polars, price_duckdb):
        with pytest.raises(NotImplementedError, match="lob.commercial: periods"):
            price(frame, dated, schedules)
