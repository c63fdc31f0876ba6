"""The engine agrees with the slow Decimal reference to the cent, on every line and column.

The reference (tests/reference_pricer.py) is written apart from the kernel, from the rule book
and docs/decisions.md, and is itself checked against CMS's published amounts. Here the
engine is compared with it on synthetic claims and on property-based (hypothesis) lines that
reach every method, both rounding modes, random contract rates and half-cent ties.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pricer
from reference_pricer import reference_price

LINE_KEYS = (
    "line_status", "pricing_method", "fee_schedule_amount", "allowed_amount",
    "deductible_applied", "copay_applied", "coinsurance_applied", "paid_amount",
    "member_liability", "locality", "schedule_version", "total_rvu", "conversion_factor",
    "anesthesia_base_units", "anesthesia_time_units", "drug_coinsurance_pct", "flags", "reason",
    "member_id",
)


def _norm(key, value):
    if key == "flags":
        return sorted(value or [])
    if isinstance(value, Decimal):
        return value.normalize() if value else Decimal(0)
    return value


def line_differences(claims: pl.DataFrame, ref_lines: list[dict], eng: list[dict],
                     keys=LINE_KEYS) -> list:
    """(index, column, reference, engine, line) wherever a value of ``keys`` differs."""
    assert len(eng) == len(ref_lines) == claims.height
    return [(i, k, r.get(k), e.get(k), claims.row(i, named=True))
            for i, (r, e) in enumerate(zip(ref_lines, eng)) for k in keys
            if _norm(k, r.get(k)) != _norm(k, e.get(k))]


def assert_same(claims: pl.DataFrame, contract, schedules) -> pricer.PricingResult:
    """Price both ways and fail with the first differing lines, named."""
    ref_lines, ref_adj = reference_price(claims, contract=contract, schedules=schedules)
    result = pricer.price(claims, contract, schedules)
    eng = result.lines.to_dicts()
    diffs = line_differences(claims, ref_lines, eng)
    assert diffs[:5] == [], f"{len(diffs)} differences; first ones above"
    eng_adj = [(a["line_index"], a["group_code"], a["carc"], a["amount"], a["step"])
               for a in result.adjustments.to_dicts()]
    keyed = {}
    for a in ref_adj:
        keyed.setdefault((a["claim_id"], a["line_number"]), []).append(a)
    ref_rows = []
    ids = claims.select("claim_id", "line_number").rows()
    seen = set()
    for i, key in enumerate(ids):
        if key in seen:
            continue
        seen.add(key)
        for a in keyed.get(key, []):
            ref_rows.append((i, a["group_code"], a["carc"], a["amount"], a["step"]))
    assert sorted(eng_adj, key=str) == sorted(ref_rows, key=str)
    return result


def test_synthetic_claims_agree(schedules, contract):
    from pricer.synth import synth_claims
    claims = synth_claims(6_000, seed=11, invalid_share=0.03)
    assert_same(claims, contract, schedules)


def test_synthetic_claims_agree_under_cms_rounding_and_other_rates(schedules, contract):
    from pricer.synth import synth_claims
    claims = synth_claims(4_000, seed=12)
    c = contract.replace_lob("commercial", conversion_factor="61.2345", rounding="cms",
                             percent_of_charges="0.4725", anesthesia_conversion_factor="cms",
                             drug_percent_of_asp_limit="1.0650")
    assert_same(claims, c, schedules)


# --- property-based lines ---------------------------------------------------------------------

CODES = [
    "99213", "99214", "99215", "99385", "71046", "86153", "93000", "G0105", "00840", "01967",
    "01996", "01999", "J9035", "J1885", "J3490", "A0425", "A4262", "A0090", "17999", "0101T",
    "0521T", "S9083", "T1015", "G0029", "36415", "88305", "20610", "45378", "Q9967", "99999",
    # §11 surgery indicators: bilateral 1/0/2/3, assistant 0/1/2, co-surgery 0/1/2, team 1/2
    "27447", "69436", "47562", "11012", "70030", "22818", "22836", "G0412", "99205", "99215",
    # status T (36598 is also MULT PROC 2); OPPS-capped imaging
    "36591", "94760", "36598", "70496", "11043", "27447", "27447",
    # MULT PROC 3 (ENDO BASE families of 45378 and 43235, the bases themselves MULT PROC 2),
    # 4 (imaging family 88, with 26/TC rows; 70496 above is OPPS-capped), 6, 7 and 5 (therapy)
    "45380", "45385", "45378", "43239", "43235", "74177", "70450", "74176", "93306", "93308",
    "92134", "92133", "97110", "97140", "97530",
]
MODS = [None, None, None, "26", "TC", "53", "AA", "QK", "QX", "QZ", "AD", "P3", "P5", "50",
        "59", "GY", "zz", "ABC", "80", "82", "AS", "62", "66", "22", "RT", "LT", "LT"]
LOCS = ["02402-02", "02402-99", "01112-54", "10112-00", "99999-99", None]
SESSION_DATES = [dt.date(2025, 3, 3), dt.date(2025, 11, 4), dt.date(2026, 7, 6)]
MONEY = st.integers(min_value=0, max_value=2_000_000).map(lambda c: f"{c // 100}.{c % 100:02d}")


@st.composite
def claim_line(draw):
    # a few common dates, so that lines share a session (claim, DOS, provider) for §11
    dos = draw(st.one_of(st.sampled_from(SESSION_DATES),
                         st.dates(min_value=dt.date(2024, 11, 1), max_value=dt.date(2027, 2, 1))))
    code = draw(st.sampled_from(CODES))
    anesthesia = code.startswith("0") and code[1:].isdigit()
    return {
        "claim_id": draw(st.sampled_from(["H", "H", "H", "K"])), "member_id": draw(st.sampled_from(["1", "00012345", "87654321"])),
        "line_of_business": draw(st.sampled_from(
            ["commercial", "medicare", "medicare_cost", "medicaid", "other"])),
        "date_of_service": dos.isoformat(),
        "received_date": (dos + dt.timedelta(days=draw(st.sampled_from([0, 30, 365, 366, 400]))))
        .isoformat(),
        "claim_form": draw(st.sampled_from([None, "professional", "institutional", "UB-04"])),
        "hcpcs": code,
        "units": str(draw(st.integers(1, 1500)) if anesthesia else draw(st.sampled_from([1, 1, 2, 3, 12]))),
        "billed_charge": draw(MONEY),
        "place_of_service": draw(st.sampled_from(["11", "21", "22", "02", "81", "23"])),
        "modifier_1": draw(st.sampled_from(MODS)), "modifier_2": draw(st.sampled_from(MODS)),
        "modifier_3": draw(st.sampled_from(MODS)),
        "locality": draw(st.sampled_from(LOCS)),
        "service_state": "WA", "service_county": draw(st.sampled_from(["King", "Spokane", None])),
        "ndc": draw(st.sampled_from(["50242-0060-01", None, "123"])),
        "deductible": draw(st.sampled_from([None, "0.00", "25.00", "1000.00"])),
        "copay": draw(st.sampled_from([None, "20.00", "0.01"])),
        "coinsurance": draw(st.sampled_from([None, "3.33", "50.00"])),
        "qmb": draw(st.sampled_from(["false", "true"])),
    }


@st.composite
def contract_terms(draw):
    return {
        "conversion_factor": draw(st.sampled_from(["cms", "58.00", "10.005", "47.1234", "33.4009"])),
        "rounding": draw(st.sampled_from(["rvu_2dp", "cms"])),
        "percent_of_charges": draw(st.sampled_from(["0.50", "0.4725", "0.0001", "1.00"])),
        "anesthesia_conversion_factor": draw(st.sampled_from(["cms", "62.00", "21.5450"])),
        "drug_percent_of_asp_limit": draw(st.sampled_from(["1.00", "0.95", "1.0650"])),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(claim_line(), min_size=1, max_size=40), terms=contract_terms(),
       lob=st.sampled_from(["commercial", "medicaid", "medicare"]))
def test_property_lines_agree(schedules, contract, lines, terms, lob):
    claims = pl.DataFrame([{**r, "line_number": str(i)} for i, r in enumerate(lines, 1)],
                          schema={k: pl.String for k in {**lines[0], "line_number": ""}})
    assert_same(claims, contract.replace_lob(lob, **terms), schedules)


def test_half_cent_ties_round_up(schedules, contract):
    """Ties land exactly on half a cent and go up (§1), in the engine and the reference."""
    rows = [
        # 10.01 x 50 % = 5.005 -> 5.01 (percent of charges; 17999 has no RVUs)
        {"hcpcs": "17999", "billed_charge": "10.01"},
        # J1885 0.751 x 5 units = 3.755 -> 3.76 (drug, 2025Q1)
        {"hcpcs": "J1885", "units": "5", "ndc": "00000000000", "date_of_service": "2025-02-01"},
        # 00840-QK Seattle 2025 Medicare: 297.25 x 50 % = 148.625 -> 148.63
        {"hcpcs": "00840", "units": "117", "modifier_1": "QK", "line_of_business": "medicare"},
    ]
    base = {"claim_id": "T", "member_id": "1", "line_of_business": "commercial",
            "date_of_service": "2025-03-01", "units": "1", "billed_charge": "9999.00",
            "place_of_service": "11", "locality": "02402-02", "modifier_1": None, "ndc": None}
    claims = pl.DataFrame([{**base, "line_number": str(i), **r} for i, r in enumerate(rows, 1)],
                          schema={k: pl.String for k in {**base, "line_number": "", "hcpcs": ""}})
    result = assert_same(claims, contract, schedules)
    assert result.lines["allowed_amount"].to_list() == [
        Decimal("5.01"), Decimal("3.76"), Decimal("148.63")]


def test_every_cms_locality_agrees(schedules, contract):
    """All 109 localities, 2025 and 2026 (work GPCI floor on and off), office and facility."""
    rows = []
    for loc in schedules.localities():
        for dos in ("2025-06-01", "2026-01-15", "2026-03-01"):
            for pos in ("11", "21"):
                for lob in ("commercial", "medicare"):
                    rows.append({"locality": loc, "date_of_service": dos, "place_of_service": pos,
                                 "line_of_business": lob})
    base = {"claim_id": "L", "member_id": "1", "hcpcs": "99214", "units": "1",
            "billed_charge": "9999.00"}
    claims = pl.DataFrame([{**base, "line_number": str(i), **r} for i, r in enumerate(rows, 1)],
                          schema={k: pl.String for k in {**base, **rows[0], "line_number": ""}})
    assert len(schedules.localities()) == 109
    result = assert_same(claims, contract, schedules)
    assert (result.lines["pricing_method"] == "rbrvs").all()


def test_every_rejection_reason_agrees(schedules, contract):
    """Each kind of bad value of §4 (the reference's own hand-checked list), as CSV text."""
    from test_reference_pricer import REJECTIONS, frame
    rows = [{k: (str(v) if v is not None and not isinstance(v, str) else v) for k, v in r.items()}
            for r, _ in REJECTIONS]
    claims = frame(*rows, received_date="2025-04-01", date_of_service="2025-03-01")
    claims = claims.with_columns(pl.col(c).cast(pl.String) for c in claims.columns)
    result = assert_same(claims, contract, schedules)
    assert result.lines["reason"].cast(str).to_list() == [reason for _, reason in REJECTIONS]


# Claims of one session (one date of service, one or two providers) drawn from the codes of
# the multiple-procedure indicators 2-7, so that ranking, families and parts meet often.
SESSION_CODES = [
    "45378", "45380", "45385", "43235", "43239", "27447", "11042", "11045", "47562", "17000",
    "74177", "70450", "74176", "70496", "93306", "93308", "92134", "92133", "97110", "97140",
    "97530", "99213", "36415",
]


@st.composite
def session_line(draw):
    return {
        "claim_id": "S", "member_id": "1", "line_of_business": "commercial",
        "date_of_service": "2025-03-03", "hcpcs": draw(st.sampled_from(SESSION_CODES)),
        "units": str(draw(st.sampled_from([1, 1, 1, 2, 3]))),
        "billed_charge": draw(st.sampled_from(["9999.00", "9999.00", "50.00", "150.00"])),
        "place_of_service": draw(st.sampled_from(["11", "11", "22"])),
        "modifier_1": draw(st.sampled_from([None, None, None, None, "26", "TC", "50", "59", "RT"])),
        "locality": draw(st.sampled_from(["02402-02", "02402-99"])),
        "rendering_npi": draw(st.sampled_from(["1234567893", "1234567893", "1992753880"])),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(session_line(), min_size=2, max_size=12), terms=contract_terms(),
       lob=st.sampled_from(["commercial", "medicare"]))
def test_property_sessions_agree(schedules, contract, lines, terms, lob):
    claims = pl.DataFrame([{**r, "line_number": str(i), "line_of_business": lob}
                           for i, r in enumerate(lines, 1)],
                          schema={k: pl.String for k in {**lines[0], "line_number": ""}})
    assert_same(claims, contract.replace_lob(lob, **terms), schedules)
