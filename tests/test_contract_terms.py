"""Issue 5 contract terms through the engine: percent of Medicare, percent of charges,
carve-outs by code, range, modifier and date, rates by date, CF per locality.

The reference amounts are the engine's own Medicare pricing (checked against CMS's published
amounts in test_cms_oracle.py) and the rule book's arithmetic written out here.
"""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import polars as pl
import pytest

import pricer
from pricer.contract import ContractError
from pricer.synth import synth_claims
from tests.conftest import claim_lines

D = Decimal


def half_up(x: Decimal) -> Decimal:
    return x.quantize(D("0.01"), rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def synthetic(schedules):
    # professional claims only: the E&M facility-charge denial is a commercial rule that the
    # Medicare LOB does not have
    claims = synth_claims(6_000, seed=11, schedules=schedules)
    return claims.with_columns(pl.lit("professional").alias("claim_form"),
                               pl.lit(None, pl.String).alias("received_date"))


def as_lob(claims: pl.DataFrame, lob: str) -> pl.DataFrame:
    return claims.with_columns(pl.lit(lob).alias("line_of_business"))


def test_percent_of_medicare_at_100_equals_the_medicare_lob_on_every_line(
        synthetic, contract, schedules):
    pom = contract.replace_lob("commercial", method="percent_of_medicare",
                               percent_of_medicare="1.00", carve_outs=[])
    ours = pricer.price(as_lob(synthetic, "commercial"), pom, schedules).lines
    medicare = pricer.price(as_lob(synthetic, "medicare"), contract, schedules).lines
    for col in ("line_status", "fee_schedule_amount", "allowed_amount", "total_rvu",
                "conversion_factor", "schedule_version", "reason"):
        assert ours[col].to_list() == medicare[col].to_list(), col
    priced = medicare["line_status"] == "priced"
    assert priced.sum() > 5_000
    assert (ours.filter(priced)["pricing_method"] == "percent_of_medicare").all()
    # the claims hold multiple-procedure reductions, which must have been taken as Medicare's
    assert (pricer.price(as_lob(synthetic, "medicare"), contract, schedules).adjustments
            ["step"].cast(pl.String) == "multiple_procedure").any()


def test_percent_of_medicare_at_120_is_each_medicare_line_times_1_2_rounded(
        synthetic, contract, schedules):
    pom = contract.replace_lob("commercial", method="percent_of_medicare",
                               percent_of_medicare="1.20", carve_outs=[])
    lines = as_lob(synthetic, "commercial")
    ours = pricer.price(lines, pom, schedules).lines
    medicare = pricer.price(as_lob(synthetic, "medicare"), contract, schedules).lines
    checked = 0
    for o, m, billed in zip(ours.iter_rows(named=True), medicare.iter_rows(named=True),
                            lines["billed_charge"].to_list()):
        assert o["line_status"] == m["line_status"]
        if m["line_status"] != "priced":
            continue
        fee = half_up(m["fee_schedule_amount"] * D("1.2"))
        assert o["fee_schedule_amount"] == fee
        assert o["allowed_amount"] == min(fee, D(billed))
        checked += 1
    assert checked > 5_000


def test_percent_of_medicare_keeps_the_lines_own_cost_share_rules(contract, schedules):
    # Medicaid never pays a copay (§12), also when its lines are priced as Medicare would
    pom = contract.replace_lob("medicaid", method="percent_of_medicare",
                               percent_of_medicare="1.00")
    line = claim_lines({"hcpcs": "99213", "line_of_business": "medicaid", "copay": "20.00"})
    r = pricer.price(line, pom, schedules).lines.row(0, named=True)
    assert r["allowed_amount"] == D("99.89")  # Seattle 2025 Medicare non-facility (CMS)
    assert r["copay_applied"] == 0 and r["paid_amount"] == D("99.89")


def test_percent_of_charges_method_prices_every_line_at_the_percentage(contract, schedules):
    poc = contract.replace_lob("commercial", method="percent_of_charges",
                               percent_of_charges="0.6125")
    lines = claim_lines({"hcpcs": "99213", "billed_charge": "150.01"},
                        {"hcpcs": "00840", "modifier_1": "AA", "units": 60,
                         "billed_charge": "900.00"},
                        {"hcpcs": "99385", "billed_charge": "200.00"})  # carved out at $150
    r = pricer.price(lines, poc, schedules).lines
    assert r["pricing_method"].to_list() == ["percent_of_charges", "percent_of_charges",
                                             "carve_out"]
    assert r["allowed_amount"].to_list() == [D("91.88"), D("551.25"), D("150.00")]
    assert all("prepayment_review" in f for f in r["flags"].to_list()[:2])


def carve(contract, *entries):
    return contract.replace_lob("commercial", carve_outs=list(entries))


def test_carve_out_range_covers_exactly_its_codes_and_dates(contract, schedules):
    c = carve(contract, {"hcpcs_range": "70010-79999", "fee": "12.34",
                         "effective_from": "2025-07-01", "effective_to": "2025-12-31"})
    codes = ["70010", "71046", "79999", "69990", "80047", "0042T"]
    dates = [dt.date(2025, 6, 30), dt.date(2025, 7, 1), dt.date(2025, 12, 31),
             dt.date(2026, 1, 1)]
    lines = claim_lines(*[{"hcpcs": h, "date_of_service": d, "claim_id": f"{h}{d}"}
                          for h in codes for d in dates])
    r = pricer.price(lines, c, schedules).lines
    plain = pricer.price(lines, contract, schedules).lines
    for row, before in zip(r.iter_rows(named=True), plain.iter_rows(named=True)):
        inside = ("70010" <= row["hcpcs"] <= "79999" and row["hcpcs"].isdigit()
                  and dt.date(2025, 7, 1) <= row["date_of_service"] <= dt.date(2025, 12, 31))
        if inside:
            assert (row["pricing_method"], row["fee_schedule_amount"]) == ("carve_out",
                                                                          D("12.34")), row
        else:
            assert (row["pricing_method"], row["fee_schedule_amount"]) == (
                before["pricing_method"], before["fee_schedule_amount"]), row


def test_carve_out_range_of_codes_no_table_knows(contract, schedules):
    # 0999T is in no bundled table: the range still covers it; 00100 (anesthesia) sorts
    # between the ends but has another shape
    c = carve(contract, {"hcpcs_range": "0001T-0999T", "fee": "40.00"})
    lines = claim_lines({"hcpcs": "0999T"}, {"hcpcs": "00100", "modifier_1": "AA", "units": 30})
    r = pricer.price(lines, c, schedules).lines
    assert r["pricing_method"].to_list() == ["carve_out", "anesthesia"]
    assert r["fee_schedule_amount"][0] == D("40.00")


def test_carve_out_first_match_wins_and_modifier_carve_outs(contract, schedules):
    c = carve(contract,
              {"hcpcs": "99213", "fee": "80.00"},
              {"modifier": "GT", "percent_of_charges": "0.50"},
              {"hcpcs_range": "99202-99215", "fee": "70.00"})
    lines = claim_lines({"hcpcs": "99213", "modifier_1": "GT", "billed_charge": "300.00"},
                        {"hcpcs": "99214", "modifier_2": "GT", "billed_charge": "300.00"},
                        {"hcpcs": "99214", "billed_charge": "300.00"},
                        {"hcpcs": "99203", "modifier_1": "95", "billed_charge": "300.00"})
    r = pricer.price(lines, c, schedules).lines
    assert r["fee_schedule_amount"].to_list() == [D("80.00"), D("150.00"), D("70.00"),
                                                  D("70.00")]
    assert set(r["pricing_method"]) == {"carve_out"}


def test_carve_out_percent_of_medicare(contract, schedules):
    c = carve(contract, {"hcpcs": "99213", "percent_of_medicare": "1.10"})
    line = claim_lines({"hcpcs": "99213"})
    r = pricer.price(line, c, schedules).lines.row(0, named=True)
    assert (r["pricing_method"], r["fee_schedule_amount"]) == ("carve_out",
                                                              half_up(D("99.89") * D("1.1")))


def test_rates_change_on_their_date(contract, schedules):
    dated = contract.replace_lob("commercial", periods=[
        {"effective_from": "2025-07-01", "conversion_factor": "60.00"},
        {"effective_from": "2026-01-01", "method": "percent_of_medicare",
         "percent_of_medicare": "1.50"}])
    days = [dt.date(2025, 6, 30), dt.date(2025, 7, 1), dt.date(2025, 12, 31),
            dt.date(2026, 1, 1)]
    lines = claim_lines(*[{"hcpcs": "99213", "date_of_service": d, "claim_id": str(d)}
                          for d in days])
    r = pricer.price(lines, dated, schedules).lines
    assert r["conversion_factor"].to_list()[:3] == [D("58"), D("60"), D("60")]
    base = pricer.price(lines, contract, schedules).lines
    assert r["fee_schedule_amount"][0] == base["fee_schedule_amount"][0]
    assert r["fee_schedule_amount"][1] == half_up(r["total_rvu"][1] * 60)
    medicare = pricer.price(as_lob(lines, "medicare"), contract, schedules).lines
    assert r["pricing_method"][3] == "percent_of_medicare"
    assert r["fee_schedule_amount"][3] == half_up(medicare["fee_schedule_amount"][3] * D("1.5"))


def test_conversion_factor_by_locality(contract, schedules):
    c = contract.replace_lob("commercial", conversion_factor_by_locality={"02402-02": "61.50"},
                             anesthesia_conversion_factor_by_locality={"02402-02": "70.00"})
    lines = claim_lines({"hcpcs": "99213", "locality": "02402-02"},
                        {"hcpcs": "99213", "locality": "02402-99"},
                        {"hcpcs": "00840", "modifier_1": "AA", "units": 60,
                         "locality": "02402-02"})
    r = pricer.price(lines, c, schedules).lines
    assert r["conversion_factor"].to_list() == [D("61.5"), D("58"), D("70")]
    assert r["fee_schedule_amount"][0] == half_up(r["total_rvu"][0] * D("61.50"))


def test_conversion_factor_for_a_locality_no_gpci_file_has_is_refused(contract, schedules):
    c = contract.replace_lob("commercial", conversion_factor_by_locality={"99999-99": "61.50"})
    with pytest.raises(ValueError, match="conversion_factor_by_locality: 99999-99"):
        pricer.price(claim_lines({"hcpcs": "99213"}), c, schedules)


@pytest.mark.parametrize("changes, named", [
    ({"method": "percent_of_medicare"}, "lob.commercial: method \"percent_of_medicare\" needs"),
    ({"method": "cost_plus"}, "lob.commercial.method"),
    ({"percent_of_medicare": "1.23456"}, "lob.commercial.percent_of_medicare"),
    ({"conversion_factor_by_locality": {"Seattle": 60}},
     "lob.commercial.conversion_factor_by_locality.Seattle"),
    ({"periods": [{"effective_from": "2025-07-01"}]}, "lob.commercial.periods[0]: changes nothing"),
    ({"periods": [{"effective_from": "2025-07-01", "conversion_factor": 60},
                  {"effective_from": "2025-01-01", "conversion_factor": 59}]},
     "lob.commercial.periods[1].effective_from"),
    ({"periods": [{"effective_from": "2025-07-01", "copay": 60}]},
     "lob.commercial.periods[0].copay: unknown key"),
    ({"carve_outs": [{"hcpcs_range": "0001T-00100", "fee": 1}]},
     "lob.commercial.carve_outs[0].hcpcs_range"),
    ({"carve_outs": [{"hcpcs_range": "A0000-Z9999", "fee": 1}]},
     "lob.commercial.carve_outs[0].hcpcs_range: A0000-Z9999 holds 260,000 codes"),
    ({"carve_outs": [{"modifier": "G", "fee": 1}]}, "lob.commercial.carve_outs[0].modifier"),
    ({"carve_outs": [{"hcpcs": "99213", "fee": 1, "effective_from": "2025-02-30"}]},
     "lob.commercial.carve_outs[0].effective_from"),
    ({"carve_outs": [{"hcpcs": "99213", "fee": 1, "percent_of_medicare": 1}]},
     "lob.commercial.carve_outs[0]: give exactly one of"),
])
def test_bad_terms_are_refused_naming_the_key(contract, changes, named):
    with pytest.raises(ContractError) as info:
        contract.replace_lob("commercial", **changes)
    assert named in str(info.value)


def test_the_medicare_lob_cannot_be_a_percent_of_itself(contract):
    with pytest.raises(ContractError, match="lob.medicare: method"):
        contract.replace_lob("medicare", method="percent_of_medicare", percent_of_medicare=1)
    with pytest.raises(ContractError, match="lob.medicare.carve_outs"):
        contract.replace_lob("medicare", carve_outs=[{"hcpcs": "99213",
                                                      "percent_of_medicare": 1}])


def test_new_terms_read_from_toml(tmp_path, schedules):
    path = tmp_path / "c.toml"
    path.write_text('''
name = "dated"
[lob.commercial]
conversion_factor = 58.00
conversion_factor_by_locality = { "02402-02" = 61.50 }
carve_outs = [
  { hcpcs = ["99385", "99386"], fee = 150.00 },
  { hcpcs_range = "70010-79999", percent_of_medicare = 1.10, effective_from = 2025-07-01 },
]
[[lob.commercial.periods]]
effective_from = 2025-07-01
conversion_factor = 60.00
''')
    c = pricer.Contract.from_toml(path)
    t = c.terms("commercial")
    assert [co.hcpcs for co in t.carve_outs] == ["99385", "99386", None]
    assert t.carve_outs[2].effective_from == dt.date(2025, 7, 1)
    assert t.rates_at(dt.date(2025, 7, 1)).conversion_factor == D("60")
    assert t.rates_at(dt.date(2025, 7, 1)).conversion_factor_by_locality["02402-02"] == D("61.5")
    # the same terms written in another order hash alike; a changed date does not
    again = c.replace_lob("commercial", periods=[{"conversion_factor": "60",
                                                  "effective_from": dt.date(2025, 7, 1)}])
    assert again.sha256() == c.sha256()
    moved = c.replace_lob("commercial", periods=[{"conversion_factor": "60",
                                                  "effective_from": dt.date(2025, 8, 1)}])
    assert moved.sha256() != c.sha256()


def test_contracts_without_the_new_terms_keep_their_hash(contract):
    # recorded in run manifests: the new terms must not change the hash of older contracts
    assert contract.sha256() == (
        "1cb30a5f7c6cc946b4be6fabb547b1b05f0c1e6676f319caa0c5963e7c9915b3")
