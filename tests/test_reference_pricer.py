"""Checks of the Decimal reference pricer itself, against numbers computed outside this project.

The reference (``tests/reference_pricer.py``) is the independent check of the engine, so it is
checked here against CMS's own published payment amounts (the PFWA25A oracle sample), the
worked values of ``shared/data/cms/SOURCES.md`` and the rule book, and small cases worked by
hand (each derivation is written beside its number).
"""
from __future__ import annotations

import csv
import datetime as dt
import time
from decimal import Decimal as D
from pathlib import Path

import polars as pl
import pytest

from reference_pricer import balances, default_status_policy, reference_price

SHARED = Path(__file__).resolve().parents[2] / "shared"
ORACLE = SHARED / "data" / "cms" / "oracle" / "PFWA25A_WA_payment_amounts_sample.csv"

MAR_2025 = dt.date(2025, 3, 1)
BIG = "19999.99"  # above every fee here, below the $20,000 high-dollar claim review (§11)


@pytest.fixture(scope="module")
def sched(schedules):
    """The bundled schedules (conftest's session fixture) under this module's short name."""
    return schedules


def frame(*rows: dict, **common) -> pl.DataFrame:
    """A claims frame; unspecified required columns get plain defaults (Seattle, March 2025)."""
    base = {
        "claim_id": "C1", "member_id": "12345", "line_of_business": "commercial",
        "date_of_service": MAR_2025, "hcpcs": "99213", "units": 1, "billed_charge": BIG,
        "place_of_service": "11", "locality": "02402-02",
        "modifier_1": None, "modifier_2": None, "modifier_3": None, "modifier_4": None,
    }
    out = [{**base, **common, "line_number": i, **r} for i, r in enumerate(rows, start=1)]
    return pl.DataFrame(out, infer_schema_length=None)


def price(claims, contract, sched):
    lines, adjustments = reference_price(claims, contract=contract, schedules=sched)
    assert len(lines) == claims.height
    assert balances(claims, lines, adjustments) == []
    return lines, adjustments


def one(contract, sched, **row):
    """(line, its adjustments) of a single line."""
    lines, adjustments = price(frame(row), contract, sched)
    return lines[0], [(a["group_code"], a["carc"], a["amount"], a["step"]) for a in adjustments]


# ---------------------------------------------------------------------------------------------
# CMS oracle: PFWA25A (CY2025 payment amounts, carrier 02402), every row, both amounts


def oracle_rows() -> list[dict]:
    with ORACLE.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_oracle_sample_is_the_documented_one():
    rows = oracle_rows()
    assert len(rows) == 145
    assert sum(r["locality"] == "02" for r in rows) == 89
    assert sum(r["locality"] == "99" for r in rows) == 56


def oracle_frame(as_text: bool) -> tuple[pl.DataFrame, list[D]]:
    """Every oracle row twice (non-facility POS 11, facility POS 21), Medicare, DOS spread over
    the months RVU25A covers; expected fee schedule amounts beside."""
    rows, expected = [], []
    for i, r in enumerate(oracle_rows()):
        dos = dt.date(2025, 1 + i % 9, 1 + i % 28)
        for pos, col in (("11", "nonfacility_fee_amount"), ("21", "facility_fee_amount")):
            rows.append({
                "claim_id": f"O{i}-{pos}", "line_number": len(rows) + 1, "member_id": "1",
                "line_of_business": "medicare",
                "date_of_service": dos.isoformat() if as_text else dos,
                "hcpcs": r["hcpcs"], "units": "1" if as_text else 1,
                "billed_charge": BIG if as_text else D(BIG),
                "place_of_service": pos if as_text else int(pos),
                "locality": f"{r['carrier']}-{r['locality']}",
                "modifier_1": r["modifier"] or None,
            })
            expected.append(D(r[col]))
    return pl.DataFrame(rows, infer_schema_length=None), expected


@pytest.mark.parametrize("as_text", [False, True], ids=["typed", "text"])
def test_cms_oracle_every_row_to_the_cent(contract, sched, as_text):
    claims, expected = oracle_frame(as_text)
    lines, _ = price(claims, contract, sched)
    wrong = []
    for row, line, want in zip(claims.iter_rows(named=True), lines, expected):
        got = (line["line_status"], line["pricing_method"], line["fee_schedule_amount"],
               line["allowed_amount"], line["schedule_version"])
        if got != ("priced", "rbrvs", want, want, "RVU25A"):
            wrong.append((row["hcpcs"], row["modifier_1"], row["locality"],
                          row["place_of_service"], want, got))
    assert wrong == []
    assert len(lines) == 290


# ---------------------------------------------------------------------------------------------
# Worked vectors (SOURCES.md, rule book §6-§8)


@pytest.mark.parametrize("locality, pos, amount, total_rvu", [
    ("02402-02", "11", "99.89", "3.09"),  # adj 1.30*1.043 + 1.35*1.22 + 0.10*0.853 = 3.0882
    ("02402-02", "21", "69.11", "2.14"),
    ("02402-99", "11", "90.36", "2.79"),
    ("02402-99", "21", "64.12", "1.98"),
])
def test_99213_medicare_2025(contract, sched, locality, pos, amount, total_rvu):
    line, adj = one(contract, sched, line_of_business="medicare", locality=locality,
                    place_of_service=pos, billed_charge="500.00")
    assert line["pricing_method"] == "rbrvs"
    assert line["fee_schedule_amount"] == line["allowed_amount"] == D(amount)
    assert line["total_rvu"] == D(total_rvu)
    assert line["conversion_factor"] == D("32.3465")
    assert line["schedule_version"] == "RVU25A"
    assert adj == [("CO", 45, D("500.00") - D(amount), "fee_schedule")]


def test_medicare_anesthesia_00840_seattle(contract, sched):
    # base 6 + time round(117 * 4 / 60, 1) = 7.8 -> 13.8 * 21.54 = 297.252 -> 297.25
    aa, _ = one(contract, sched, line_of_business="medicare", hcpcs="00840", units=117,
                modifier_1="AA")
    assert aa["pricing_method"] == "anesthesia"
    assert aa["fee_schedule_amount"] == D("297.25")
    assert (aa["anesthesia_base_units"], aa["anesthesia_time_units"]) == (D("6.0"), D("7.8"))
    assert aa["conversion_factor"] == D("21.54")
    assert aa["schedule_version"] == "ANES2025"
    # QK: 297.25 * 0.5 = 148.625 -> 148.63 (half-up)
    qk, _ = one(contract, sched, line_of_business="medicare", hcpcs="00840", units=117,
                modifier_1="QK")
    assert qk["fee_schedule_amount"] == D("148.63")


def test_commercial_neuraxial_01967(contract, sched):
    # 240 min: 5 + ceil((240 - 60) / 60) = 8 time units; base 5; (5 + 8) * 62.00 = 806.00
    line, _ = one(contract, sched, hcpcs="01967", units=240, modifier_1="AA")
    assert (line["anesthesia_base_units"], line["anesthesia_time_units"]) == (D("5.0"), D("8.0"))
    assert line["fee_schedule_amount"] == D("806.00")


def test_drug_j9035_2025q1(contract, sched):
    # 73.190 per 10 mg * 40 * 100 % = 2927.60
    line, _ = one(contract, sched, hcpcs="J9035", units=40, ndc="50242-0060-01")
    assert line["pricing_method"] == "drug"
    assert line["fee_schedule_amount"] == D("2927.60")
    assert line["schedule_version"] == "ASP2025Q1"
    assert line["drug_coinsurance_pct"] == D("20.000")


# ---------------------------------------------------------------------------------------------
# RBRVS details (§6)


def test_rounding_modes_differ_where_the_book_says(contract, sched):
    # commercial rvu_2dp: round(3.0882, 2) = 3.09; 3.09 * 58 = 179.22
    line, _ = one(contract, sched)
    assert (line["fee_schedule_amount"], line["total_rvu"]) == (D("179.22"), D("3.09"))
    assert line["conversion_factor"] == D("58")
    # cms rounding with the same CF: round(3.0882 * 58, 2) = round(179.1156) = 179.12
    cms = contract.replace_lob("commercial", rounding="cms")
    line, _ = one(cms, sched)
    assert (line["fee_schedule_amount"], line["total_rvu"]) == (D("179.12"), D("3.09"))


def test_units_multiply_the_rounded_per_unit_amount(contract, sched):
    line, _ = one(contract, sched, line_of_business="medicare", units=3)
    assert line["fee_schedule_amount"] == D("299.67")  # 3 * 99.89


def test_work_gpci_floor_through_january_2026(contract, sched):
    # Alabama 10112-00, 99213 RVU26C: work 1.30, NF PE 1.46, MP 0.09; PE 0.875, MP 0.566;
    # work GPCI 1.000 with floor (through 2026-01-31), 0.988 without.
    # Jan: 1.30 + 1.2775 + 0.05094 = 2.62844 * 33.4009 = 87.79
    # Feb: 1.2844 + 1.2775 + 0.05094 = 2.61284 * 33.4009 = 87.27
    jan, _ = one(contract, sched, line_of_business="medicare", locality="10112-00",
                 date_of_service=dt.date(2026, 1, 31))
    feb, _ = one(contract, sched, line_of_business="medicare", locality="10112-00",
                 date_of_service=dt.date(2026, 2, 1))
    assert (jan["fee_schedule_amount"], jan["schedule_version"]) == (D("87.79"), "RVU26C")
    assert jan["conversion_factor"] == D("33.4009")
    assert feb["fee_schedule_amount"] == D("87.27")


def test_modifier_53_selects_its_row(contract, sched):
    # G0105-53: 1.63*1.043 + 3.22*1.22 + 0.21*0.853 = 5.80762 * 32.3465 = 187.86
    # G0105:    3.26*1.043 + 6.44*1.22 + 0.43*0.853 = 11.62377 * 32.3465 = 375.99
    m53, _ = one(contract, sched, line_of_business="medicare", hcpcs="G0105", modifier_2="53")
    blank, _ = one(contract, sched, line_of_business="medicare", hcpcs="G0105")
    assert (m53["fee_schedule_amount"], blank["fee_schedule_amount"]) == (D("187.86"), D("375.99"))
    # 53 on a code without a 53 row changes nothing
    other, _ = one(contract, sched, line_of_business="medicare", modifier_1="53")
    assert other["fee_schedule_amount"] == D("99.89")


@pytest.mark.parametrize("hcpcs, mods, reason", [
    ("71046", ("26", "TC"), "modifier_26_and_tc"),
    ("99213", ("26",), "pctc_row_missing"),
    ("86153", (), "pctc_modifier_required"),  # CMS lists 86153 only as -26
])
def test_pctc_denials(contract, sched, hcpcs, mods, reason):
    mods = dict(zip(("modifier_1", "modifier_2"), mods))
    line, adj = one(contract, sched, line_of_business="medicare", hcpcs=hcpcs,
                    billed_charge="80.00", **mods)
    assert (line["line_status"], line["pricing_method"], line["reason"]) == (
        "denied", "denied", reason)
    assert line["fee_schedule_amount"] is None and line["allowed_amount"] == D("0.00")
    assert adj == [("CO", 4, D("80.00"), "denial")]


def test_86153_with_26_prices(contract, sched):
    # 0.69*1.043 + 0.27*1.22 + 0.02*0.853 = 0.71967 + 0.3294 + 0.01706 = 1.06613
    # * 32.3465 = 34.4859... -> 34.49
    line, _ = one(contract, sched, line_of_business="medicare", hcpcs="86153", modifier_1="26")
    assert line["fee_schedule_amount"] == D("34.49")


def test_facility_pos_list(contract, sched):
    facility = {2, 19, 21, 22, 23, 24, 26, 31, 34, 41, 42, 51, 52, 53, 56, 61}
    rows = [{"place_of_service": str(p), "line_of_business": "medicare"} for p in range(1, 100)]
    lines, _ = price(frame(*rows), contract, sched)
    for p, line in zip(range(1, 100), lines):
        assert line["fee_schedule_amount"] == (D("69.11") if p in facility else D("99.89")), p


# ---------------------------------------------------------------------------------------------
# Method chain (§5)


def test_default_status_policy_table():
    for lob in ("commercial", "other", "medicaid", "medicare", "medicare_cost"):
        medicare = lob.startswith("medicare")
        assert default_status_policy("A", lob) == "rbrvs"
        assert default_status_policy("N", lob) == ("deny:96" if medicare else "rbrvs")
        assert default_status_policy("I", lob) == ("deny:181" if medicare else "gap_fill")
        assert default_status_policy("C", lob) == "by_report"
        assert default_status_policy("B", lob) == default_status_policy("P", lob) == "bundled:97"
        assert default_status_policy("M", lob) == "bundled:246"
        assert default_status_policy("X", lob) == default_status_policy(None, lob) == "gap_fill"


def test_status_denials_and_bundles(contract, sched):
    cases = [  # (hcpcs, lob, status, method, carc)
        ("99385", "medicare", "denied", "denied", 96),   # N
        ("A0021", "medicare", "denied", "denied", 181),  # I
        ("A4262", "commercial", "denied", "bundled", 97),  # B
        ("A4211", "medicaid", "denied", "bundled", 97),   # P
        ("G0029", "other", "denied", "bundled", 246),     # M
    ]
    for hcpcs, lob, status, method, carc in cases:
        line, adj = one(contract, sched, hcpcs=hcpcs, line_of_business=lob, billed_charge="40.00")
        assert (line["line_status"], line["pricing_method"]) == (status, method), hcpcs
        assert adj == [("CO", carc, D("40.00"), "denial")], hcpcs


def test_status_n_priced_for_other_payers(contract, sched):
    # 99385 (N) medicaid: 1.92*1.043 + 1.85*1.22 + 0.13*0.853 = 4.37045 -> 4.37 * 45 = 196.65
    line, _ = one(contract, sched, hcpcs="99385", line_of_business="medicaid")
    assert (line["pricing_method"], line["fee_schedule_amount"]) == ("rbrvs", D("196.65"))


def test_status_r_with_zero_rvus_goes_to_percent_of_charges(contract, sched):
    line, _ = one(contract, sched, hcpcs="A4890", billed_charge="10.01")
    assert line["pricing_method"] == "percent_of_charges"
    assert line["allowed_amount"] == D("5.01")  # 10.01 * 0.50 = 5.005 -> 5.01
    assert line["flags"] == ["prepayment_review"]


def test_contract_overrides_status_policy(contract, sched):
    c = contract.replace_lob("medicare", status_policy={"N": "rbrvs", "A": "deny:50"})
    # 4.37045 * 32.3465 = 141.368... -> 141.37
    n, _ = one(c, sched, hcpcs="99385", line_of_business="medicare")
    assert (n["pricing_method"], n["fee_schedule_amount"]) == ("rbrvs", D("141.37"))
    a, adj = one(c, sched, line_of_business="medicare", billed_charge="1.00")
    assert (a["line_status"], a["pricing_method"]) == ("denied", "denied")
    assert adj == [("CO", 50, D("1.00"), "denial")]
    c = contract.replace_lob("commercial", status_policy={"A": "bundled:97", "I": "by_report"})
    a, _ = one(c, sched)
    assert a["pricing_method"] == "bundled"
    i, _ = one(c, sched, hcpcs="A0090")
    assert (i["pricing_method"], i["flags"]) == ("percent_of_charges",
                                                 ["by_report", "prepayment_review"])


def test_carve_outs(contract, sched):
    fee, _ = one(contract, sched, hcpcs="99385", units=2)        # 150.00 per unit
    assert (fee["pricing_method"], fee["fee_schedule_amount"]) == ("carve_out", D("300.00"))
    low, _ = one(contract, sched, hcpcs="99385", billed_charge="120.00")  # lower of charges
    assert (low["fee_schedule_amount"], low["allowed_amount"]) == (D("300.00") / 2, D("120.00"))
    pct, _ = one(contract, sched, hcpcs="A0425", billed_charge="12.34")   # 80 %: 9.872 -> 9.87
    assert (pct["pricing_method"], pct["allowed_amount"]) == ("carve_out", D("9.87"))
    # Medicare has no carve-outs in the default contract: 99385 is status N there.
    med, _ = one(contract, sched, hcpcs="99385", line_of_business="medicare")
    assert med["reason"] == "status_denied"


def test_by_report_flags(contract, sched):
    c, _ = one(contract, sched, hcpcs="0101T")  # status C, gap-fill RVUs
    assert "by_report" in c["flags"] and c["pricing_method"] == "gap_fill"
    unlisted, _ = one(contract, sched, hcpcs="64999")
    assert "by_report" in unlisted["flags"]
    listed, _ = one(contract, sched, hcpcs="J3490")  # contract by_report_codes
    assert "by_report" in listed["flags"]
    anes, _ = one(contract, sched, hcpcs="01999", units=60, modifier_1="AA")
    assert anes["flags"] == ["by_report"]
    assert anes["fee_schedule_amount"] == D("310.00")  # (0 + 5) * 62


def test_percent_of_charges(contract, sched):
    # 123.45 * 0.50 = 61.725 -> 61.73 (half-up); Medicare 0.40: 49.38
    com, adj = one(contract, sched, hcpcs="A0090", billed_charge="123.45")
    assert (com["fee_schedule_amount"], com["allowed_amount"]) == (D("61.73"), D("61.73"))
    assert com["schedule_version"] is None and com["total_rvu"] is None
    assert adj == [("CO", 45, D("61.72"), "fee_schedule")]
    med, _ = one(contract, sched, hcpcs="A0382", line_of_business="medicare",
                 billed_charge="123.45")
    assert med["allowed_amount"] == D("49.38")


def test_no_schedule_for_dos(contract, sched):
    # 2027: no RVU/GPCI vintage -> gap-fill chain -> 40 % of charges, flagged
    line, _ = one(contract, sched, line_of_business="medicare", date_of_service="2027-01-04",
                  billed_charge="100.00")
    assert (line["pricing_method"], line["allowed_amount"]) == ("percent_of_charges", D("40.00"))
    assert line["flags"] == ["no_schedule_for_dos", "prepayment_review"]
    # J9035 in 2025Q2: ASP only covers Q1 -> status E -> gap-fill chain
    drug, _ = one(contract, sched, hcpcs="J9035", units=40, ndc="50242006001",
                  date_of_service="2025-04-01", billed_charge="100.00")
    assert (drug["pricing_method"], drug["allowed_amount"]) == ("percent_of_charges", D("50.00"))
    assert drug["flags"] == ["no_schedule_for_dos", "prepayment_review"]
    # Medicare anesthesia in 2027: no ANES vintage -> falls to status (not in file) -> chain
    anes, _ = one(contract, sched, line_of_business="medicare", hcpcs="00840", units=60,
                  modifier_1="AA", date_of_service="2027-01-04", billed_charge="100.00")
    assert anes["pricing_method"] == "percent_of_charges"
    assert "no_schedule_for_dos" in anes["flags"]


# ---------------------------------------------------------------------------------------------
# Anesthesia (§7)


@pytest.mark.parametrize("lob, hcpcs, minutes, mods, base, time_units, fee", [
    # commercial CF 62.00, 5 units/hour; P3 adds 1 unit
    ("commercial", "00840", 60, ("AA", "P3"), "7.0", "5.0", "744.00"),      # 12 * 62
    ("commercial", "00840", 60, ("P3", "QK"), "7.0", "5.0", "372.00"),      # 744 * 50 %
    ("commercial", "00840", 3, ("AA",), "6.0", "0.3", "390.60"),            # 3/12 = 0.25 -> 0.3
    ("commercial", "00840", 117, ("AD", "P3"), "3.0", "0.0", "186.00"),     # AD: 3 units only
    ("commercial", "00840", 60, ("QK", "AA"), "6.0", "5.0", "341.00"),      # first governs
    ("commercial", "00840", 60, ("QS", "QZ"), "6.0", "5.0", "682.00"),      # QS informational
    ("commercial", "01967", 60, ("AA",), "5.0", "5.0", "620.00"),           # first hour: 5
    ("commercial", "01967", 61, ("AA",), "5.0", "6.0", "682.00"),           # + partial hour
    ("medicaid", "01967", 240, ("AA",), "5.0", "8.0", "806.00"),            # neuraxial default
    # Medicare Seattle 2025 CF 21.54, 4 units/hour, no neuraxial rule, P3 = 0 units
    ("medicare", "01967", 240, ("AA", "P3"), "5.0", "16.0", "452.34"),      # 21 * 21.54
    ("medicare", "01996", 200, ("AA",), "3.0", "0.0", "64.62"),             # no time units
    # 6.9 * 21.54 = 148.626 -> 148.63; * 0.5 = 74.315 -> 74.32 (two half-up roundings)
    ("medicare", "00840", 13, ("QX",), "6.0", "0.9", "74.32"),
])
def test_anesthesia_cases(contract, sched, lob, hcpcs, minutes, mods, base, time_units, fee):
    mods = dict(zip(("modifier_1", "modifier_2"), mods))
    line, _ = one(contract, sched, line_of_business=lob, hcpcs=hcpcs, units=minutes, **mods)
    assert line["pricing_method"] == "anesthesia"
    assert line["anesthesia_base_units"] == D(base)
    assert line["anesthesia_time_units"] == D(time_units)
    assert line["fee_schedule_amount"] == D(fee)


def test_anesthesia_without_payment_modifier_is_denied(contract, sched):
    line, adj = one(contract, sched, hcpcs="00840", units=60, modifier_1="P3",
                    billed_charge="900.00")
    assert (line["line_status"], line["reason"]) == ("denied", "anesthesia_modifier_missing")
    assert line["anesthesia_base_units"] is None and line["anesthesia_time_units"] is None
    assert adj == [("CO", 4, D("900.00"), "denial")]


def test_anesthesia_minutes_limit(contract, sched):
    ok, _ = one(contract, sched, hcpcs="00840", units=1440, modifier_1="AA")
    assert ok["line_status"] == "priced"
    bad, adj = one(contract, sched, hcpcs="00840", units=1441, modifier_1="AA")
    assert (bad["line_status"], bad["reason"]) == ("rejected", "anesthesia_minutes_implausible")
    assert bad["flags"] == ["anesthesia_minutes_implausible"]
    assert adj == [("CO", 16, D(BIG), "rejection")]
    # a code that is not anesthesia may have any number of units
    many, _ = one(contract, sched, units=2000)
    assert many["line_status"] == "priced"


# ---------------------------------------------------------------------------------------------
# Drugs (§8)


def test_drug_ndc_and_percent(contract, sched):
    missing, adj = one(contract, sched, hcpcs="J9035", units=40, billed_charge="3000.00")
    assert (missing["line_status"], missing["pricing_method"]) == ("denied", "denied")
    assert (missing["reason"], missing["flags"]) == ("ndc_missing", ["ndc_missing"])
    assert adj == [("CO", 16, D("3000.00"), "denial")]
    short, _ = one(contract, sched, hcpcs="J9035", units=40, ndc="5024-2006-01")  # 10 digits
    assert short["reason"] == "ndc_missing"
    off = contract.replace_lob("commercial", require_ndc_for_drugs=False,
                               drug_percent_of_asp_limit="0.95")
    line, _ = one(off, sched, hcpcs="J9035", units=40)
    assert line["fee_schedule_amount"] == D("2781.22")  # 2927.60 * 0.95 = 2781.22
    # a drug in the ASP file but not in the RVU file's priced statuses is still a drug line
    j1885, _ = one(contract, sched, hcpcs="J1885", units=3, ndc="00000000000")
    assert (j1885["pricing_method"], j1885["fee_schedule_amount"]) == ("drug", D("2.25"))  # 3*0.751


# ---------------------------------------------------------------------------------------------
# Gap fill (§9)


def test_gap_fill_row_matching(sched, tmp_path):
    from pricer.contract import Contract
    (tmp_path / "gf.csv").write_text(
        "hcpcs,modifier,effective_from,effective_to,fee\n"
        "A0021,,2025-01-01,,10.00\n"
        "A0021,,2025-03-01,,12.00\n"
        "A0021,GT,2025-01-01,,20.00\n"
        "A0021,GT,2025-06-01,2025-06-30,25.00\n"
        "A0080,95,2025-01-01,,30.00\n"
    )
    c = Contract.from_dict({"name": "t", "lob": {"commercial": {"gap_fill": "gf.csv"}}},
                           base_dir=tmp_path)
    cases = [  # (dos, modifier, units, fee)
        ("2025-02-01", None, 1, "10.00"),
        ("2025-04-01", None, 3, "36.00"),   # latest effective_from wins; fee per unit
        ("2025-04-01", "GT", 1, "20.00"),   # a modifier row beats a blank one
        ("2025-06-15", "GT", 1, "25.00"),
        ("2025-07-01", "GT", 1, "20.00"),   # the June row has ended
        ("2025-07-01", "95", 1, "12.00"),   # modifier not matched: blank rows only
    ]
    for dos, mod, units, fee in cases:
        line, _ = one(c, sched, hcpcs="A0021", date_of_service=dos, modifier_1=mod, units=units)
        assert (line["pricing_method"], line["fee_schedule_amount"]) == ("gap_fill", D(fee)), (
            dos, mod)
        assert line["schedule_version"] == "GAPFILL" and line["total_rvu"] is None
    # only a modifier row, and the line does not carry it: percent of charges
    line, _ = one(c, sched, hcpcs="A0080", billed_charge="10.00")
    assert (line["pricing_method"], line["allowed_amount"]) == ("percent_of_charges", D("5.00"))
    line, _ = one(c, sched, hcpcs="A0080", modifier_3="95")
    assert line["fee_schedule_amount"] == D("30.00")


def test_gap_fill_rvus_priced_as_rbrvs(contract, sched):
    # 0101T row: 4.50 / 3.10 NF / 2.05 F / 0.30; Seattle 2025:
    # NF 4.5*1.043 + 3.1*1.22 + 0.3*0.853 = 8.7314 -> 8.73 * 58 = 506.34
    # F  4.5*1.043 + 2.05*1.22 + 0.3*0.853 = 7.4504 -> 7.45 * 58 = 432.10
    nf, _ = one(contract, sched, hcpcs="0101T")
    f, _ = one(contract, sched, hcpcs="0101T", place_of_service="22")
    assert (nf["fee_schedule_amount"], nf["total_rvu"]) == (D("506.34"), D("8.73"))
    assert f["fee_schedule_amount"] == D("432.10")
    assert (nf["conversion_factor"], nf["schedule_version"]) == (D("58"), "GAPFILL")
    # the 26 row of 0521T beats the blank one: 0.85*1.043 + 0.35*1.22 + 0.05*0.853
    # = 0.88655 + 0.427 + 0.04265 = 1.3562 -> 1.36 * 58 = 78.88
    pc, _ = one(contract, sched, hcpcs="0521T", modifier_1="26")
    assert pc["fee_schedule_amount"] == D("78.88")


# ---------------------------------------------------------------------------------------------
# Validation (§4): every reason, first failure wins


REJECTIONS = [
    ({"claim_id": None}, "claim_id_missing"),
    ({"line_number": None}, "line_number_missing"),
    ({"member_id": "  "}, "member_id_missing"),
    ({"line_of_business": None}, "line_of_business_missing"),
    ({"date_of_service": ""}, "date_of_service_missing"),
    ({"hcpcs": None}, "hcpcs_missing"),
    ({"units": None}, "units_missing"),
    ({"billed_charge": None}, "billed_charge_missing"),
    ({"place_of_service": " "}, "place_of_service_missing"),
    ({"hcpcs": "9921"}, "hcpcs_invalid"),
    ({"hcpcs": "99213X"}, "hcpcs_invalid"),
    ({"hcpcs": "99-13"}, "hcpcs_invalid"),
    ({"units": "two"}, "units_invalid"),
    ({"units": "0"}, "units_below_one"),
    ({"units": "-2"}, "units_below_one"),
    ({"units": "0.5"}, "units_below_one"),
    ({"units": "1.5"}, "units_not_whole"),
    ({"billed_charge": "$12"}, "billed_charge_invalid"),
    ({"billed_charge": "-0.01"}, "billed_charge_negative"),
    ({"date_of_service": "03/15/2025"}, "date_of_service_invalid"),
    ({"date_of_service": "2025-02-30"}, "date_of_service_invalid"),
    ({"received_date": "yesterday"}, "received_date_invalid"),
    ({"received_date": "2025-02-28"}, "dos_after_received"),
    ({"place_of_service": "0"}, "place_of_service_invalid"),
    ({"place_of_service": "100"}, "place_of_service_invalid"),
    ({"place_of_service": "2.5"}, "place_of_service_invalid"),
    ({"place_of_service": "OF"}, "place_of_service_invalid"),
    ({"line_of_business": "medigap"}, "line_of_business_unknown"),
    ({"member_id": "123456789"}, "member_id_invalid"),
    ({"member_id": "12-345"}, "member_id_invalid"),
    ({"billed_charge": "12.345"}, "billed_charge_fraction_of_cent"),
    ({"deductible": "1.005"}, "deductible_fraction_of_cent"),
    ({"copay": "-5.00"}, "copay_negative"),
    ({"coinsurance": "abc"}, "coinsurance_invalid"),
    ({"other_payer_paid": "0.001"}, "other_payer_paid_fraction_of_cent"),
    ({"locality": "99999-99"}, "locality_invalid"),
    ({"locality": "Seattle"}, "locality_invalid"),
    ({"locality": None, "service_state": "ZZ", "service_county": "King"}, "locality_invalid"),
    ({"locality": None, "service_zip": "00000"}, "locality_invalid"),
    ({"locality": None, "service_zip": "981"}, "locality_invalid"),
    # first failure in the list wins
    ({"hcpcs": "1", "units": "0", "place_of_service": None}, "place_of_service_missing"),
    ({"hcpcs": "1", "units": "0"}, "hcpcs_invalid"),
    ({"units": "0", "billed_charge": "-1"}, "units_below_one"),
    ({"member_id": "x", "locality": "bad", "line_of_business": "x"}, "line_of_business_unknown"),
    ({"billed_charge": "1.001", "member_id": "123456789"}, "member_id_invalid"),
    ({"deductible": "-1", "billed_charge": "1.001"}, "billed_charge_fraction_of_cent"),
    ({"locality": "bad", "hcpcs": "00840", "units": "2000", "modifier_1": "AA"},
     "locality_invalid"),
]


@pytest.mark.parametrize("override, reason", REJECTIONS,
                         ids=[f"{i}-{r}" for i, (_, r) in enumerate(REJECTIONS)])
def test_rejections(contract, sched, override, reason):
    row = {"received_date": "2025-03-15", "deductible": None, "copay": None,
           "coinsurance": None, "other_payer_paid": None, "service_state": None,
           "service_county": None, "service_zip": None, **override}
    # text columns, as read from a CSV
    claims = frame({k: (None if v is None else str(v)) for k, v in row.items()},
                   date_of_service="2025-03-01", units="1", billed_charge="250.00")
    lines, adjustments = price(claims, contract, sched)
    line = lines[0]
    assert (line["line_status"], line["pricing_method"], line["reason"]) == (
        "rejected", "rejected", reason)
    assert line["fee_schedule_amount"] is None
    assert line["allowed_amount"] == line["paid_amount"] == line["member_liability"] == D("0.00")
    assert [(a["group_code"], a["carc"], a["step"]) for a in adjustments] == [
        ("CO", 16, "rejection")]


def test_rejection_row_carries_the_billed_charge(contract, sched):
    _, adj = one(contract, sched, hcpcs="BAD", billed_charge="250.00")
    assert adj == [("CO", 16, D("250.00"), "rejection")]
    # unreadable or sub-cent billed charges: the CO-16 row is 0.00 (still present)
    for billed in ("abc", "12.345"):
        _, adj = one(contract, sched, billed_charge=billed)
        assert adj == [("CO", 16, D("0.00"), "rejection")]


def test_typed_values(contract, sched):
    def run(*rows):
        claims = frame(*rows)
        return claims.schema, price(claims, contract, sched)[0]

    # floats are read by their shortest repr: 12.345 has a fraction of a cent, 150.1 has not,
    # 0.1 + 0.2 = 0.30000000000000004 has
    schema, lines = run({"billed_charge": 12.345}, {"billed_charge": 150.1},
                        {"billed_charge": 0.1 + 0.2})
    assert schema["billed_charge"] == pl.Float64
    assert [x["reason"] for x in lines] == ["billed_charge_fraction_of_cent", None,
                                             "billed_charge_fraction_of_cent"]
    assert lines[1]["allowed_amount"] == D("150.10")
    schema, lines = run({"units": 2.0}, {"units": 1.5})
    assert schema["units"] == pl.Float64
    assert lines[0]["fee_schedule_amount"] == D("358.44")      # 2 * 179.22
    assert lines[1]["reason"] == "units_not_whole"
    schema, lines = run({"place_of_service": 2.0}, {"place_of_service": 11.0})
    assert schema["place_of_service"] == pl.Float64
    assert [x["total_rvu"] for x in lines] == [D("2.14"), D("3.09")]  # 2.0 = 02: facility PE
    schema, lines = run({"place_of_service": 21, "member_id": 42})
    assert schema["member_id"] == pl.Int64
    assert (lines[0]["total_rvu"], lines[0]["member_id"]) == (D("2.14"), "00000042")
    schema, lines = run({"billed_charge": D("99.50")}, {"billed_charge": D("12.345")})
    assert isinstance(schema["billed_charge"], pl.Decimal)
    assert lines[0]["allowed_amount"] == D("99.50")
    assert lines[1]["reason"] == "billed_charge_fraction_of_cent"
    schema, lines = run({"date_of_service": dt.datetime(2025, 3, 1, 0, 0)})
    assert lines[0]["schedule_version"] == "RVU25A"


def test_normalisation(contract, sched):
    line, _ = one(contract, sched, hcpcs=" g0105 ", modifier_1=" 53", line_of_business=" Medicare ",
                  place_of_service="02", member_id=" 007 ")
    assert line["line_status"] == "priced" and line["member_id"] == "00000007"
    # G0105-53 facility: 1.63*1.043 + 0.90*1.22 + 0.21*0.853 = 2.97722 * 32.3465 = 96.302...
    assert line["fee_schedule_amount"] == D("96.30")
    bad_mod, _ = one(contract, sched, modifier_1="XYZ")
    assert bad_mod["line_status"] == "priced" and bad_mod["flags"] == ["modifier_invalid"]


# ---------------------------------------------------------------------------------------------
# Locality (§2)


@pytest.mark.parametrize("where, locality", [
    ({"locality": " 02402-99 ", "service_state": "WA", "service_county": "King"}, "02402-99"),
    ({"service_state": "WA", "service_county": "King"}, "02402-02"),
    ({"service_state": "washington", "service_county": "KING COUNTY"}, "02402-02"),
    ({"service_state": "WA", "service_county": "Spokane"}, "02402-99"),
    ({"service_state": "WA"}, "02402-99"),                       # state alone: ignored
    ({"service_state": "WA", "service_zip": "98101"}, "02402-02"),
    ({"service_zip": "98101-1234"}, "02402-02"),
    ({"service_zip": "99201"}, "02402-99"),
    ({"service_zip": "10001"}, "13202-01"),                      # Manhattan
    ({}, "02402-99"),                                            # contract default
])
def test_locality_resolution(contract, sched, where, locality):
    row = {"locality": None, "service_state": None, "service_county": None, "service_zip": None,
           **where}
    line, _ = one(contract, sched, line_of_business="medicare", **row)
    assert (line["line_status"], line["locality"]) == ("priced", locality)


def test_every_locality_prices(contract, sched):
    localities = sched.localities()
    assert len(localities) == 109
    for dos in (MAR_2025, dt.date(2026, 3, 1)):
        rows = [{"locality": loc, "line_of_business": "medicare"} for loc in localities]
        rows += [{"locality": loc, "hcpcs": "00840", "units": 60, "modifier_1": "AA",
                  "line_of_business": "medicare"} for loc in localities]
        lines, _ = price(frame(*rows, date_of_service=dos), contract, sched)
        for line in lines:
            assert line["line_status"] == "priced" and line["fee_schedule_amount"] > 0
        assert {line["pricing_method"] for line in lines} == {"rbrvs", "anesthesia"}


# ---------------------------------------------------------------------------------------------
# Cost share, payment and balancing (§12)


def test_cost_share_order_and_caps(contract, sched):
    # allowed 61.73 (123.45 * 50 %): deductible 10, copay 20, coinsurance 500 capped at 31.73
    line, adj = one(contract, sched, hcpcs="A0090", billed_charge="123.45", deductible="10.00",
                    copay="20", coinsurance="500")
    assert (line["deductible_applied"], line["copay_applied"], line["coinsurance_applied"]) == (
        D("10.00"), D("20.00"), D("31.73"))
    assert (line["paid_amount"], line["member_liability"]) == (D("0.00"), D("61.73"))
    assert adj == [("CO", 45, D("61.72"), "fee_schedule"), ("PR", 1, D("10.00"), "deductible"),
                   ("PR", 3, D("20.00"), "copay"), ("PR", 2, D("31.73"), "coinsurance")]
    # deductible larger than the allowed amount takes it all; nothing left for the others
    line, adj = one(contract, sched, line_of_business="medicare", billed_charge="99.89",
                    deductible="250.00", copay="20.00", coinsurance="5.00")
    assert (line["deductible_applied"], line["copay_applied"], line["coinsurance_applied"]) == (
        D("99.89"), D("0.00"), D("0.00"))
    assert line["paid_amount"] == D("0.00")
    assert adj == [("PR", 1, D("99.89"), "deductible")]  # no CO-45: billed = allowed
    # partial: 99.89 - 40 - 15 - 9.98 = 34.91
    line, _ = one(contract, sched, line_of_business="medicare", deductible="40",
                  copay="15.00", coinsurance="9.98")
    assert (line["paid_amount"], line["member_liability"]) == (D("34.91"), D("64.98"))


def test_medicaid_never_applies_a_copay(contract, sched):
    # 99213 medicaid Seattle: 3.09 * 45 = 139.05
    line, adj = one(contract, sched, line_of_business="medicaid", billed_charge="139.05",
                    copay="5.00", coinsurance="10.00")
    assert line["copay_applied"] == D("0.00") and line["coinsurance_applied"] == D("10.00")
    assert (line["paid_amount"], line["member_liability"]) == (D("129.05"), D("10.00"))
    assert line["flags"] == ["medicaid_copay_waived"]
    assert adj == [("PR", 2, D("10.00"), "coinsurance")]


def test_qmb_cost_share_reported_not_billable(contract, sched):
    line, adj = one(contract, sched, line_of_business="medicare", deductible="30.00",
                    coinsurance="13.98", qmb=True)
    assert (line["deductible_applied"], line["coinsurance_applied"]) == (D("30.00"), D("13.98"))
    assert (line["paid_amount"], line["member_liability"]) == (D("55.91"), D("0.00"))
    assert line["flags"] == ["qmb_cost_share_not_billable"]
    assert [a[:2] for a in adj] == [("CO", 45), ("PR", 1), ("PR", 2)]


def test_denied_lines_apply_no_cost_share(contract, sched):
    line, adj = one(contract, sched, hcpcs="A4262", deductible="10.00", billed_charge="20.00")
    assert line["deductible_applied"] == line["member_liability"] == D("0.00")
    assert adj == [("CO", 97, D("20.00"), "denial")]


def test_zero_billed_denial_row_is_present(contract, sched):
    _, adj = one(contract, sched, hcpcs="A4262", billed_charge="0.00")
    assert adj == [("CO", 97, D("0.00"), "denial")]
    _, adj = one(contract, sched, billed_charge="0")  # priced at 0: no rows at all
    assert adj == []


def test_every_line_balances_on_a_mixed_file(contract, sched):
    rows = [r for r, _ in REJECTIONS] + [
        {"hcpcs": h, "line_of_business": lob, "units": u, "modifier_1": m, "ndc": "50242006001",
         "deductible": "7.77", "copay": "3.00", "coinsurance": "1.11", "qmb": q,
         "billed_charge": b}
        for h, u, m in (("99213", 1, None), ("00840", 75, "AA"), ("J9035", 3, None),
                        ("A0090", 1, None), ("A4262", 1, None), ("86153", 1, None),
                        ("0101T", 1, None), ("99385", 2, None), ("A0425", 1, None))
        for lob in ("commercial", "medicare", "medicaid")
        for q in (False, True)
        for b in ("0.00", "5.00", "5000.00")
    ]
    claims = frame(*rows, received_date="2025-04-01", date_of_service="2025-03-01")
    claims = claims.with_columns(pl.col(c).cast(pl.String) for c in claims.columns
                                 if c not in ("line_number", "qmb"))
    lines, adjustments = price(claims, contract, sched)  # price() asserts the balance
    for line in lines:
        assert line["paid_amount"] >= 0
        assert line["paid_amount"] + line["deductible_applied"] + line["copay_applied"] + line[
            "coinsurance_applied"] == line["allowed_amount"]
        assert line["flags"] == sorted(line["flags"])
    assert {line["line_status"] for line in lines} == {"priced", "denied", "rejected"}


def test_speed_20k_lines(contract, sched):
    rows = [{"hcpcs": h, "line_of_business": lob, "units": u, "modifier_1": m,
             "ndc": "50242006001", "deductible": "1.00"}
            for h, u, m in (("99213", 1, None), ("00840", 75, "AA"), ("J9035", 3, None),
                            ("A0090", 1, None), ("71046", 1, "26"))
            for lob in ("commercial", "medicare")] * 2000
    claims = frame(*rows)
    start = time.perf_counter()
    lines, _ = reference_price(claims, contract=contract, schedules=sched)
    elapsed = time.perf_counter() - start
    assert len(lines) == 20_000
    assert elapsed < 10, elapsed


# ---------------------------------------------------------------------------------------------
# Multiple procedures, MULT PROC 3-7 (§11; decisions "Multiple procedures, MULT PROC 3-7")
#
# Medicare, Seattle 02402-02, 2025-03-01: RVU25A, GPCI work 1.043 / PE 1.220 / MP 0.853, CF
# 32.3465, `cms` rounding: per unit = round_half_up(adj x CF, 2). Each amount below is worked
# from the RVU file's values (work, PE of the place of service, MP) beside it.

MP_BILLED = "2000.00"  # above every fee here; 8 lines stay under the $20,000 claim review


def session(contract, sched, *rows, **common):
    """[(fee schedule amount, CO-59 multiple_procedure amount or None)] of lines priced together
    (Medicare Seattle unless told), and the lines themselves."""
    common = {"line_of_business": "medicare", "billed_charge": MP_BILLED, **common}
    lines, adjustments = price(frame(*rows, **common), contract, sched)
    cut = {a["line_number"]: a["amount"] for a in adjustments
           if (a["group_code"], a["carc"], a["step"]) == ("CO", 59, "multiple_procedure")}
    for line in lines:
        assert line["line_status"] == "priced" and line["pricing_method"] == "rbrvs"
    return [(x["fee_schedule_amount"], cut.get(i)) for i, x in enumerate(lines, 1)], lines


# Facility (POS 22) endoscopy amounts:
# 45378 (base): 3.26*1.043 + 1.79*1.22 + 0.43*0.853 = 5.95077 * CF = 192.4866 -> 192.49
# 45380 (ENDO BASE 45378): 3.56*1.043 + 1.93*1.22 + 0.47*0.853 = 6.46859 -> 209.2362 -> 209.24
# 45385 (ENDO BASE 45378): 4.57*1.043 + 2.38*1.22 + 0.56*0.853 = 8.14779 -> 263.5525 -> 263.55
# 43239 (ENDO BASE 43235): 2.39*1.043 + 1.42*1.22 + 0.29*0.853 = 4.47254 -> 144.6710 -> 144.67
# 43235 (base): 2.09*1.043 + 1.29*1.22 + 0.27*0.853 = 3.98398 -> 128.8678 -> 128.87
# 27447 (MULT PROC 2): 19.60*1.043 + 15.30*1.22 + 3.98*0.853 = 42.50374 -> 1374.8472 -> 1374.85


def test_endoscopy_family_alone(contract, sched):
    # ranked by fee: 45385 keeps 263.55; 45380 pays 209.24 - 192.49 (the base amount, one unit
    # of 45378's global row) = 16.75; the base line 45378 pays 192.49 - its own fee = 0.00.
    # The family (280.30) is the only procedure of the session: no 50 %.
    got, _ = session(contract, sched, {"hcpcs": "45378"}, {"hcpcs": "45380"},
                     {"hcpcs": "45385"}, place_of_service="22")
    assert got == [(D("0.00"), D("192.49")), (D("16.75"), D("192.49")), (D("263.55"), None)]


def test_endoscopy_family_ranks_as_one_procedure(contract, sched):
    # indicator-2 ranking: 27447 1374.85 first; the 45378 family (263.55 + 16.75 + 0 = 280.30)
    # second, each line halved: 263.55/2 = 131.775 -> 131.78, 16.75/2 = 8.375 -> 8.38, 0;
    # 43239 alone (its base 43235 is billed by another provider) ranks as indicator 2, third:
    # 144.67/2 = 72.335 -> 72.34. The other provider's 43235 is alone in its session.
    got, _ = session(contract, sched,
                     {"hcpcs": "45380"}, {"hcpcs": "27447"}, {"hcpcs": "45385"},
                     {"hcpcs": "45378"}, {"hcpcs": "43239"},
                     {"hcpcs": "43235", "rendering_npi": "1111111112"},
                     place_of_service="22", rendering_npi="1234567893")
    assert got == [
        (D("8.38"), D("200.86")),    # 209.24 - 8.38
        (D("1374.85"), None),
        (D("131.78"), D("131.77")),  # 263.55 - 131.78
        (D("0.00"), D("192.49")),
        (D("72.34"), D("72.33")),    # 144.67 - 72.34
        (D("128.87"), None),
    ]


def test_endoscopy_family_sixth_is_by_report(contract, sched):
    # five 27447 lines (1374.85 each) rank first to fifth; the family is sixth: halved as above
    # and every one of its lines flagged by_report.
    got, lines = session(contract, sched, *[{"hcpcs": "27447"}] * 5, {"hcpcs": "45378"},
                         {"hcpcs": "45380"}, {"hcpcs": "45385"}, place_of_service="22")
    assert [fee for fee, _ in got] == [D("1374.85")] + [D("687.43")] * 4 + [
        D("0.00"), D("8.38"), D("131.78")]  # 1374.85/2 = 687.425 -> 687.43
    assert ["by_report" in x["flags"] for x in lines] == [False] * 5 + [True] * 3


def test_endoscopy_line_without_parts_ranks_as_indicator_2(contract, sched):
    # 45380-50 x 2 (BILAT SURG 0: bilateral pricing, one service at 100 % = 209.24, not
    # 2 x 209.24) has no parts: no family; it ranks as indicator 2 with 45378: 209.24 first,
    # 45378 192.49/2 = 96.245 -> 96.25.
    got, _ = session(contract, sched, {"hcpcs": "45378"},
                     {"hcpcs": "45380", "modifier_1": "50", "units": 2}, place_of_service="22")
    assert got == [(D("96.25"), D("96.24")), (D("209.24"), None)]


# Non-facility (POS 11) imaging amounts (MULT PROC 4, DIAGNOSTIC IMAGING FAMILY 88):
# 74177:    1.82*1.043 + 7.25*1.22 + 0.12*0.853 = 10.84562 * CF = 350.8178 -> 350.82
# 74177-26: 1.82*1.043 + 0.66*1.22 + 0.10*0.853 = 2.78876 -> 90.2066 -> 90.21
# 74177-TC: 6.59*1.22 + 0.02*0.853 = 8.05686 -> 260.6112 -> 260.61
# 70450:    0.85*1.043 + 2.35*1.22 + 0.05*0.853 = 3.79620 -> 122.7938 -> 122.79
# 70450-26: 0.85*1.043 + 0.31*1.22 + 0.04*0.853 = 1.29887 -> 42.0139 -> 42.01
# 70450-TC: 2.04*1.22 + 0.01*0.853 = 2.49733 -> 80.7799 -> 80.78
# 71046 (MULT PROC 0 in every bundled RVU file): 0.22*1.043 + 0.77*1.22 + 0.02*0.853
#           = 1.18592 -> 38.3604 -> 38.36


def test_imaging_global_pair(contract, sched):
    # parts of a global line: PC = min(fee, 26 amount), TC = fee - PC.
    # 74177: PC 90.21, TC 350.82 - 90.21 = 260.61; 70450: PC 42.01, TC 122.79 - 42.01 = 80.78.
    # 74177 is first in both rankings; 70450 loses round(80.78 * 50 %) = 40.39 and
    # round(42.01 * 5 %) = 2.1005 -> 2.10: 122.79 - 42.49 = 80.30. 71046 takes no part.
    got, _ = session(contract, sched, {"hcpcs": "70450"}, {"hcpcs": "71046"},
                     {"hcpcs": "74177"})
    assert got == [(D("80.30"), D("42.49")), (D("38.36"), None), (D("350.82"), None)]


def test_imaging_professional_and_technical_lines(contract, sched):
    # 74177 global + 70450-26: 70450-26 has no TC part (the TC ranking is 74177 alone) and a PC
    # part of 42.01, second to 74177's 90.21: 42.01 - round(42.01 * 5 %) = 42.01 - 2.10 = 39.91.
    got, _ = session(contract, sched, {"hcpcs": "74177"}, {"hcpcs": "70450", "modifier_1": "26"})
    assert got == [(D("350.82"), None), (D("39.91"), D("2.10"))]
    # 70450-TC + 74177-TC: TC parts 80.78 and 260.61; 70450-TC loses round(80.78 * 50 %) = 40.39
    got, _ = session(contract, sched, {"hcpcs": "70450", "modifier_1": "TC"},
                     {"hcpcs": "74177", "modifier_2": "TC"})
    assert got == [(D("40.39"), D("40.39")), (D("260.61"), None)]
    # 74177-26 + 70450-26 of another day do not meet: no reduction
    got, _ = session(contract, sched, {"hcpcs": "74177", "modifier_1": "26"},
                     {"hcpcs": "70450", "modifier_1": "26", "date_of_service": dt.date(2025, 3, 2)})
    assert got == [(D("90.21"), None), (D("42.01"), None)]


def test_imaging_opps_capped_line_has_parts(contract, sched):
    # 70496 non-facility: 1.75*1.043 + 6.56*1.22 + 0.11*0.853 = 9.92228 -> 320.9510 -> 320.95,
    # capped at the OPPSCAP amount 303.19 (02402-02). 26 row: 1.75*1.043 + 0.63*1.22 +
    # 0.08*0.853 = 2.66209 -> 86.1093 -> 86.11. PC = min(303.19, 86.11) = 86.11, TC = 217.08.
    # 74177 (TC 260.61, PC 90.21) is first in both rankings; 70496 loses round(217.08 * 50 %)
    # = 108.54 and round(86.11 * 5 %) = 4.3055 -> 4.31: 303.19 - 112.85 = 190.34.
    claims = frame({"hcpcs": "70496"}, {"hcpcs": "74177"}, line_of_business="medicare",
                   billed_charge=MP_BILLED)
    lines, adjustments = price(claims, contract, sched)
    assert [x["fee_schedule_amount"] for x in lines] == [D("190.34"), D("350.82")]
    assert [(a["carc"], a["amount"], a["step"]) for a in adjustments if a["line_number"] == 1] == [
        (45, D("1679.05"), "fee_schedule"),    # 2000.00 - 320.95
        (45, D("17.76"), "opps_cap"),          # 320.95 - 303.19
        (59, D("112.85"), "multiple_procedure"),
    ]


def test_imaging_line_without_parts_takes_no_reduction(contract, sched):
    # 70450-80 (ASST SURG 0: 16 %, review; 122.79 * 0.16 = 19.6464 -> 19.65) and 70450-50 x 2
    # (BILAT SURG 0: one service at 100 %, 122.79) have no parts: nothing is reduced, and they
    # do not rank (74177 would be first anyway).
    got, _ = session(contract, sched, {"hcpcs": "70450", "modifier_1": "80"},
                     {"hcpcs": "70450", "modifier_1": "50", "units": 2}, {"hcpcs": "74177"})
    assert got == [(D("19.65"), None), (D("122.79"), None), (D("350.82"), None)]


def test_modifier_50_on_one_unit_takes_the_parts_away(contract, sched):
    # OPEN (reference_pricer, surgery_policies): the decisions page lists modifier 50 among the
    # lines without parts; on one unit of a BILAT SURG 0 code the fee is still 1 x per unit,
    # but the line is priced bilaterally, so it has no parts. 97110 x 2 (64.86) alone in the
    # therapy ranking: its second unit loses round(16.97 * 1 * 50 %) = 8.485 -> 8.49: 56.37;
    # 97140-50 (30.57) is not reduced (with parts it would lose 15.79 * 50 % -> 7.90).
    got, _ = session(contract, sched, {"hcpcs": "97110", "units": 2},
                     {"hcpcs": "97140", "modifier_1": "50"})
    assert got == [(D("56.37"), D("8.49")), (D("30.57"), None)]


def test_cardiovascular_tc_25_percent(contract, sched):
    # 93306: 1.46*1.043 + 4.28*1.22 + 0.07*0.853 = 6.80409 -> 220.0885 -> 220.09;
    #   26: 1.46*1.043 + 0.52*1.22 + 0.04*0.853 = 2.19130 -> 70.8809 -> 70.88; TC 149.21
    # 93308: 0.53*1.043 + 2.35*1.22 + 0.04*0.853 = 3.45391 -> 111.7219 -> 111.72;
    #   26: 0.53*1.043 + 0.18*1.22 + 0.02*0.853 = 0.78945 -> 25.5359 -> 25.54; TC 86.18
    # 93308 second by TC: round(86.18 * 25 %) = 21.545 -> 21.55; 111.72 - 21.55 = 90.17.
    # No PC reduction for indicator 6.
    got, _ = session(contract, sched, {"hcpcs": "93308"}, {"hcpcs": "93306"})
    assert got == [(D("90.17"), D("21.55")), (D("220.09"), None)]


def test_ophthalmology_tc_20_percent(contract, sched):
    # 92134: 0.32*1.043 + 0.63*1.22 + 0.02*0.853 = 1.11942 -> 36.2093 -> 36.21;
    #   26: 0.32*1.043 + 0.20*1.22 + 0.01*0.853 = 0.58629 -> 18.9644 -> 18.96; TC 17.25
    # 92133: 0.31*1.043 + 0.59*1.22 + 0.02*0.853 = 1.06019 -> 34.2934 -> 34.29;
    #   26: 0.31*1.043 + 0.17*1.22 + 0.01*0.853 = 0.53926 -> 17.4432 -> 17.44; TC 16.85
    # 92133 second by TC: round(16.85 * 20 %) = 3.37; 34.29 - 3.37 = 30.92.
    got, _ = session(contract, sched, {"hcpcs": "92133"}, {"hcpcs": "92134"})
    assert got == [(D("30.92"), D("3.37")), (D("36.21"), None)]


# Therapy (MULT PROC 5), POS 11:
# 97110: 0.45*1.043 + 0.43*1.22 + 0.01*0.853 = 1.00248 -> 32.4267 -> 32.43 per unit;
#   PE per unit 0.43*1.22*32.3465 = 16.9690 -> 16.97
# 97140: 0.43*1.043 + 0.40*1.22 + 0.01*0.853 = 0.94502 -> 30.5681 -> 30.57 per unit;
#   PE per unit 0.40*1.22*32.3465 = 15.7851 -> 15.79


def test_therapy_half_pe_of_every_unit_but_the_first(contract, sched):
    # 97110 x 3 (97.29) first by PE: units 2-3 lose round(16.97 * 2 * 50 %) = 16.97 -> 80.32;
    # 97140 x 2 (61.14): both units lose round(15.79 * 2 * 50 %) = 15.79 -> 45.35.
    got, _ = session(contract, sched, {"hcpcs": "97110", "units": 3},
                     {"hcpcs": "97140", "units": 2})
    assert got == [(D("80.32"), D("16.97")), (D("45.35"), D("15.79"))]
    # ranked by PE, not input order: 97110 x 1 is first (nothing to reduce); 97140 x 3 (91.71)
    # loses round(15.79 * 3 * 50 %) = 23.685 -> 23.69: 68.02.
    got, _ = session(contract, sched, {"hcpcs": "97140", "units": 3},
                     {"hcpcs": "97110", "units": 1})
    assert got == [(D("68.02"), D("23.69")), (D("32.43"), None)]


def test_therapy_pe_under_rvu_2dp(contract, sched):
    # commercial (rvu_2dp, CF 58): 97110 round(1.00248, 2) = 1.00 * 58 = 58.00, PE per unit
    # round(round(0.43*1.22, 2) = 0.52 * 58) = 30.16; 97140 round(0.94502, 2) = 0.95 * 58 =
    # 55.10, PE round(round(0.488, 2) = 0.49 * 58) = 28.42. 97140 second: loses
    # round(28.42 * 1 * 50 %) = 14.21 -> 40.89.
    got, _ = session(contract, sched, {"hcpcs": "97140"}, {"hcpcs": "97110"},
                     line_of_business="commercial")
    assert got == [(D("40.89"), D("14.21")), (D("58.00"), None)]
