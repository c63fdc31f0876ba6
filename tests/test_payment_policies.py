"""§11 line-level payment policies and claim edits, against the percentages CMS publishes.

Sources: Medicare Claims Processing Manual, chapter 12 — §40.7 bilateral surgery (150 % of the
fee schedule amount for one side when BILAT SURG is 1), §20.4.3 assistant at surgery (16 % of
the surgeon's fee schedule amount; 85 % of that, 13.6 %, for non-physician assistants, modifier
AS), §40.8 co-surgeons (62.5 % each) and team surgery (by report); the RVU file read-me for the
meaning of each indicator. Timely filing and the E&M facility-charge rule are KP Washington's
("Timely filing", "Claims submission requirements"). The amounts of the lines without a
modifier are checked against CMS's published amounts in test_cms_oracle.py.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

import pricer
from pricer.money import round_half_up


def line(**kw):
    row = {
        "claim_id": "C1", "line_number": 1, "member_id": "12345678",
        "line_of_business": "medicare", "date_of_service": dt.date(2025, 3, 3),
        "received_date": dt.date(2025, 3, 10), "hcpcs": "27447", "units": 1,
        "billed_charge": Decimal("9000.00"), "place_of_service": "22", "locality": "02402-02",
        "modifier_1": None, "modifier_2": None, "claim_form": "professional",
    }
    row.update(kw)
    return row


def price(*rows, contract=None, schedules=None):
    frame = pl.DataFrame(list(rows), schema_overrides={
        "billed_charge": pl.Decimal(18, 2), "modifier_1": pl.String, "modifier_2": pl.String})
    return pricer.price(frame, contract, schedules)


def one(result, i=0):
    return result.lines.row(i, named=True)


def balanced(result):
    adj = result.adjustments.group_by("line_index").agg(pl.col("amount").sum())
    lines = result.lines.with_row_index("line_index").join(adj, on="line_index", how="left")
    bad = lines.filter(pl.col("billed_charge") != pl.col("paid_amount") + pl.col("amount").fill_null(0))
    return bad.height == 0


@pytest.fixture(scope="module")
def full_fee(schedules, contract):
    """Fee of one side / one surgeon, no modifier: the base every percentage applies to."""
    def fee(code, **kw):
        return one(price(line(hcpcs=code, **kw), contract=contract, schedules=schedules))[
            "fee_schedule_amount"]
    return fee


@pytest.mark.parametrize("code, modifiers, units, share", [
    ("27447", ["50"], 1, Decimal("1.5")),     # BILAT SURG 1: 150 % of one side, paid once
    ("27447", [None], 2, Decimal("1.5")),     # ... also when billed as 2 units
    ("70030", ["50"], 1, Decimal("2")),       # BILAT SURG 3: 100 % each side
    ("47562", ["50"], 1, Decimal("1")),       # BILAT SURG 0: the 150 % does not apply
    ("11012", ["50"], 1, Decimal("1")),       # BILAT SURG 2: already bilateral
    ("27447", ["80"], 1, Decimal("0.16")),    # ASST SURG 2: 16 %
    ("27447", ["82"], 1, Decimal("0.16")),
    ("27447", ["AS"], 1, Decimal("0.136")),   # non-physician assistant: 85 % x 16 %
    ("27447", ["62"], 1, Decimal("0.625")),   # CO-SURG 1: 62.5 % each (documentation: review)
    ("G0412", ["62"], 1, Decimal("0.625")),   # CO-SURG 2
    ("27447", ["50", "80"], 1, Decimal("1.5") * Decimal("0.16")),  # assistant on a bilateral
])
def test_published_percentages(schedules, contract, full_fee, code, modifiers, units, share):
    base = full_fee(code)
    r = price(line(hcpcs=code, units=units, modifier_1=modifiers[0],
                   modifier_2=modifiers[1] if len(modifiers) > 1 else None),
              contract=contract, schedules=schedules)
    got = one(r)
    assert got["line_status"] == "priced" and got["pricing_method"] == "rbrvs"
    assert got["fee_schedule_amount"] == round_half_up(base * share, 2)
    assert got["allowed_amount"] == got["fee_schedule_amount"]  # billed 9,000 is above
    assert balanced(r)


def test_assistant_reduction_is_its_own_adjustment(schedules, contract, full_fee):
    base = full_fee("27447")
    r = price(line(modifier_1="80"), contract=contract, schedules=schedules)
    adj = r.adjustments.sort("step").select("group_code", "carc", "amount", "step").rows()
    fee = round_half_up(base * Decimal("0.16"), 2)
    assert adj == sorted([
        ("CO", 45, Decimal("9000.00") - base, "fee_schedule"),
        ("CO", 45, base - fee, "assistant_at_surgery"),
    ], key=lambda a: a[3])
    assert one(r)["paid_amount"] == fee


@pytest.mark.parametrize("billed_share", [Decimal("0.5"), Decimal("0.1")])
def test_lower_of_charges_after_the_reduction(schedules, contract, full_fee, billed_share):
    """Charges between the reduced and the full fee, and below the reduced fee."""
    base = full_fee("27447")
    billed = round_half_up(base * billed_share, 2)
    r = price(line(modifier_1="80", billed_charge=billed), contract=contract, schedules=schedules)
    fee = round_half_up(base * Decimal("0.16"), 2)
    got = one(r)
    assert got["fee_schedule_amount"] == fee
    assert got["allowed_amount"] == min(billed, fee)
    steps = dict(r.adjustments.select("step", "amount").rows())
    assert "fee_schedule" not in steps  # billed is below the full fee
    if billed > fee:
        assert steps == {"assistant_at_surgery": billed - fee}
    else:
        assert steps == {}
    assert balanced(r)


@pytest.mark.parametrize("code, modifier, reason", [
    ("69436", "80", "assistant_not_payable"),   # ASST SURG 1: statutory payment restriction
    ("G0508", "80", "assistant_not_payable"),   # 9: concept does not apply
    ("69436", "62", "co_surgery_not_payable"),  # CO-SURG 0
    ("27447", "66", "team_surgery_not_payable"),  # TEAM SURG 0
])
def test_modifier_denials(schedules, contract, code, modifier, reason):
    r = price(line(hcpcs=code, modifier_1=modifier), contract=contract, schedules=schedules)
    got = one(r)
    assert (got["line_status"], got["pricing_method"], got["reason"]) == ("denied", "denied", reason)
    assert got["fee_schedule_amount"] is None and got["allowed_amount"] == 0
    assert r.adjustments.select("group_code", "carc", "amount").rows() == [
        ("CO", 54, Decimal("9000.00"))]


def test_team_surgery_by_report_and_documentation_flags(schedules, contract, full_fee):
    r = price(line(hcpcs="22818", modifier_1="66", claim_id="T"),
              line(hcpcs="22836", modifier_1="80", claim_id="A"),
              line(hcpcs="27447", modifier_1="62", claim_id="C"), contract=contract,
              schedules=schedules)
    team, asst0, co1 = (one(r, i) for i in range(3))
    assert team["fee_schedule_amount"] == full_fee("22818") and "by_report" in team["flags"]
    assert "review" in asst0["flags"]  # ASST SURG 0: payable with documentation
    assert asst0["fee_schedule_amount"] == round_half_up(full_fee("22836") * Decimal("0.16"), 2)
    assert "review" in co1["flags"]  # CO-SURG 1: payable with documentation


def test_anesthesia_and_drugs_ignore_surgery_modifiers(schedules, contract):
    r = price(line(hcpcs="00840", units=117, modifier_1="AA", modifier_2="50"),
              contract=contract, schedules=schedules)
    assert one(r)["allowed_amount"] == Decimal("297.25")  # the worked vector, unchanged


def test_timely_filing(schedules, contract):
    limit = contract.terms("commercial").timely_filing_days
    dos = dt.date(2025, 3, 3)
    r = price(line(line_of_business="commercial", received_date=dos + dt.timedelta(days=limit)),
              line(line_of_business="commercial", received_date=dos + dt.timedelta(days=limit + 1)),
              contract=contract, schedules=schedules)
    assert one(r, 0)["line_status"] == "priced"
    late = one(r, 1)
    assert (late["line_status"], late["reason"]) == ("denied", "timely_filing")
    rows = r.adjustments.filter(pl.col("line_index") == 1).select("group_code", "carc").rows()
    assert rows == [("CO", 29)]
    shorter = contract.replace_lob("commercial", timely_filing_days=90)
    r = price(line(line_of_business="commercial", received_date=dos + dt.timedelta(days=91)),
              contract=shorter, schedules=schedules)
    assert one(r)["reason"] == "timely_filing"


@pytest.mark.parametrize("lob, form, denied", [
    ("commercial", "institutional", True),
    ("other", "UB-04", True),
    ("medicare", "institutional", False),   # the rule is for commercial/other members
    ("commercial", "professional", False),
    ("commercial", None, False),
])
def test_em_facility_charge(schedules, contract, lob, form, denied):
    r = price(line(hcpcs="99213", place_of_service="11", line_of_business=lob, claim_form=form,
                   billed_charge=Decimal("150.00")), contract=contract, schedules=schedules)
    got = one(r)
    if denied:
        assert (got["line_status"], got["reason"]) == ("denied", "em_facility_charge")
        assert got["member_liability"] == 0  # the member is not liable
        assert r.adjustments.select("group_code", "carc", "amount").rows() == [
            ("CO", 97, Decimal("150.00"))]
    else:
        assert got["line_status"] == "priced"


def test_review_flags(schedules, contract):
    r = price(line(hcpcs="99215", place_of_service="11", modifier_1="22"),
              line(hcpcs="99213", place_of_service="11", modifier_1="59"),
              contract=contract, schedules=schedules)
    assert one(r, 0)["flags"] == ["high_level_em", "modifier_22"]
    assert one(r, 1)["flags"] == ["modifier_59"]


@pytest.mark.parametrize("id_type", [pl.String, pl.Int64, pl.Categorical])
def test_high_dollar_claim(schedules, contract, id_type):
    """Claims billing more than $20,000 in all are flagged on every line, wherever the
    lines of the claim sit in the input."""
    rows = [
        line(claim_id="1", line_number=1, billed_charge=Decimal("15000.00")),
        line(claim_id="2", line_number=1, billed_charge=Decimal("20000.00")),  # exactly: no
        line(claim_id="1", line_number=2, billed_charge=Decimal("5000.01")),   # 20,000.01
        line(claim_id="3", line_number=1, billed_charge=Decimal("20000.01")),
        line(claim_id="2", line_number=2, billed_charge=Decimal("-5.00")),     # rejected
    ]
    frame = pl.DataFrame(rows, schema_overrides={
        "billed_charge": pl.Decimal(18, 2), "modifier_1": pl.String, "modifier_2": pl.String})
    frame = frame.with_columns(pl.col("claim_id").cast(id_type))
    r = pricer.price(frame, contract, schedules)
    high = ["high_dollar_claim" in f for f in r.lines["flags"].to_list()]
    assert high == [True, False, True, True, False]


def test_claim_groups_find_split_claims():
    import pyarrow as pa
    from pricer.claims import claim_groups
    col = pa.chunked_array([pa.array(["A", "A", "B", None]), pa.array(["B", "A", "", "C"])])
    groups, n = claim_groups(col)
    assert n == 4  # A, B, "", C
    assert groups.tolist() == [0, 0, 1, -1, 1, 0, 2, 3]


@pytest.mark.parametrize("ids, expected", [
    (["A1", "A1", "A2", "B", "B", "BA"], [0, 0, 1, 2, 2, 3]),   # sorted: runs are claims
    (["B", "B", "A", "B", "A"], [0, 0, 1, 0, 1]),               # unsorted: hashed
    (["A", "AB", "A"], [0, 1, 0]),                              # a prefix is not equal
    (["", "", "x", ""], [0, 0, 1, 0]),
])
def test_claim_groups_sorted_and_unsorted(ids, expected):
    import pyarrow as pa
    from pricer.claims import claim_groups
    for typ in (pa.string(), pa.large_string()):
        groups, n = claim_groups(pa.chunked_array([pa.array(ids, typ)]))
        assert groups.tolist() == expected and n == max(expected) + 1


# --- multiple procedures (MULT PROC 2) -------------------------------------------------------

def _carved(contract, fees: dict):
    """The contract with fixed per-unit fees for the given codes (a fee-schedule amount the
    test chooses, so a published example can be priced exactly)."""
    terms = contract.terms("commercial")
    carve = [{"hcpcs": c, "fee": str(f)} for c, f in fees.items()]
    return contract.replace_lob("commercial", carve_outs=[
        *({"hcpcs": c.hcpcs, "fee": str(c.fee)} if c.fee is not None else
          {"hcpcs": c.hcpcs, "percent_of_charges": str(c.percent_of_charges)}
          for c in terms.carve_outs), *carve])


def test_multiple_procedures_published_example(schedules, contract):
    """35301, 35261 and 35201 (MULT PROC 2) at fee schedule amounts 1,043.48, 1,010.60 and
    922.90: 1,043.48 + 505.30 + 461.45 = 2,010.23 (100 %, 50 %, 50 %, ranked by amount)."""
    c = _carved(contract, {"35301": "1043.48", "35261": "1010.60", "35201": "922.90"})
    r = price(line(line_of_business="commercial", hcpcs="35201", line_number=1),
              line(line_of_business="commercial", hcpcs="35301", line_number=2),
              line(line_of_business="commercial", hcpcs="35261", line_number=3),
              contract=c, schedules=schedules)
    fees = r.lines["fee_schedule_amount"].to_list()
    assert fees == [Decimal("461.45"), Decimal("1043.48"), Decimal("505.30")]
    assert sum(fees) == Decimal("2010.23")
    mppr = r.adjustments.filter(pl.col("step") == "multiple_procedure")
    assert mppr.select("line_index", "group_code", "carc", "amount").sort("line_index").rows() == [
        (0, "CO", 59, Decimal("461.45")), (2, "CO", 59, Decimal("505.30"))]
    assert balanced(r)


def test_multiple_procedures_groups_ties_and_sixth(schedules, contract):
    c = _carved(contract, {"35301": "100.00", "35261": "100.00", "35201": "80.00",
                           "27447": "60.00", "19303": "40.00", "47562": "20.01"})
    base = dict(line_of_business="commercial", claim_id="K", rendering_npi="1234567893")
    rows = [
        line(hcpcs="35201", **base),
        line(hcpcs="35301", **base),                       # tie with 35261: input order
        line(hcpcs="35261", **base),
        line(hcpcs="27447", **base),
        line(hcpcs="19303", **base),
        line(hcpcs="47562", **base),                       # sixth: 50 % and by_report
        line(hcpcs="35201", **{**base, "rendering_npi": "1111111112"}),  # another surgeon
        line(hcpcs="35201", **{**base, "date_of_service": dt.date(2025, 3, 4)}),  # another day
        line(hcpcs="35201", **{**base, "claim_id": "other"}),  # another claim
        line(hcpcs="99213", **base),                       # MULT PROC 0: not ranked
    ]
    r = price(*rows, contract=c, schedules=schedules)
    fees = r.lines["fee_schedule_amount"].to_list()
    assert fees[:6] == [Decimal("40.00"), Decimal("100.00"), Decimal("50.00"), Decimal("30.00"),
                        Decimal("20.00"), Decimal("10.01")]  # 20.01 / 2 = 10.005 -> 10.01
    assert fees[6:9] == [Decimal("80.00")] * 3
    by_report = ["by_report" in f for f in r.lines["flags"].to_list()]
    assert by_report == [False] * 5 + [True] + [False] * 4
    assert balanced(r)


def test_multiple_procedures_lower_of_charges_after_reduction(schedules, contract):
    c = _carved(contract, {"35301": "1000.00", "35261": "800.00"})
    base = dict(line_of_business="commercial")
    r = price(line(hcpcs="35301", **base, billed_charge=Decimal("5000.00")),
              line(hcpcs="35261", **base, billed_charge=Decimal("600.00")),   # 400 < 600 < 800
              line(hcpcs="35301", **{**base, "claim_id": "B"}),
              line(hcpcs="35261", **{**base, "claim_id": "B"}, billed_charge=Decimal("300.00")),
              contract=c, schedules=schedules)
    got = r.lines.select("fee_schedule_amount", "allowed_amount").rows()
    assert got[1] == (Decimal("400.00"), Decimal("400.00"))
    assert got[3] == (Decimal("400.00"), Decimal("300.00"))  # below the reduced fee
    second = r.adjustments.filter(pl.col("line_index") == 1).select("carc", "amount", "step").rows()
    assert second == [(59, Decimal("200.00"), "multiple_procedure")]  # 600 - 400; no CO-45
    assert r.adjustments.filter(pl.col("line_index") == 3).height == 0
    assert balanced(r)


def test_multiple_procedures_claims_split_across_the_input(schedules, contract):
    c = _carved(contract, {"35301": "1043.48", "35261": "1010.60", "35201": "922.90"})
    base = dict(line_of_business="commercial")
    rows = [line(hcpcs="35201", claim_id="A", **base), line(hcpcs="35201", claim_id="B", **base),
            line(hcpcs="35301", claim_id="A", **base), line(hcpcs="35261", claim_id="B", **base)]
    r = price(*rows, contract=c, schedules=schedules)
    assert r.lines["fee_schedule_amount"].to_list() == [
        Decimal("461.45"), Decimal("461.45"), Decimal("1043.48"), Decimal("1010.60")]


def test_anesthesia_is_not_a_multiple_procedure(schedules, contract):
    r = price(line(hcpcs="00840", units=117, modifier_1="AA"),
              line(hcpcs="00840", units=117, modifier_1="AA"),
              line(hcpcs="27447"), line(hcpcs="27447"), contract=contract, schedules=schedules)
    fees = r.lines["fee_schedule_amount"].to_list()
    assert fees[0] == fees[1] == Decimal("297.25")
    assert fees[3] == round_half_up(fees[2] / 2, 2)


# --- Medicare OPPS cap --------------------------------------------------------------------------

def _oppscap_claims(schedules, lob="medicare", pos="11"):
    cap = schedules.vintages("oppscap")[0].table
    rows = schedules.vintages("rvu")[0].table.select("hcpcs", "modifier", "status")
    cap = cap.join(rows, on=["hcpcs", "modifier"], how="left").filter(pl.col("status") == "A")
    claims = cap.select(
        pl.format("C{}", pl.int_range(pl.len())).alias("claim_id"), pl.lit(1).alias("line_number"),
        pl.lit("1").alias("member_id"), pl.lit(lob).alias("line_of_business"),
        pl.lit(dt.date(2025, 6, 15)).alias("date_of_service"), "hcpcs",
        pl.col("modifier").replace("", None).alias("modifier_1"), pl.lit(1).alias("units"),
        pl.lit("99999.00").alias("billed_charge"), pl.lit(pos).alias("place_of_service"),
        "locality")
    published = [Decimal(c) / 100 for c in cap["nonfacility_price"].to_list()]
    return claims, published


def test_opps_cap_reproduces_cms_capped_amounts(schedules, contract):
    """Every payable row of CMS's OPPSCAP file (carrier 02402, both localities): the Medicare
    non-facility amount is the capped amount CMS publishes there, to the cent."""
    claims, published = _oppscap_claims(schedules)
    assert len(published) == 116
    r = pricer.price(claims, contract, schedules)
    assert r.lines["fee_schedule_amount"].to_list() == published
    steps = r.adjustments.filter(pl.col("step") == "opps_cap")
    assert steps.height == 116 and steps["carc"].unique().to_list() == [45]
    assert balanced(r)


def test_opps_cap_only_for_medicare_non_facility(schedules, contract):
    claims, published = _oppscap_claims(schedules, pos="22")  # facility: not capped
    fees = pricer.price(claims, contract, schedules).lines["fee_schedule_amount"].to_list()
    assert all(f != p for f, p in zip(fees, published))
    parity = contract.replace_lob("commercial", conversion_factor="cms", rounding="cms")
    claims, published = _oppscap_claims(schedules, lob="commercial")  # not a Medicare member
    fees = pricer.price(claims, parity, schedules).lines["fee_schedule_amount"].to_list()
    assert all(f > p for f, p in zip(fees, published))


# --- status T ---------------------------------------------------------------------------------

def test_status_t_payable_only_alone(schedules, contract, full_fee):
    """36591 (status T) alone is paid; with 99213 (a payable RBRVS service) of the same date
    and provider it is bundled, CO-97. Another date, provider or claim does not count, and
    neither do services that are not RBRVS-priced (drugs, anesthesia)."""
    base = dict(place_of_service="11", billed_charge=Decimal("500.00"))
    r = price(
        line(hcpcs="36591", claim_id="alone", **base),
        line(hcpcs="36591", claim_id="with", **base),
        line(hcpcs="99213", claim_id="with", **base),
        line(hcpcs="36591", claim_id="other-day", **base),
        line(hcpcs="99213", claim_id="other-day", date_of_service=dt.date(2025, 3, 4), **base),
        line(hcpcs="36591", claim_id="other-npi", rendering_npi="1234567893", **base),
        line(hcpcs="99213", claim_id="other-npi", rendering_npi="1111111112", **base),
        line(hcpcs="36591", claim_id="two-t", **base), line(hcpcs="94760", claim_id="two-t", **base),
        contract=contract, schedules=schedules)
    got = r.lines.select("line_status", "pricing_method", "reason").rows()
    assert got[1] == ("denied", "bundled", "status_t_bundled")
    assert [g[0] for i, g in enumerate(got) if i != 1] == ["priced"] * 8
    assert one(r, 0)["fee_schedule_amount"] == full_fee("36591", place_of_service="11")
    assert r.adjustments.filter(pl.col("line_index") == 1).select("carc", "amount").rows() == [
        (97, Decimal("500.00"))]
    assert balanced(r)


def test_status_t_bundled_line_keeps_no_cost_share_flag(schedules, contract):
    """A bundled status-T line carries no cost share, so no cost-share flag either: a
    Medicaid member's copay given on it is not "waived" (found by the long property test of
    the reference pricer: the line-level flag outlived the claim-level denial), as a QMB
    member's shares are not "not billable"."""
    from reference_pricer import reference_price
    base = dict(place_of_service="11", billed_charge=Decimal("500.00"), claim_id="H")
    for lob, given in (("medicaid", dict(copay=Decimal("20.00"))),
                       ("medicare", dict(coinsurance=Decimal("20.00"), qmb=True))):
        none = {k: None for k in given}
        claims = pl.DataFrame(
            [line(hcpcs="99213", line_of_business=lob, line_number=1, **base, **none),
             line(hcpcs="36591", line_of_business=lob, line_number=2, **base, **given)],
            schema_overrides={"billed_charge": pl.Decimal(18, 2), "modifier_1": pl.String,
                              "modifier_2": pl.String, **{k: pl.Decimal(18, 2) for k in given
                                                          if k != "qmb"},
                              **({"qmb": pl.Boolean} if "qmb" in given else {})})
        r = pricer.price(claims, contract, schedules)
        got = r.lines.select("line_status", "reason", "flags").rows()
        assert got[1] == ("denied", "status_t_bundled", []), lob
        ref, _ = reference_price(claims, contract=contract, schedules=schedules)
        assert ref[1]["flags"] == [] and ref[1]["reason"] == "status_t_bundled"
        assert balanced(r)


# --- bilateral RT / LT on two lines -----------------------------------------------------------

def test_rt_lt_pair_bilateral_0_or_2_pays_one_fee(schedules, contract):
    """The published example: BILAT SURG 0/2, $100 LT + $100 RT against a $125 fee pays $125
    in total (one procedure, lower of charges on the pair). 11043 has 5.00 total RVUs in
    Seattle facility 2025 (GPCI-adjusted, rounded); at a $25 conversion factor its fee is
    $125.00."""
    c = contract.replace_lob("commercial", conversion_factor="25.00")
    base = dict(line_of_business="commercial", hcpcs="11043", billed_charge=Decimal("100.00"))
    alone = one(price(line(**base), contract=c, schedules=schedules))
    assert alone["fee_schedule_amount"] == Decimal("125.00")
    r = price(line(modifier_1="RT", line_number=1, **base),
              line(modifier_1="LT", line_number=2, **base), contract=c, schedules=schedules)
    allowed = r.lines["allowed_amount"].to_list()
    assert allowed == [Decimal("62.50"), Decimal("62.50")] and sum(allowed) == Decimal("125.00")
    steps = r.adjustments.select("line_index", "carc", "amount", "step").sort("line_index").rows()
    assert steps == [(0, 59, Decimal("37.50"), "bilateral"), (1, 59, Decimal("37.50"), "bilateral")]
    assert balanced(r)


def test_rt_lt_pair_bilateral_1_pays_150_percent_once(schedules, contract, full_fee):
    side = full_fee("27447")
    r = price(line(modifier_1="RT", billed_charge=Decimal("9000.00")),
              line(modifier_1="LT", billed_charge=Decimal("3000.00")),
              contract=contract, schedules=schedules)
    pair = round_half_up(side * Decimal("1.5"), 2)
    fees = r.lines["fee_schedule_amount"].to_list()
    assert sum(fees) == pair
    assert fees[0] == round_half_up(pair * 9000 / 12000, 2)  # shared by charges
    assert balanced(r)


def test_rt_lt_pair_ranks_once_among_multiple_procedures(schedules, contract, full_fee):
    """A pair is one procedure for multiple-procedure ranking: the 27447 pair (150 % of one
    side) ranks first, paid in full; 35301 second, at 50 %. With 35301 at a carved-out fee
    above the pair, the pair is second and paid 50 % of its 150 %."""
    side = full_fee("27447")
    pair = round_half_up(side * Decimal("1.5"), 2)
    r = price(line(hcpcs="35301"), line(modifier_1="RT"), line(modifier_1="LT"),
              line(hcpcs="27447", modifier_1="RT", claim_id="other"),  # another claim: alone
              contract=contract, schedules=schedules)
    fees = r.lines["fee_schedule_amount"].to_list()
    assert pair > full_fee("35301")
    assert fees[0] == round_half_up(full_fee("35301") / 2, 2)
    assert fees[1] + fees[2] == pair
    assert fees[3] == side
    assert balanced(r)
    c = _carved(contract, {"35301": "9000.00"})
    base = dict(line_of_business="commercial")
    r = price(line(hcpcs="35301", **base), line(modifier_1="RT", **base),
              line(modifier_1="LT", **base), contract=c, schedules=schedules)
    fees = r.lines["fee_schedule_amount"].to_list()
    commercial_side = one(price(line(**base), contract=c, schedules=schedules))[
        "fee_schedule_amount"]
    assert fees[0] == Decimal("9000.00")
    assert fees[1] + fees[2] == round_half_up(commercial_side * Decimal("1.5") / 2, 2)
    assert balanced(r)


def test_rt_lt_not_paired(schedules, contract, full_fee):
    side = full_fee("27447")
    r = price(line(modifier_1="RT"), line(modifier_1="RT"),                    # same side
              line(modifier_1="RT", claim_id="B"), line(modifier_1="LT", claim_id="B",
                                                        date_of_service=dt.date(2025, 3, 4)),
              line(hcpcs="70030", modifier_1="RT", claim_id="D"),             # BILAT SURG 3
              line(hcpcs="70030", modifier_1="LT", claim_id="D"),
              contract=contract, schedules=schedules)
    fees = r.lines["fee_schedule_amount"].to_list()
    assert fees[:2] == [side, round_half_up(side / 2, 2)]  # two procedures: 100 % + 50 %
    assert fees[2:4] == [side, side]
    assert fees[4] == fees[5] == full_fee("70030")


def test_pairs_and_policies_agree_with_the_reference(schedules, contract):
    from tests.reference_pricer import reference_price
    from tests.test_reference_parity import assert_same
    rows = []
    for claim, codes in {"P1": [("27447", "RT"), ("27447", "LT"), ("35301", None), ("19303", "RT")],
                         "P2": [("11043", "LT"), ("11043", "RT"), ("11043", "LT"), ("27447", "50")],
                         "P3": [("36591", None), ("99213", "RT"), ("27447", "LT"), ("27447", "80")]}.items():
        for n, (code, mod) in enumerate(codes, 1):
            rows.append({k: (str(v) if v is not None else None) for k, v in line(
                claim_id=claim, line_number=n, hcpcs=code, modifier_1=mod,
                line_of_business="commercial", billed_charge=Decimal(f"{700 + 37 * n}.00")).items()})
    claims = pl.DataFrame(rows, schema={k: pl.String for k in rows[0]})
    assert reference_price is not None
    assert_same(claims, contract, schedules)


# --- MUE ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mue_contract(contract, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mue")
    (folder / "mue.csv").write_text(
        "hcpcs,max_units,mai,description\n"
        "99213,1,1,office visit\n"
        "J9035,30,3,bevacizumab 10 mg\n"
        "00840,1,2,anesthesia (units are minutes: not edited)\n"
        "G0008,0,1,never payable\n"
        "27447,1,2,\n")
    c = contract
    for lob in ("commercial", "medicare"):
        c = c.replace_lob(lob, mue=str(folder / "mue.csv"))
    return c


def test_mue_denies_excess_units_with_their_share_of_the_charge(schedules, mue_contract,
                                                                 full_fee):
    r = price(line(hcpcs="99213", units=3, place_of_service="11", billed_charge=Decimal("300.00")),
              line(hcpcs="99213", units=1, place_of_service="11", claim_id="one",
                   billed_charge=Decimal("100.00")),
              contract=mue_contract, schedules=schedules)
    over, ok = one(r, 0), one(r, 1)
    assert over["fee_schedule_amount"] == ok["fee_schedule_amount"] == Decimal("99.89")
    rows = r.adjustments.filter(pl.col("line_index") == 0).select("group_code", "carc", "amount",
                                                                    "step").rows()
    assert rows[0] == ("CO", 151, Decimal("200.00"), "mue")     # 2 of 3 units: 2/3 of 300
    assert rows[1] == ("CO", 45, Decimal("0.11"), "fee_schedule")  # 100.00 - 99.89
    assert balanced(r)


def test_mue_on_drugs_not_on_anesthesia_and_zero(schedules, mue_contract):
    r = price(line(hcpcs="J9035", units=40, place_of_service="11", ndc="50242-0060-01",
                   billed_charge=Decimal("4000.00"), claim_id="d"),
              line(hcpcs="00840", units=117, modifier_1="AA", claim_id="a"),
              line(hcpcs="G0008", units=1, place_of_service="11", claim_id="z",
                   billed_charge=Decimal("40.00")),
              contract=mue_contract, schedules=schedules)
    drug, anes, zero = (one(r, i) for i in range(3))
    assert drug["fee_schedule_amount"] == Decimal("2195.70")  # 30 x 73.19
    assert anes["fee_schedule_amount"] == Decimal("297.25")
    assert (zero["line_status"], zero["reason"]) == ("denied", "mue_exceeded")
    assert r.adjustments.filter(pl.col("line_index") == 2).select("carc", "amount").rows() == [
        (151, Decimal("40.00"))]
    assert balanced(r)


def test_mue_agrees_with_the_reference(schedules, mue_contract):
    from tests.test_reference_parity import assert_same
    from pricer.synth import synth_claims
    claims = synth_claims(3000, seed=7, schedules=schedules)
    claims = claims.with_columns(
        pl.when(pl.int_range(pl.len()) % 5 == 0).then(pl.lit("99213"))
        .when(pl.int_range(pl.len()) % 5 == 1).then(pl.lit("27447"))
        .otherwise(pl.col("hcpcs")).alias("hcpcs"),
        (pl.int_range(pl.len()) % 4 + 1).cast(claims.schema["units"]).alias("units"))
    assert_same(claims, mue_contract, schedules)


@pytest.mark.parametrize("content, problem", [
    ("hcpcs,max_units\n9921,1\n", "column hcpcs: '9921' is not a HCPCS code"),
    ("hcpcs,max_units\n99213,1.5\n", "column max_units: '1.5' is not a whole number"),
    ("hcpcs,max_units,mai\n99213,1,4\n", "column mai: '4' is not an MUE adjudication indicator"),
    ("hcpcs,max_units\n99213,1\n99213,2\n", "99213 is already given in row 1"),
    ("hcpcs,units\n99213,1\n", "column 'units': unknown column"),
])
def test_mue_file_refused_clearly(contract, tmp_path, content, problem):
    from pricer.contract import ContractError
    (tmp_path / "mue.csv").write_text(content)
    with pytest.raises(ContractError) as err:
        contract.replace_lob("commercial", mue=str(tmp_path / "mue.csv"))
    assert "lob.commercial.mue" in str(err.value) and problem in str(err.value)
