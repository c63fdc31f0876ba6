"""Every claims source the API accepts prices the same lines the same way."""
from __future__ import annotations

import polars as pl
import pytest

import pricer
from pricer.synth import synth_claims


@pytest.fixture(scope="module")
def claims():
    return synth_claims(1_500, seed=21, invalid_share=0.02)


@pytest.fixture(scope="module")
def expected(claims, contract, schedules):
    return pricer.price(claims, contract, schedules).lines


def _same(result, expected):
    lines = result.lines
    assert lines.height == expected.height
    for col in ("line_status", "pricing_method", "allowed_amount", "paid_amount", "reason"):
        assert lines[col].cast(pl.String).to_list() == expected[col].cast(pl.String).to_list(), col


@pytest.mark.parametrize("kind", ["pandas", "arrow", "lazy", "parquet", "csv", "priced_again"])
def test_sources_agree(kind, claims, expected, contract, schedules, tmp_path):
    if kind == "pandas":
        source = claims.to_pandas()
    elif kind == "arrow":
        source = claims.to_arrow()
    elif kind == "lazy":
        source = claims.lazy()
    elif kind == "parquet":
        source = tmp_path / "c.parquet"
        claims.write_parquet(source)
    elif kind == "csv":
        source = tmp_path / "c.csv"
        claims.write_csv(source)
    else:  # a priced file fed back in: its output columns are recomputed, not duplicated
        source = expected
    result = pricer.price(source, contract, schedules)
    _same(result, expected)
    if kind == "priced_again":
        assert result.lines.columns == expected.columns


def test_empty_input(claims, contract, schedules):
    result = pricer.price(claims.head(0), contract, schedules)
    assert result.lines.height == 0 and result.adjustments.height == 0
    assert result.summary().height == 0


def test_not_a_claims_source(contract, schedules):
    with pytest.raises(TypeError, match="claims must be"):
        pricer.price(42, contract, schedules)
