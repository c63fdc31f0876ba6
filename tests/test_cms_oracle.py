"""Parity with CMS: every row of CMS's own 2025 Washington payment amounts, to the cent.

Source: CMS CY2025 PFS payment amount file PFWA25A.TXT (carrier 02402), 145 rows sampled in
shared/data/cms/oracle (see its SOURCES.md). Priced as Medicare lines, January 2025 RVUs,
non-facility (POS 11) and facility (POS 21).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

import pricer
from conftest import ORACLE


@pytest.fixture(scope="module")
def oracle() -> pl.DataFrame:
    if not ORACLE.exists():
        pytest.fail(f"CMS oracle file not found at {ORACLE}: shared/ must sit beside the repo")
    return pl.read_csv(ORACLE, infer_schema=False)


@pytest.mark.parametrize("pos,column", [("11", "nonfacility_fee_amount"),
                                        ("21", "facility_fee_amount")])
def test_oracle_every_row(schedules, contract, oracle, pos, column):
    claims = oracle.select(
        pl.format("O{}", pl.int_range(pl.len())).alias("claim_id"),
        pl.lit(1).alias("line_number"),
        pl.lit("1").alias("member_id"),
        pl.lit("medicare").alias("line_of_business"),
        pl.lit(dt.date(2025, 6, 15)).alias("date_of_service"),
        pl.col("hcpcs"),
        pl.col("modifier").alias("modifier_1"),
        pl.lit(1).alias("units"),
        pl.lit("99999.99").alias("billed_charge"),
        pl.lit(pos).alias("place_of_service"),
        pl.format("{}-{}", pl.col("carrier"), pl.col("locality")).alias("locality"),
    )
    lines = pricer.price(claims, contract, schedules).lines
    expected = [Decimal(v) for v in oracle[column].to_list()]
    got = lines["allowed_amount"].to_list()
    mismatches = [(r["hcpcs"], r["modifier"], r["locality"], e, g)
                  for r, e, g in zip(oracle.iter_rows(named=True), expected, got) if e != g]
    assert len(oracle) == 145
    assert mismatches == []
    assert set(lines["pricing_method"].cast(str).to_list()) == {"rbrvs"}
