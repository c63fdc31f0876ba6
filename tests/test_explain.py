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


def test_plan_cost_shares_explained(schedules, contract):
    """docs/cost_share.md: the plan's terms, the copay category of the line (by the rendering
    provider's type), preventive care in full, cost shares given by the benefit system, and
    what another payer paid; the steps' amounts are the engine's adjustments."""
    plans = pricer.Plans.from_dict({"plan": {"SILVER": {
        "deductible": 150, "coinsurance": 0.2, "out_of_pocket_max": 400,
        "family_deductible": 300, "preventive_covered_in_full": True,
        "copays": {"office_visit": 25, "specialist_office_visit": 50}}}})

    def line(claim, n, code, **kw):
        return dict(claim_id=claim, line_number=n, member_id="77", line_of_business="commercial",
                    date_of_service=dt.date(2025, 3, 3), hcpcs=code, units=1,
                    billed_charge=Decimal("900.00"), place_of_service="11",
                    locality="02402-02", plan_id="silver", rendering_provider_type="physician",
                    other_payer_paid=None, deductible=None, **kw)
    rows = [line("P1", 1, "99213"), line("P1", 2, "99385"), line("P1", 3, "99284"),
            line("P2", 1, "99213", ), line("P3", 1, "99214")]
    rows[3]["rendering_provider_type"] = "lab_technician"
    rows[3]["claim_id"] = "P2"
    rows[4]["other_payer_paid"] = Decimal("40.00")
    rows.append({**line("P4", 1, "99213"), "deductible": Decimal("10.00")})
    frame = pl.DataFrame(rows, schema_overrides={
        "billed_charge": pl.Decimal(18, 2), "other_payer_paid": pl.Decimal(18, 2),
        "deductible": pl.Decimal(18, 2)})
    result = pricer.price(frame, contract, schedules, plans=plans)
    p1 = result.explain("P1")
    terms = ("plan SILVER (year from 01-01): deductible 150.00, family 300.00, coinsurance 20 %, "
             "out-of-pocket maximum 400.00")
    assert p1.count(terms) == 3
    assert "copay category office_visit: 25.00 once per visit, no deductible or coinsurance" in p1
    assert "preventive care: covered in full" in p1
    assert "no copay for this service: deductible, then coinsurance" in p1
    assert "PR-3 copay: 25.00" in p1 and "PR-1 deductible: 150.00" in p1
    p2 = result.explain("P2")
    assert ("no copay for this service (an office visit with a lab technician): deductible, "
            "then coinsurance") in p2
    assert "PR-3" not in p2
    p3 = result.explain("P3")
    assert ("other payer paid 40.00: coordination of benefits, standard (the plan pays the "
            "lesser of its normal payment and allowed less the other payer's payment)") in p3
    assert "OA-23 coordination_of_benefits" in p3
    p4 = result.explain("P4")
    assert "cost shares given on the line by the benefit system" in p4 and "plan SILVER" not in p4
    assert "PR-1 deductible: 10.00" in p4


def test_cli_explain_with_plans_prices_the_member_s_earlier_lines(tmp_path, capsys, schedules,
                                                                   contract):
    """With plans the CLI prices the whole input: the second claim's deductible is what the
    first one left (here nothing), as in `pricer.price` over every line."""
    plans = tmp_path / "plans.toml"
    plans.write_text("[plan.A]\ndeductible = 100.00\ncoinsurance = 0.2\n")

    def line(claim, day):
        return dict(claim_id=claim, line_number=1, member_id="5", line_of_business="commercial",
                    date_of_service=dt.date(2025, 3, day), hcpcs="99214", units=1,
                    billed_charge="900.00", place_of_service="11", locality="02402-02",
                    plan_id="A")
    path = tmp_path / "claims.csv"
    pl.DataFrame([line("FIRST", 3), line("SECOND", 4)]).write_csv(path)
    assert main(["explain", str(path), "--claim", "SECOND", "--plans", str(plans)]) == 0
    out = capsys.readouterr().out
    whole = pricer.price(path, contract, schedules, plans=plans).explain("SECOND")
    assert out.strip() == whole.strip()
    assert "PR-1" not in out and "PR-2 coinsurance: 50.23" in out  # 20 % of 251.14
    assert main(["explain", str(path), "--claim", "FIRST", "--plans", str(plans)]) == 0
    assert "PR-1 deductible: 100.00" in capsys.readouterr().out
