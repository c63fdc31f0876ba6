"""MULT PROC 3-7 (rule book §11, RVU file read-me) on published examples.

The examples are stated in dollars; to price them through the engine exactly, the RVU rows
of the codes involved are set to those dollar amounts (work RVU = the PC or endoscopy amount,
PE RVU = the TC amount) in a copy of the bundled schedules whose Seattle locality (02402-02)
has every GPCI at 1.000, and the contract's commercial conversion factor is 1.00: the fee
schedule amount of a line is then its RVUs, to the cent. The MULT PROC indicators, ENDO BASE
codes and imaging families stay CMS's.

Sources:
- imaging (4): CMS MLN Matters MM9647 (CY 2017 change of the PC reduction from 25 % to 5 %):
  PC $100 + 95 % x $80 = $176; TC $500 + 50 % x $400 = $700; global $876.
- endoscopy (3): Medicare Claims Processing Manual, Chapter 12, §40.6.2: 45378 $255.40,
  45380 $285.98, 45385 $374.56 -> 374.56 + (285.98 - 255.40) = $405.14 (figures as quoted
  from the manual; checked for consistency, the PDF itself was not at hand); the family then
  ranks as one procedure with the other surgery of the day (RVU file read-me, indicator 3).
- therapy (5), cardiovascular (6), ophthalmology (7): the RVU file read-me's percentages (50 %
  of the PE of every unit but the first of the highest; 25 % and 20 % of the TC of every
  procedure but the highest), on amounts chosen here.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import polars as pl
import pytest

import pricer
from pricer.contract import Contract
from pricer.schedules import Schedules

DOS = dt.date(2025, 3, 3)
LOCALITY = "02402-02"

# (hcpcs, modifier) -> (work, PE non-facility, PE facility, MP) in dollars = RVUs at CF 1.00
ROWS = {
    ("74177", ""): ("100.00", "500.00", "500.00", "0"), ("74177", "26"): ("100.00", "0", "0", "0"),
    ("74177", "TC"): ("0", "500.00", "500.00", "0"),
    ("70450", ""): ("80.00", "400.00", "400.00", "0"), ("70450", "26"): ("80.00", "0", "0", "0"),
    ("70450", "TC"): ("0", "400.00", "400.00", "0"),
    ("45378", ""): ("255.40", "0", "0", "0"), ("45380", ""): ("285.98", "0", "0", "0"),
    ("45385", ""): ("374.56", "0", "0", "0"), ("27447", ""): ("1000.00", "0", "0", "0"),
    ("97110", ""): ("10.00", "20.00", "20.00", "0"), ("97140", ""): ("10.00", "15.00", "15.00", "0"),
    ("93306", ""): ("50.00", "200.00", "200.00", "0"), ("93306", "26"): ("50.00", "0", "0", "0"),
    ("93306", "TC"): ("0", "200.00", "200.00", "0"),
    ("93880", ""): ("30.00", "100.00", "100.00", "0"), ("93880", "26"): ("30.00", "0", "0", "0"),
    ("93880", "TC"): ("0", "100.00", "100.00", "0"),
    ("92134", ""): ("20.00", "40.00", "40.00", "0"), ("92134", "26"): ("20.00", "0", "0", "0"),
    ("92134", "TC"): ("0", "40.00", "40.00", "0"),
    ("92250", ""): ("25.00", "60.00", "60.00", "0"), ("92250", "26"): ("25.00", "0", "0", "0"),
    ("92250", "TC"): ("0", "60.00", "60.00", "0"),
}


def _hundredths(v: str) -> int:
    return int(Decimal(v) * 100)


@pytest.fixture(scope="module")
def dollars(schedules):
    """The bundled schedules, with ROWS' RVUs and GPCIs of 1.000 in 02402-02."""
    rvu = schedules.covering("rvu", DOS)
    gpci = schedules.covering("gpci", DOS)
    table = rvu.table
    for (code, mod), values in ROWS.items():
        hit = (pl.col("hcpcs") == code) & (pl.col("modifier") == mod)
        assert table.filter(hit).height == 1, (code, mod)
        table = table.with_columns(
            pl.when(hit).then(pl.lit(_hundredths(v))).otherwise(pl.col(c)).alias(c)
            for c, v in zip(("work_rvu", "pe_nonfacility_rvu", "pe_facility_rvu", "mp_rvu"), values))
    gp = gpci.table.with_columns(
        pl.when(pl.col("locality") == LOCALITY).then(pl.lit(1000, pl.Int64)).otherwise(pl.col(c))
        .alias(c) for c in ("work_gpci", "work_gpci_no_floor", "pe_gpci", "mp_gpci"))
    vintages = []
    for kind in ("rvu", "gpci", "anes_cf", "anes_base", "asp", "locco", "oppscap"):
        for v in schedules.vintages(kind):
            if v is rvu:
                v = replace(v, table=table)
            elif v is gpci:
                v = replace(v, table=gp)
            vintages.append(v)
    return Schedules(schedules.root, vintages)


@pytest.fixture(scope="module")
def at_cf_one(tmp_path_factory):
    path = tmp_path_factory.mktemp("contract") / "cf1.toml"
    path.write_text('name = "CF 1.00"\ndefault_locality = "02402-02"\n\n'
                    '[lob.commercial]\nconversion_factor = "1.00"\nrounding = "rvu_2dp"\n')
    return Contract.from_toml(path)


def price(dollars, at_cf_one, specs, billed="9000.00"):
    """Lines (hcpcs, modifier[, units[, billed]]) of one claim, one provider, one DOS."""
    rows = []
    for n, (code, mod, *rest) in enumerate(specs, 1):
        units = rest[0] if rest else 1
        rows.append(dict(claim_id="P", line_number=n, member_id="1", line_of_business="commercial",
                         date_of_service=DOS, hcpcs=code, modifier_1=mod or None, units=units,
                         billed_charge=Decimal(rest[1] if len(rest) > 1 else billed),
                         place_of_service="11", locality=LOCALITY, rendering_npi="1234567893"))
    claims = pl.DataFrame(rows, schema_overrides={"billed_charge": pl.Decimal(18, 2),
                                                  "modifier_1": pl.String})
    return pricer.price(claims, at_cf_one, dollars)


def amounts(result, column="allowed_amount"):
    return [str(v) for v in result.lines[column].to_list()]


def cut(result):
    """The CO-59 multiple_procedure reduction of each line (0 when none)."""
    adj = result.adjustments.filter(pl.col("step") == "multiple_procedure")
    by_line = dict(zip(adj["line_index"].to_list(), adj["amount"].to_list()))
    assert set(adj["carc"].to_list()) <= {59}
    return [str(by_line.get(i, Decimal("0.00"))) for i in range(result.lines.height)]


def test_imaging_mm9647_professional_technical_and_global(dollars, at_cf_one):
    pc = price(dollars, at_cf_one, [("74177", "26"), ("70450", "26")])
    assert amounts(pc) == ["100.00", "76.00"]                      # $176
    tc = price(dollars, at_cf_one, [("74177", "TC"), ("70450", "TC")])
    assert amounts(tc) == ["500.00", "200.00"]                     # $700
    glob = price(dollars, at_cf_one, [("70450", ""), ("74177", "")])
    assert amounts(glob) == ["276.00", "600.00"]                   # $876, ranked by amount
    assert cut(glob) == ["204.00", "0.00"]


def test_imaging_charges_below_and_between(dollars, at_cf_one):
    # billed below the reduced fee: allowed is the charge, no reduction row
    low = price(dollars, at_cf_one, [("74177", ""), ("70450", "", 1, "250.00")])
    assert amounts(low) == ["600.00", "250.00"] and cut(low) == ["0.00", "0.00"]
    # between the reduced and the full fee: the reduction row is what the charge lost
    mid = price(dollars, at_cf_one, [("74177", ""), ("70450", "", 1, "400.00")])
    assert amounts(mid) == ["600.00", "276.00"] and cut(mid) == ["0.00", "124.00"]


def test_endoscopy_family_claims_processing_manual(dollars, at_cf_one):
    r = price(dollars, at_cf_one, [("45380", ""), ("45385", "")])
    assert amounts(r) == ["30.58", "374.56"]                       # $405.14
    # billed with its base too: the base is paid nothing
    r = price(dollars, at_cf_one, [("45378", ""), ("45380", ""), ("45385", "")])
    assert amounts(r) == ["0.00", "30.58", "374.56"]
    assert cut(r) == ["255.40", "255.40", "0.00"]


def test_endoscopy_family_ranks_as_one_procedure(dollars, at_cf_one):
    # the family ($405.14) ranks second to a $1,000 surgery: each of its lines is halved
    r = price(dollars, at_cf_one, [("45380", ""), ("27447", ""), ("45385", "")])
    assert amounts(r) == ["15.29", "1000.00", "187.28"]
    # a lone endoscopy with its base only: the base is bundled, the family alone is 100 %
    r = price(dollars, at_cf_one, [("45378", ""), ("45385", "")])
    assert amounts(r) == ["0.00", "374.56"]


def test_therapy_practice_expense_of_every_unit_but_the_first(dollars, at_cf_one):
    # 97110: $30 a unit (PE $20); 97140: $25 a unit (PE $15)
    r = price(dollars, at_cf_one, [("97140", "", 2), ("97110", "", 3)])
    assert amounts(r) == ["35.00", "70.00"]   # 50.00 - 2 x 7.50; 90.00 - 2 x 10.00
    one = price(dollars, at_cf_one, [("97110", "", 3)])
    assert amounts(one) == ["70.00"]          # a line alone: its first unit in full


def test_cardiovascular_and_ophthalmology_technical_component(dollars, at_cf_one):
    cardio = price(dollars, at_cf_one, [("93880", ""), ("93306", "")])
    assert amounts(cardio) == ["105.00", "250.00"]   # 130 - 25 % x TC 100; PC untouched
    eyes = price(dollars, at_cf_one, [("92134", ""), ("92250", "")])
    assert amounts(eyes) == ["52.00", "85.00"]       # 60 - 20 % x TC 40
    # different indicators do not reduce each other
    mixed = price(dollars, at_cf_one, [("93880", ""), ("92134", ""), ("70450", "")])
    assert amounts(mixed) == ["130.00", "60.00", "480.00"]


def test_other_days_and_providers_are_other_sessions(dollars, at_cf_one):
    r = price(dollars, at_cf_one, [("74177", ""), ("70450", "")])
    lines = r.lines.with_columns(
        pl.when(pl.col("line_number") == 2).then(pl.lit("1992753880")).otherwise(
            pl.col("rendering_npi")).alias("rendering_npi"))
    inputs = lines.select(["claim_id", "line_number", "member_id", "line_of_business",
                           "date_of_service", "hcpcs", "modifier_1", "units", "billed_charge",
                           "place_of_service", "locality", "rendering_npi"])
    again = pricer.price(inputs, at_cf_one, dollars)
    assert amounts(again) == ["600.00", "480.00"]
