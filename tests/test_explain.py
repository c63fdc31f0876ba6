"""result.explain and `pricer explain`: what a provider-relations analyst reads out.

The table values quoted are CMS's: 99213 RVU25A work 1.30 / non-facility PE 1.35 / MP 0.10,
GPCI 2025 Seattle (02402-02) work 1.043 (1.0 floor era) / PE 1.220 / MP 0.853 (see
shared/data/cms/SOURCES.md); the J9035 2025Q1 payment limit 73.190 per 10 mg.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

import pricer
from pricer.cli import main


def claim_frame():
    def line(n, code, units=1, mod=None, pos="11", ndc=None):
        return dict(claim_id="X1", line_number=n, member_id="1", line_of_business="medicare",
                    date_of_service=dt.date(2025, 3, 3), hcpcs=code, units=units,
                    billed_charge=Decimal("5000.00"), place_of_service=pos,
                    locality="02402-02", modifier_1=mod, rendering_npi="1234567893", ndc=ndc)
    rows = [line(1, "27447", pos="22"), line(2, "19303", pos="22"),
            line(3, "00840", 117, "AA", "22"), line(4, "J9035", 40, ndc="50242-0060-01"),
            line(5, "99213", mod="22"),
            {**line(1, "99213"), "claim_id": "other"}]
    return pl.DataFrame(rows, schema_overrides={"billed_charge": pl.Decimal(18, 2),
                                                "modifier_1": pl.String, "ndc": pl.String})


@pytest.fixture(scope="module")
def text(schedules, contract):
    return pricer.price(claim_frame(), contract, schedules).explain("X1")


def test_every_line_of_the_claim_and_only_them(text):
    assert text.startswith("Claim X1: 5 line(s), billed 25,000.00")
    assert [l.split(":")[0] for l in text.splitlines() if l.startswith("Line ")] == [
        f"Line {n}" for n in range(1, 6)]


def test_table_values_quoted(text):
    assert "RVUs (RVU25A, row blank): work 1.30, PE non-facility 1.35, MP 0.10" in text
    assert "GPCIs (GPCI2025, 02402-02): work 1.043 (with the 1.0 floor), PE 1.220, MP 0.853" in text
    assert "conversion factor 32.3465" in text
    assert "6.0 base units + 7.8 time units (117 minutes)" in text
    assert "payment limit 73.190 per dosage unit x 40 units" in text


def test_steps_amounts_and_flags(schedules, contract, text):
    r = pricer.price(claim_frame(), contract, schedules)
    second = r.lines.row(1, named=True)  # 19303 ranks second: 50 %
    cut = r.adjustments.filter((pl.col("line_index") == 1) & (pl.col("step") == "multiple_procedure"))
    assert cut.height == 1
    assert f"CO-59 multiple_procedure: {cut['amount'][0]:,.2f}" in text
    assert f"paid {second['paid_amount']:,.2f}" in text
    assert "flags: high_dollar_claim, modifier_22" in text


def test_unknown_claim(schedules, contract):
    r = pricer.price(claim_frame(), contract, schedules)
    with pytest.raises(KeyError, match="NOPE"):
        r.explain("NOPE")


def test_cli_explain(tmp_path, capsys, schedules, contract, text):
    path = tmp_path / "claims.parquet"
    claim_frame().write_parquet(path)
    assert main(["explain", str(path), "--claim", "X1"]) == 0
    assert capsys.readouterr().out.strip() == text.strip()
    assert main(["explain", str(path), "--claim", "NOPE"]) == 2
    assert "no line has claim_id 'NOPE'" in capsys.readouterr().err


def test_multiple_procedure_rows_say_which_rule(schedules, contract):
    """The CO-59 row of an imaging line names the imaging rule (MULT PROC 4)."""
    def line(n, code):
        return dict(claim_id="I1", line_number=n, member_id="1", line_of_business="commercial",
                    date_of_service=dt.date(2025, 3, 3), hcpcs=code, units=1,
                    billed_charge=Decimal("5000.00"), place_of_service="11",
                    locality="02402-02", rendering_npi="1234567893")
    claims = pl.DataFrame([line(1, "74177"), line(2, "70450")],
                          schema_overrides={"billed_charge": pl.Decimal(18, 2)})
    text = pricer.price(claims, contract, schedules).explain("I1")
    assert "multiple_procedure" in text and "(MULT PROC 4, diagnostic imaging: 50 % of the " \
        "technical and 5 % of the professional component)" in text
