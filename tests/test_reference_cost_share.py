"""Member cost share (docs/cost_share.md): the Decimal reference checked by hand, then the
engine compared with it.

The reference (``tests/reference_pricer.py``, section "Member cost share") is written from
docs/cost_share.md only. The first part checks it on the issue's worked numbers and on small
cases derived from the page by hand (each derivation beside its number). The second part
prices the same cases, and random plans, members and claims (hypothesis), with the engine
(``pricer.price(..., plans=, accumulators=)``) and asserts that both agree on every line, every
adjustment row and every balance row.
"""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pricer
from reference_pricer import balances, copay_category, reference_price
from test_reference_parity import _norm, line_differences
from tests.conftest import claim_lines

D = Decimal
Z = D("0.00")


# --- helpers ------------------------------------------------------------------------------------


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, D)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(value)


def plans_toml(plans: dict) -> str:
    """The plans file of ``{plan_id: {key: value, "copays": {category: amount}}}``; money is
    written as a TOML number (``D("2500.00")`` -> ``2500.00``)."""
    out = []
    for pid, plan in plans.items():
        out.append(f'[plan."{pid}"]')
        out.extend(f"{k} = {_toml_value(v)}" for k, v in plan.items() if k != "copays")
        if plan.get("copays"):
            out.append(f'[plan."{pid}".copays]')
            out.extend(f"{k} = {_toml_value(v)}" for k, v in plan["copays"].items())
        out.append("")
    return "\n".join(out)


_files = itertools.count()


def write_plans(folder: Path, plans: dict) -> Path:
    path = folder / f"plans_{next(_files)}.toml"
    path.write_text(plans_toml(plans))
    return path


BALANCE_SCHEMA = {"member_id": pl.String, "subscriber_id": pl.String, "plan_id": pl.String,
                  "plan_year": pl.Int32, "deductible_met": pl.Decimal(18, 2),
                  "out_of_pocket_met": pl.Decimal(18, 2)}


def balance_frame(*rows: dict) -> pl.DataFrame:
    """Starting balances; missing columns blank (subscriber) or 0.00 (amounts)."""
    full = [{"member_id": r["member_id"], "subscriber_id": r.get("subscriber_id"),
             "plan_id": r["plan_id"], "plan_year": r["plan_year"],
             "deductible_met": D(str(r.get("deductible_met", "0.00"))),
             "out_of_pocket_met": D(str(r.get("out_of_pocket_met", "0.00")))} for r in rows]
    return pl.DataFrame(full, schema=BALANCE_SCHEMA)


def lines_of(*rows: dict, **common) -> pl.DataFrame:
    """Claim lines (tests/conftest.claim_lines) with the cost-share columns present (blank
    unless given), so that every frame carries them; line numbers 1.. within each claim
    unless given."""
    blank = {"hcpcs": "99213", "plan_id": None, "subscriber_id": None,
             "rendering_provider_type": None, "deductible": None, "copay": None,
             "coinsurance": None, "other_payer_paid": None, "qmb": None}
    full, numbers = [], {}
    for r in rows:
        line = {**blank, **common, **r}
        claim = line.get("claim_id", "C1")
        numbers[claim] = numbers.get(claim, 0) + 1
        full.append({"line_number": numbers[claim], **line})  # 1.. within each claim
    return claim_lines(*full)


def ref(claims, contract, schedules, plans=None, accumulators=None):
    """The reference's (lines, adjustments, balances); every line balances."""
    lines, adjustments, ending = reference_price(
        claims, contract=contract, schedules=schedules, plans=plans,
        accumulators=accumulators if accumulators is not None else balance_frame())
    assert len(lines) == claims.height
    assert balances(claims, lines, adjustments) == []
    for line in lines:  # docs/cost_share.md "Balancing"
        assert line["paid_amount"] == (
            line["allowed_amount"] - line["deductible_applied"] - line["copay_applied"]
            - line["coinsurance_applied"] - line["cob_reduction"]
            - line["sequestration_reduction"])
    return lines, adjustments, ending


def shares(line: dict) -> tuple:
    """(deductible, copay, coinsurance, paid, member liability) of a line."""
    return (line["deductible_applied"], line["copay_applied"], line["coinsurance_applied"],
            line["paid_amount"], line["member_liability"])


def rows_of(adjustments, claim_id, line_number) -> list[tuple]:
    return [(a["group_code"], a["carc"], a["amount"], a["step"]) for a in adjustments
            if (a["claim_id"], a["line_number"]) == (claim_id, line_number)]


def money(*values) -> tuple:
    return tuple(D(v) for v in values)


# Every hand case is a function of (contract, schedules) returning (claims, contract, plans,
# accumulators); the tests check the reference on it, and test_engine_agrees_on_hand_cases
# prices it with the engine too.
CASES: dict = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


# The issue's plans
PLAN_A = {"name": "Deductible plan A", "deductible": D("2500.00"), "coinsurance": D("0")}
PLAN_B = {"name": "Deductible plan B", "deductible": D("3000.00"), "coinsurance": D("0.20")}


# --- the issue's worked example ----------------------------------------------------------------


@case
def issue_example(contract, schedules):
    """One member, allowed 1000, 500, 1500, 1000 in order, under plan A and plan B (member
    12345 on plan A, the same claims for member 67890 on plan B). 27447 (total knee) has a
    commercial fee of 2465.00 (Seattle, 2025): the billed charge is the allowed amount."""
    rows = []
    for member, plan in (("12345", "A"), ("67890", "B")):
        for k, (billed, dos) in enumerate(zip(
                ("1000.00", "500.00", "1500.00", "1000.00"),
                (dt.date(2025, 2, 3), dt.date(2025, 3, 10), dt.date(2025, 5, 5),
                 dt.date(2025, 8, 18)))):
            rows.append({"claim_id": f"{plan}{k}", "member_id": member, "plan_id": plan,
                         "hcpcs": "27447", "billed_charge": billed, "date_of_service": dos})
    return lines_of(*rows), contract, {"plan": {"A": PLAN_A, "B": PLAN_B}}, None


def test_issue_worked_example_plans_a_and_b(contract, schedules):
    claims, c, plans, acc = issue_example(contract, schedules)
    lines, adjustments, ending = ref(claims, c, schedules, plans, acc)
    a, b = lines[:4], lines[4:]
    assert [x["allowed_amount"] for x in lines] == list(money(
        "1000", "500", "1500", "1000", "1000", "500", "1500", "1000"))
    # plan A: $2,500 deductible, 0 % coinsurance
    assert [x["paid_amount"] for x in a] == list(money("0", "0", "500", "1000"))
    assert [x["member_liability"] for x in a] == list(money("1000", "500", "1000", "0"))
    assert [x["deductible_applied"] for x in a] == list(money("1000", "500", "1000", "0"))
    # plan B: $3,000 deductible, 20 % coinsurance
    assert [x["paid_amount"] for x in b] == list(money("0", "0", "0", "800"))
    assert [x["member_liability"] for x in b] == list(money("1000", "500", "1500", "200"))
    assert [x["coinsurance_applied"] for x in b] == list(money("0", "0", "0", "200"))
    assert rows_of(adjustments, "B3", 1) == [("PR", 2, D("200.00"), "coinsurance")]
    assert rows_of(adjustments, "A2", 1) == [("PR", 1, D("1000.00"), "deductible")]
    assert ending == [
        {"member_id": "00012345", "subscriber_id": "00012345", "plan_id": "A", "plan_year": 2025,
         "deductible_met": D("2500.00"), "out_of_pocket_met": D("2500.00")},
        {"member_id": "00067890", "subscriber_id": "00067890", "plan_id": "B", "plan_year": 2025,
         "deductible_met": D("3000.00"), "out_of_pocket_met": D("3200.00")},
    ]


@case
def issue_sequestration(contract, schedules):
    """Medicare 99214 (fee 139.95) billed 100.00: allowed 100.00; a $257 deductible of which
    207.00 is met (50.00 left), 20 % coinsurance; sequestration 2 %."""
    c = contract.replace_lob("medicare", sequestration="0.02")
    plans = {"plan": {"MA": {"deductible": D("257.00"), "coinsurance": D("0.20")}}}
    claims = lines_of({"hcpcs": "99214", "billed_charge": "100.00", "plan_id": "MA",
                       "line_of_business": "medicare"})
    acc = balance_frame({"member_id": "12345", "plan_id": "MA", "plan_year": 2025,
                         "deductible_met": "207.00", "out_of_pocket_met": "207.00"})
    return claims, c, plans, acc


def test_issue_sequestration_example(contract, schedules):
    claims, c, plans, acc = issue_sequestration(contract, schedules)
    (line,), adjustments, ending = ref(claims, c, schedules, plans, acc)
    # deductible 50.00, coinsurance (100 - 50) x 20 % = 10.00, payment 40.00,
    # sequestration 40.00 x 2 % = 0.80, paid 39.20; the member pays 60.00
    assert line["allowed_amount"] == D("100.00")
    assert shares(line) == money("50.00", "0.00", "10.00", "39.20", "60.00")
    assert line["sequestration_reduction"] == D("0.80")
    assert line["cob_reduction"] == Z
    assert rows_of(adjustments, "C1", 1) == [
        ("PR", 1, D("50.00"), "deductible"), ("PR", 2, D("10.00"), "coinsurance"),
        ("CO", 253, D("0.80"), "sequestration")]
    assert ending[0]["deductible_met"] == D("257.00")
    assert ending[0]["out_of_pocket_met"] == D("267.00")


# --- hand-computed cases -----------------------------------------------------------------------


@case
def oop_max_mid_claim(contract, schedules):
    """Deductible 500, 20 %, out-of-pocket maximum 700. Claim K1: 27447 billed 1000.00.
    Claim K2 (a later day): 29881 (fee 1075.90) billed 800.00, then 93000 (fee 28.42)."""
    plans = {"plan": {"P": {"deductible": D("500.00"), "coinsurance": D("0.20"),
                            "out_of_pocket_max": D("700.00")}}}
    claims = lines_of(
        {"claim_id": "K1", "hcpcs": "27447", "billed_charge": "1000.00", "plan_id": "P",
         "date_of_service": dt.date(2025, 4, 1)},
        {"claim_id": "K2", "hcpcs": "29881", "billed_charge": "800.00", "plan_id": "P",
         "date_of_service": dt.date(2025, 4, 2), "line_number": 1},
        {"claim_id": "K2", "hcpcs": "93000", "billed_charge": "100.00", "plan_id": "P",
         "date_of_service": dt.date(2025, 4, 2), "line_number": 2},
    )
    return claims, contract, plans, None


def test_out_of_pocket_maximum_reached_mid_claim(contract, schedules):
    claims, c, plans, acc = oop_max_mid_claim(contract, schedules)
    k1, k2a, k2b = ref(claims, c, schedules, plans, acc)[0]
    # K1: deductible 500, coinsurance (1000 - 500) x 20 % = 100; out of pocket 600
    assert shares(k1) == money("500", "0", "100", "400", "600")
    # K2 line 1: coinsurance 800 x 20 % = 160, room 700 - 600 = 100 -> 100; paid 700
    assert k2a["allowed_amount"] == D("800.00")
    assert shares(k2a) == money("0", "0", "100", "700", "100")
    # K2 line 2: 28.42 x 20 % = 5.68, room 0 -> 0; the plan pays it all
    assert k2b["allowed_amount"] == D("28.42")
    assert shares(k2b) == money("0", "0", "0", "28.42", "0")


@case
def family_deductible(contract, schedules):
    """Deductible 1000 each, family deductible 1500, coinsurance 0. Subscriber 900's family:
    member 1 (input first, 1 May: 27447 billed 1000) and member 2 (input second, 1 April:
    27447 billed 800; 2 June: 29881 billed 300). Member 3 alone (no subscriber): 27447 1000.
    Family order is by date, not input: member 2's April line goes first."""
    plans = {"plan": {"F": {"deductible": D("1000.00"), "family_deductible": D("1500.00")}}}
    claims = lines_of(
        {"claim_id": "M1", "member_id": "1", "subscriber_id": "900", "hcpcs": "27447",
         "billed_charge": "1000.00", "date_of_service": dt.date(2025, 5, 1), "plan_id": "F"},
        {"claim_id": "M2", "member_id": "2", "subscriber_id": "00000900", "hcpcs": "27447",
         "billed_charge": "800.00", "date_of_service": dt.date(2025, 4, 1), "plan_id": "F"},
        {"claim_id": "M2b", "member_id": "2", "subscriber_id": "900", "hcpcs": "29881",
         "billed_charge": "300.00", "date_of_service": dt.date(2025, 6, 2), "plan_id": "F"},
        {"claim_id": "M3", "member_id": "3", "hcpcs": "27447", "billed_charge": "1000.00",
         "date_of_service": dt.date(2025, 5, 1), "plan_id": "F"},
    )
    return claims, contract, plans, None


def test_family_deductible_met_by_two_members(contract, schedules):
    claims, c, plans, acc = family_deductible(contract, schedules)
    m1, m2, m2b, m3 = ref(claims, c, schedules, plans, acc)[0]
    # member 2, 1 April: min(800, 1000 - 0, 1500 - 0) = 800
    assert m2["deductible_applied"] == D("800.00")
    # member 1, 1 May: min(1000, 1000 - 0, 1500 - 800) = 700: the family's deductible is met
    assert shares(m1) == money("700", "0", "0", "300", "700")
    # member 2, 2 June: family met -> 0
    assert shares(m2b) == money("0", "0", "0", "300", "0")
    # member 3 is a family of one
    assert m3["deductible_applied"] == D("1000.00")
    ending = ref(claims, c, schedules, plans, acc)[2]
    assert [(r["member_id"], r["subscriber_id"], r["deductible_met"]) for r in ending] == [
        ("00000001", "00000900", D("700.00")), ("00000002", "00000900", D("800.00")),
        ("00000003", "00000003", D("1000.00"))]


@case
def plan_year_reset(contract, schedules):
    """plan_year_start 07-01, deductible 500, coinsurance 0; a starting balance of 300.00
    met in plan year 2024 (and one of 450.00 for plan year 2023, which no line uses).
    99214 (251.14) and 99213 (179.22) with no copays: deductible lines."""
    plans = {"plan": {"Y": {"plan_year_start": "07-01", "deductible": D("500.00")}}}
    claims = lines_of(
        {"claim_id": "J30", "hcpcs": "99214", "date_of_service": dt.date(2025, 6, 30),
         "plan_id": "Y"},
        {"claim_id": "J01", "hcpcs": "99214", "date_of_service": dt.date(2025, 7, 1),
         "plan_id": "Y"},
        {"claim_id": "J02", "hcpcs": "99214", "date_of_service": dt.date(2025, 7, 2),
         "plan_id": "Y"},
        {"claim_id": "F26", "hcpcs": "99213", "date_of_service": dt.date(2026, 2, 2),
         "plan_id": "Y"},
    )
    acc = balance_frame(
        {"member_id": "12345", "plan_id": "Y", "plan_year": 2024, "deductible_met": "300.00",
         "out_of_pocket_met": "310.00"},
        {"member_id": "12345", "plan_id": "Y", "plan_year": 2023, "deductible_met": "450.00",
         "out_of_pocket_met": "450.00"})
    return claims, contract, plans, acc


def test_plan_year_reset_on_july_first(contract, schedules):
    claims, c, plans, acc = plan_year_reset(contract, schedules)
    june30, july1, july2, feb26 = ref(claims, c, schedules, plans, acc)[0]
    # 2025-06-30 is plan year 2024: 500 - 300 = 200 left
    assert june30["deductible_applied"] == D("200.00")
    # 2025-07-01 starts plan year 2025 from zero: 251.14, then min(251.14, 248.86)
    assert july1["deductible_applied"] == D("251.14")
    assert july2["deductible_applied"] == D("248.86")
    # 2026-02-02 is still plan year 2025 (met): 0
    assert feb26["deductible_applied"] == Z
    assert feb26["paid_amount"] == feb26["allowed_amount"] > 0  # all paid
    ending = ref(claims, c, schedules, plans, acc)[2]
    assert [(r["plan_year"], r["deductible_met"], r["out_of_pocket_met"]) for r in ending] == [
        (2023, D("450.00"), D("450.00")), (2024, D("500.00"), D("510.00")),
        (2025, D("500.00"), D("500.00"))]


def test_plan_year_of_a_date():
    from reference_pricer import load_plans
    plans = load_plans({"plan": {"Y": {"plan_year_start": "07-01"}, "C": {},
                                 "E": {"plan_year_start": "12-31"}}})
    y, cal, e = plans.find("Y"), plans.find("C"), plans.find("E")
    assert (y.plan_year(dt.date(2025, 6, 30)), y.plan_year(dt.date(2025, 7, 1))) == (2024, 2025)
    assert (cal.plan_year(dt.date(2025, 12, 31)), cal.plan_year(dt.date(2026, 1, 1))) == (
        2025, 2026)
    assert (e.plan_year(dt.date(2025, 12, 30)), e.plan_year(dt.date(2025, 12, 31))) == (
        2024, 2025)


COPAY_PLAN = {"deductible": D("1000.00"), "coinsurance": D("0.20"),
              "copays": {"office_visit": D("20.00"), "specialist_office_visit": D("40.00"),
                         "emergency_room": D("150.00")}}


@case
def copay_per_visit(contract, schedules):
    """Office visit copay 20, specialist 40, ER 150; deductible 1000, 20 %. Claim V1 (3 March):
    99213 then 99214 (one visit: one copay) and 71046 (chest X-ray, no category: deductible).
    Claim V2, same day: 99213 again (another claim: another visit). Claim V3: 99213 by a
    specialist (40) and 99214 by a nurse practitioner (office visit, 20). Claim V4: 99213 by a
    lab technician (no copay: deductible). Claim V5: 99284 billed 100.00 (ER copay 150 > A: the
    copay is A). Claim V6: 99211 billed 15.00 (office visit copay capped at 15)."""
    plans = {"plan": {"C": COPAY_PLAN}}
    rows = [
        {"claim_id": "V1", "hcpcs": "99213"},
        {"claim_id": "V1", "hcpcs": "99214", "rendering_provider_type": "MD"},
        {"claim_id": "V1", "hcpcs": "71046"},
        {"claim_id": "V2", "hcpcs": "99213", "rendering_provider_type": " pa "},
        {"claim_id": "V3", "hcpcs": "99213", "rendering_provider_type": "specialist"},
        {"claim_id": "V3", "hcpcs": "99214", "rendering_provider_type": "ARNP"},
        {"claim_id": "V4", "hcpcs": "99213", "rendering_provider_type": "lab_technician"},
        {"claim_id": "V5", "hcpcs": "99284", "billed_charge": "100.00"},
        {"claim_id": "V6", "hcpcs": "99211", "billed_charge": "15.00"},
    ]
    claims = lines_of(*rows, plan_id="C", date_of_service=dt.date(2025, 3, 3))
    return claims, contract, plans, None


def test_copay_once_per_visit(contract, schedules):
    claims, c, plans, acc = copay_per_visit(contract, schedules)
    lines, adjustments, ending = ref(claims, c, schedules, plans, acc)
    v1a, v1b, v1c, v2, v3a, v3b, v4, v5, v6 = lines
    assert shares(v1a) == money("0", "20", "0", "159.22", "20")  # 99213 179.22
    assert shares(v1b) == money("0", "0", "0", "251.14", "0")  # same visit: no copay at all
    # 71046 (69.02): the first deductible line of the day (claims V1 < V2 < ... in text order)
    assert shares(v1c) == money("69.02", "0", "0", "0", "69.02")
    assert shares(v2) == money("0", "20", "0", "159.22", "20")
    assert shares(v3a) == money("0", "40", "0", "139.22", "40")
    assert shares(v3b) == money("0", "20", "0", "231.14", "20")  # its own category
    # lab technician: deductible 179.22 (69.02 met before, 1000 - 69.02 left)
    assert shares(v4) == money("179.22", "0", "0", "0", "179.22")
    assert v5["allowed_amount"] == D("100.00")
    assert shares(v5) == money("0", "100", "0", "0", "100")
    assert shares(v6) == money("0", "15", "0", "0", "15")
    assert rows_of(adjustments, "V2", 1) == [
        ("CO", 45, D("10000.00") - D("179.22"), "fee_schedule"), ("PR", 3, D("20.00"), "copay")]
    # out of pocket: copays 20 + 20 + 40 + 20 + 100 + 15, deductible 69.02 + 179.22
    assert ending[0]["deductible_met"] == D("248.24")
    assert ending[0]["out_of_pocket_met"] == D("463.24")


def test_copay_categories_of_codes():
    assert copay_category("99213", "physician") == "office_visit"
    assert copay_category("99245", "nurse_practitioner") == "office_visit"
    assert copay_category("99202", "specialist") == "specialist_office_visit"
    assert copay_category("99213", "lab_technician") is None
    assert copay_category("99213", "other") is None
    assert copay_category("99216", "physician") is None
    assert copay_category("99285", "lab_technician") == "emergency_room"
    for code in ("99381", "99397", "99401", "99429", "G0402", "G0438", "G0439"):
        assert copay_category(code, "physician") == "preventive"
    assert copay_category("99398", "physician") is None
    assert copay_category("90834", "physician") == "mental_health"
    for code in ("97110", "92507", "92508", "92521", "92526"):
        assert copay_category(code, "physician") == "therapy"
    assert copay_category("92520", "physician") is None
    assert copay_category("92557", "physician") == "audiology"
    assert copay_category("59425", "physician") == "maternity"
    assert copay_category("59400", "physician") is None
    assert copay_category("96413", "physician") == "radiation_chemotherapy"
    assert copay_category("77427", "physician") == "radiation_chemotherapy"
    # lab, imaging, EKG, injections: no category
    for code in ("80053", "36415", "71046", "93000", "96372", "90471", "J9035"):
        assert copay_category(code, "physician") is None


@case
def preventive_in_full(contract, schedules):
    """99396 (242.44) and G0438 (320.74): covered in full by plan P (no cost share at all,
    even with a deductible left); plan Q without the option takes the deductible; plan R sets
    a preventive copay of 10 (one per visit: G0438 on the same claim and date carries none)."""
    plans = {"plan": {
        "P": {"deductible": D("500.00"), "coinsurance": D("0.2"),
              "preventive_covered_in_full": True},
        "Q": {"deductible": D("500.00"), "coinsurance": D("0.2")},
        "R": {"deductible": D("500.00"), "coinsurance": D("0.2"),
              "copays": {"preventive": D("10.00")}}}}
    rows = []
    for member, plan in (("1", "P"), ("2", "Q"), ("3", "R")):
        rows += [{"claim_id": f"W{plan}", "member_id": member, "plan_id": plan, "hcpcs": code,
                  "line_number": k} for k, code in enumerate(("99396", "G0438"), 1)]
    return lines_of(*rows), contract, plans, None


def test_preventive_covered_in_full(contract, schedules):
    claims, c, plans, acc = preventive_in_full(contract, schedules)
    p1, p2, q1, q2, r1, r2 = ref(claims, c, schedules, plans, acc)[0]
    assert shares(p1) == money("0", "0", "0", "242.44", "0")
    assert shares(p2) == money("0", "0", "0", "320.74", "0")
    # Q: deductible 242.44, then 257.56 of 320.74 and 20 % of the 63.18 left = 12.64
    assert shares(q1) == money("242.44", "0", "0", "0", "242.44")
    assert shares(q2) == money("257.56", "0", "12.64", "50.54", "270.20")
    assert shares(r1) == money("0", "10", "0", "232.44", "10")
    assert shares(r2) == money("0", "0", "0", "320.74", "0")


@case
def medicaid_copay(contract, schedules):
    """Medicaid member, plan with an office-visit copay of 5 and a deductible of 100: 99213
    (139.05 on Medicaid) carries no copay (flag) and, as a copay service, no deductible; 71046
    (53.55) takes the deductible."""
    plans = {"plan": {"MC": {"deductible": D("100.00"), "coinsurance": D("0.10"),
                             "copays": {"office_visit": D("5.00")}}}}
    claims = lines_of({"hcpcs": "99213", "line_number": 1}, {"hcpcs": "71046", "line_number": 2},
                      line_of_business="medicaid", plan_id="MC")
    return claims, contract, plans, None


def test_medicaid_copay_waived(contract, schedules):
    claims, c, plans, acc = medicaid_copay(contract, schedules)
    visit, xray = ref(claims, c, schedules, plans, acc)[0]
    assert shares(visit) == money("0", "0", "0", "139.05", "0")
    assert visit["flags"] == ["medicaid_copay_waived"]
    assert shares(xray) == money("53.55", "0", "0", "0", "53.55")
    assert xray["flags"] == []


@case
def qmb_member(contract, schedules):
    """QMB Medicare member: 99214 (139.95), deductible 100 left, 20 %: deductible 100.00,
    coinsurance 39.95 x 20 % = 7.99 reported (PR) and accumulated, member liability 0."""
    plans = {"plan": {"MB": {"deductible": D("100.00"), "coinsurance": D("0.20")}}}
    claims = lines_of({"hcpcs": "99214", "qmb": True, "line_of_business": "medicare",
                       "plan_id": "MB"})
    return claims, contract, plans, None


def test_qmb_shares_reported_not_billable(contract, schedules):
    claims, c, plans, acc = qmb_member(contract, schedules)
    (line,), adjustments, ending = ref(claims, c, schedules, plans, acc)
    assert shares(line) == money("100.00", "0", "7.99", "31.96", "0")
    assert line["flags"] == ["qmb_cost_share_not_billable"]
    assert ("PR", 1, D("100.00"), "deductible") in rows_of(adjustments, "C1", 1)
    assert ending[0]["out_of_pocket_met"] == D("107.99")


@case
def part_b_drug(contract, schedules):
    """Part B drugs use the ASP file's co-insurance percentage for Medicare members:
    J0561 (penicillin G benzathine, 100,000 units) 2025Q1 limit 26.821, co-insurance 13.624 %;
    24 units = 643.704 -> 643.70. Plan: deductible 100, 20 %. The same line for a Medicare
    cost member, and for a commercial member (the plan's 20 %)."""
    plans = {"plan": {"D": {"deductible": D("100.00"), "coinsurance": D("0.20")}}}
    claims = lines_of(*({"member_id": m, "claim_id": f"D{m}", "line_of_business": lob}
                        for m, lob in (("1", "medicare"), ("2", "medicare_cost"),
                                       ("3", "commercial"))),
                      hcpcs="J0561", units=24, ndc="00000000000", plan_id="D",
                      date_of_service=dt.date(2025, 2, 15))
    return claims, contract, plans, None


def test_medicare_part_b_drug_coinsurance_from_asp(contract, schedules):
    claims, c, plans, acc = part_b_drug(contract, schedules)
    mcr, cost, com = ref(claims, c, schedules, plans, acc)[0]
    assert mcr["drug_coinsurance_pct"] == D("13.624")
    assert mcr["allowed_amount"] == cost["allowed_amount"] == com["allowed_amount"] == D(
        "643.70")
    # (643.70 - 100) x 13.624 % = 74.0746... -> 74.07
    assert shares(mcr) == money("100", "0", "74.07", "469.63", "174.07")
    assert shares(cost) == shares(mcr)
    # commercial: (643.70 - 100) x 20 % = 108.74
    assert shares(com) == money("100", "0", "108.74", "434.96", "208.74")


@case
def coordination_of_benefits(contract, schedules):
    """Deductible 0, 20 %, 27447 billed 1000.00 (allowed 1000, P = 800), the primary payer
    paid 700.00: plan S (standard, by the contract's default), plan M (maintenance of
    benefits, the plan's key), and a line with no plan that gives its own cost share
    (deductible 100.00, coinsurance 50.00: P = 850) under the commercial LOB's method set to
    maintenance of benefits by the contract; and 99213 (179.22) with other_payer_paid 0.00."""
    c = contract.replace_lob("other", coordination_of_benefits="maintenance_of_benefits")
    plans = {"plan": {"S": {"coinsurance": D("0.20")},
                      "M": {"coinsurance": D("0.20"),
                            "coordination_of_benefits": "maintenance_of_benefits"}}}
    claims = lines_of(
        {"claim_id": "S", "member_id": "1", "plan_id": "S"},
        {"claim_id": "M", "member_id": "2", "plan_id": "M"},
        {"claim_id": "N", "member_id": "3", "line_of_business": "other",
         "deductible": "100.00", "coinsurance": "50.00"},
        {"claim_id": "Z", "member_id": "4", "plan_id": "S", "hcpcs": "99213",
         "billed_charge": "300.00", "other_payer_paid": "0.00"},
        hcpcs="27447", billed_charge="1000.00", other_payer_paid="700.00")
    return claims, c, plans, None


def test_coordination_of_benefits(contract, schedules):
    claims, c, plans, acc = coordination_of_benefits(contract, schedules)
    lines, adjustments, ending = ref(claims, c, schedules, plans, acc)
    std, mob, noplan, zero = lines
    # standard: payment min(800, max(1000 - 700, 0)) = 300, COB 500; liability
    # min(200, max(1000 - 700 - 300, 0)) = 0 (the shares stay reported)
    assert shares(std) == money("0", "0", "200", "300", "0")
    assert std["cob_reduction"] == D("500.00")
    assert rows_of(adjustments, "S", 1)[-2:] == [
        ("PR", 2, D("200.00"), "coinsurance"),
        ("OA", 23, D("500.00"), "coordination_of_benefits")]
    # maintenance of benefits: max(800 - 700, 0) = 100, COB 700; liability min(200, 200)
    assert shares(mob) == money("0", "0", "200", "100", "200")
    assert mob["cob_reduction"] == D("700.00")
    # no plan, LOB other (maintenance of benefits): P = 1000 - 150 = 850 -> 150, COB 700;
    # liability min(150, 1000 - 700 - 150) = 150
    assert shares(noplan) == money("100", "0", "50", "150", "150")
    assert noplan["cob_reduction"] == D("700.00")
    # O = 0: payment min(143.38, 179.22) = P, no COB row
    assert shares(zero) == money("0", "0", "35.84", "143.38", "35.84")
    assert zero["cob_reduction"] == Z
    assert not [a for a in adjustments if a["claim_id"] == "Z" and a["carc"] == 23]
    # the shares count toward the accumulators as applied
    assert [(r["member_id"], r["out_of_pocket_met"]) for r in ending] == [
        ("00000001", D("200.00")), ("00000002", D("200.00")), ("00000004", D("35.84"))]


@case
def starting_balances(contract, schedules):
    """Deductible 500, family deductible 800, 20 %, out-of-pocket 1000, family 1500. Given
    balances: member 1 (family 50) met 450 of the deductible and 950 out of pocket; member 2
    (family 50) 300 and 400; member 3 (no family) a plan year 2024 row only (untouched: kept).
    Member 1: 27447 billed 1000 -> deductible min(1000, 50, 800 - 750 = 50) = 50, coinsurance
    190, room 1000 - 950 = 50 (family 1500 - 1350 = 150) -> deductible 50, coinsurance 0.
    Member 2: 99214 (251.14): deductible min(251.14, 200, 800 - 800) = 0, coinsurance 50.23,
    room min(1000 - 400, 1500 - 1400) = 100 -> 50.23. Then member 2's 27447 billed 500:
    coinsurance 100, room min(549.77, 1500 - 1450.23) = 49.77."""
    plans = {"plan": {"G": {"deductible": D("500.00"), "family_deductible": D("800.00"),
                            "coinsurance": D("0.20"), "out_of_pocket_max": D("1000.00"),
                            "family_out_of_pocket_max": D("1500.00")}}}
    claims = lines_of(
        {"claim_id": "B1", "member_id": "1", "subscriber_id": "50", "hcpcs": "27447",
         "billed_charge": "1000.00", "date_of_service": dt.date(2025, 3, 3)},
        {"claim_id": "B2", "member_id": "2", "subscriber_id": "50", "hcpcs": "99214",
         "date_of_service": dt.date(2025, 3, 4)},
        {"claim_id": "B3", "member_id": "2", "subscriber_id": "50", "hcpcs": "27447",
         "billed_charge": "500.00", "date_of_service": dt.date(2025, 3, 5)},
        plan_id="G")
    acc = balance_frame(
        {"member_id": "1", "subscriber_id": "50", "plan_id": "G", "plan_year": 2025,
         "deductible_met": "450.00", "out_of_pocket_met": "950.00"},
        {"member_id": "00000002", "subscriber_id": "00000050", "plan_id": "G",
         "plan_year": 2025, "deductible_met": "300.00", "out_of_pocket_met": "400.00"},
        {"member_id": "3", "plan_id": "G", "plan_year": 2024, "deductible_met": "12.34",
         "out_of_pocket_met": "56.78"})
    return claims, contract, plans, acc


def test_starting_balances(contract, schedules):
    claims, c, plans, acc = starting_balances(contract, schedules)
    (b1, b2, b3), _, ending = ref(claims, c, schedules, plans, acc)
    assert shares(b1) == money("50", "0", "0", "950", "50")
    assert shares(b2) == money("0", "0", "50.23", "200.91", "50.23")
    assert shares(b3) == money("0", "0", "49.77", "450.23", "49.77")
    assert ending == [
        {"member_id": "00000001", "subscriber_id": "00000050", "plan_id": "G",
         "plan_year": 2025, "deductible_met": D("500.00"), "out_of_pocket_met": D("1000.00")},
        {"member_id": "00000002", "subscriber_id": "00000050", "plan_id": "G",
         "plan_year": 2025, "deductible_met": D("300.00"), "out_of_pocket_met": D("500.00")},
        {"member_id": "00000003", "subscriber_id": "00000003", "plan_id": "G",
         "plan_year": 2024, "deductible_met": D("12.34"), "out_of_pocket_met": D("56.78")},
    ]


def test_day_one_then_day_two_equals_both_days(contract, schedules):
    """"Accumulator balances": pricing day 1, then day 2 with day 1's ending balances, gives
    the same lines as pricing both days in one run."""
    claims, c, plans, acc = starting_balances(contract, schedules)
    both, _, end_both = ref(claims, c, schedules, plans, acc)
    day1 = claims.filter(pl.col("date_of_service") < dt.date(2025, 3, 5))
    day2 = claims.filter(pl.col("date_of_service") >= dt.date(2025, 3, 5))
    lines1, _, end1 = ref(day1, c, schedules, plans, acc)
    lines2, _, end2 = ref(day2, c, schedules, plans, balance_frame(*end1))
    assert lines1 + lines2 == both
    assert end2 == end_both


@case
def given_cost_shares_accumulate(contract, schedules):
    """A day of benefit-system lines (deductible given) and plan-priced lines accumulate
    alike: deductible 300; the first line gives deductible 200.00 (applied as given, counted),
    the next is plan-priced: min(251.14, 300 - 200) = 100."""
    plans = {"plan": {"A": {"deductible": D("300.00")}}}
    claims = lines_of(
        {"claim_id": "G1", "hcpcs": "99214", "deductible": "200.00",
         "date_of_service": dt.date(2025, 3, 3)},
        {"claim_id": "G2", "hcpcs": "99214", "date_of_service": dt.date(2025, 3, 4)},
        plan_id="A")
    return claims, contract, plans, None


def test_given_cost_shares_take_precedence_and_accumulate(contract, schedules):
    claims, c, plans, acc = given_cost_shares_accumulate(contract, schedules)
    (g1, g2), _, ending = ref(claims, c, schedules, plans, acc)
    assert shares(g1) == money("200", "0", "0", "51.14", "200")
    assert shares(g2) == money("100", "0", "0", "151.14", "100")
    assert ending[0]["deductible_met"] == D("300.00")


@case
def rejections(contract, schedules):
    """The three new reasons, after every existing check, in order."""
    plans = {"plan": {"A": PLAN_A}}
    claims = lines_of(
        {"plan_id": "Z"},                                           # plan_id_unknown
        {"plan_id": "Z", "subscriber_id": "x1"},                    # plan first
        {"subscriber_id": "123456789"},                             # subscriber_id_invalid
        {"subscriber_id": "12a", "rendering_provider_type": "nurse"},
        {"rendering_provider_type": "nurse"},                       # provider type invalid
        {"plan_id": "Z", "hcpcs": "9921"},                          # existing checks first
        {"plan_id": "A", "subscriber_id": " 42 ", "rendering_provider_type": "Np"},  # valid
    )
    return claims, contract, plans, None


def test_new_rejection_reasons(contract, schedules):
    claims, c, plans, acc = rejections(contract, schedules)
    lines, adjustments, _ = ref(claims, c, schedules, plans, acc)
    assert [x["reason"] for x in lines] == [
        "plan_id_unknown", "plan_id_unknown", "subscriber_id_invalid", "subscriber_id_invalid",
        "rendering_provider_type_invalid", "hcpcs_invalid", None]
    assert rows_of(adjustments, "C1", 1) == [("CO", 16, D("10000.00"), "rejection")]


@case
def lines_that_take_no_cost_share(contract, schedules):
    """Lines with a plan that take no cost share ("Denied, rejected and void lines take no
    cost share and accumulate nothing; a priced line with A = 0 takes none either"): a
    rejected line (HCPCS 9921), a denied one (99396 for a Medicare member: status N, CO-96), a
    priced line billed 0.00, and rejected lines whose member ID or date cannot be read. None
    of them opens a balance row (OPEN in the reference: "touched" = took part in the cost
    share); member 2's 99214 does."""
    plans = {"plan": {"C": COPAY_PLAN}}
    claims = lines_of(
        {"claim_id": "R1", "member_id": "1", "hcpcs": "9921"},
        {"claim_id": "R2", "member_id": "1", "hcpcs": "99396", "line_of_business": "medicare"},
        {"claim_id": "R3", "member_id": "1", "billed_charge": "0.00"},
        {"claim_id": "R4", "member_id": "123456789"},
        {"claim_id": "R5", "member_id": "3", "date_of_service": "03/15/2025"},
        {"claim_id": "R6", "member_id": "2", "hcpcs": "99214"},
        plan_id="C", date_of_service="2025-03-01")
    return claims, contract, plans, None


def test_lines_that_take_no_cost_share_open_no_balance(contract, schedules):
    claims, c, plans, acc = lines_that_take_no_cost_share(contract, schedules)
    lines, _, ending = ref(claims, c, schedules, plans, acc)
    assert [x["line_status"] for x in lines] == [
        "rejected", "denied", "priced", "rejected", "rejected", "priced"]
    assert all(shares(x)[:3] == (Z, Z, Z) for x in lines[:5])
    # 99214 (251.14), an office visit: copay 20
    assert shares(lines[5]) == money("0", "20", "0", "231.14", "20")
    assert [(r["member_id"], r["plan_year"]) for r in ending] == [("00000002", 2025)]


@case
def a_member_in_two_families(contract, schedules):
    """"Accumulators are kept per member, plan and plan year": member 1's lines name
    subscriber 7 (1 March) and then subscriber 9 (2 March); deductible 500 each, family
    deductible 400. Family order: family 7 (member 1 on 1 March, member 2 on 3 March), then
    family 9. Member 1, 1 March: 251.14. Member 2, 3 March: min(251.14, 500, 400 - 251.14) =
    148.86. Member 1, 2 March (family 9, which has met nothing): min(251.14, 500 - 251.14) =
    248.86: one individual deductible, whatever the subscriber. One balance row per member."""
    plans = {"plan": {"F": {"deductible": D("500.00"), "family_deductible": D("400.00")}}}
    claims = lines_of(
        {"claim_id": "A1", "member_id": "1", "subscriber_id": "7",
         "date_of_service": dt.date(2025, 3, 1)},
        {"claim_id": "A2", "member_id": "1", "subscriber_id": "9",
         "date_of_service": dt.date(2025, 3, 2)},
        {"claim_id": "A3", "member_id": "2", "subscriber_id": "7",
         "date_of_service": dt.date(2025, 3, 3)},
        hcpcs="99214", plan_id="F")
    return claims, contract, plans, None


def test_a_member_in_two_families_has_one_deductible(contract, schedules):
    claims, c, plans, acc = a_member_in_two_families(contract, schedules)
    (a1, a2, a3), _, ending = ref(claims, c, schedules, plans, acc)
    assert [x["deductible_applied"] for x in (a1, a2, a3)] == list(money(
        "251.14", "248.86", "148.86"))
    assert [(r["member_id"], r["deductible_met"]) for r in ending] == [
        ("00000001", D("500.00")), ("00000002", D("148.86"))]


@case
def plan_id_case_and_spaces(contract, schedules):
    """"Text is trimmed and case-normalised first": OPEN in the reference: ``c`` and `` C ``
    name plan ``C`` (matched without regard to case; reported as the plans file spells it)."""
    plans = {"plan": {"C": COPAY_PLAN}}
    claims = lines_of({"claim_id": "P1", "plan_id": " C "}, {"claim_id": "P2", "plan_id": "c"})
    return claims, contract, plans, None


def test_plan_id_is_trimmed_and_case_normalised(contract, schedules):
    claims, c, plans, acc = plan_id_case_and_spaces(contract, schedules)
    lines, _, ending = ref(claims, c, schedules, plans, acc)
    assert [x["copay_applied"] for x in lines] == [D("20.00"), D("20.00")]
    assert [r["plan_id"] for r in ending] == ["C"]


def test_plan_id_without_plans_is_rejected(contract, schedules):
    claims = lines_of({"plan_id": "A"}, {})
    lines, _ = reference_price(claims, contract=contract, schedules=schedules)
    assert [x["reason"] for x in lines] == ["plan_id_unknown", None]


def test_without_plans_the_return_shape_is_unchanged(contract, schedules):
    claims = lines_of({"other_payer_paid": "100.00"})
    lines, adjustments = reference_price(claims, contract=contract, schedules=schedules)
    # COB applies with or without a plan: P = 179.22, standard: min(179.22, 79.22)
    assert lines[0]["paid_amount"] == D("79.22")
    assert lines[0]["cob_reduction"] == D("100.00")


def test_plans_file_is_read_with_exact_amounts(tmp_path):
    from reference_pricer import load_plans
    plans = {"A": {**PLAN_A, "copays": {"office_visit": D("20.00")}},
             "B": {"deductible": D("0.10"), "coinsurance": D("0.1234"),
                   "plan_year_start": "02-28"}}
    parsed = load_plans(write_plans(tmp_path, plans))
    assert parsed.find("B").deductible == D("0.10")
    assert parsed.find("B").coinsurance == D("0.1234")
    assert parsed.find("A").copays == {"office_visit": D("20.00")}
    for bad in ({"plan_year_start": "02-29"}, {"deductible": D("1.001")},
                {"coinsurance": D("0.12345")}, {"coinsurance": D("1.5")}, {"copay": 1},
                {"copays": {"dental": D("5")}}, {"preventive_covered_in_full": "yes"},
                {"coordination_of_benefits": "primary"}):
        with pytest.raises(ValueError, match="plan 'X'"):
            load_plans({"plan": {"X": bad}})


def test_starting_balances_are_checked(contract, schedules):
    plans = {"plan": {"A": PLAN_A}}
    claims = lines_of({})
    for bad, column in (({"plan_id": "Q"}, "plan_id"), ({"member_id": "123456789"}, "member_id"),
                        ({"deductible_met": "-1.00"}, "deductible_met"),
                        ({"out_of_pocket_met": "1.005"}, "out_of_pocket_met")):
        row = {"member_id": "1", "plan_id": "A", "plan_year": 2025, **bad}
        frame = pl.DataFrame([row], schema={k: (pl.Int32 if k == "plan_year" else pl.String)
                                            for k in row})
        with pytest.raises(ValueError, match=f"row 0: {column}"):
            reference_price(claims, contract=contract, schedules=schedules, plans=plans,
                            accumulators=frame)


# --- the engine agrees with the reference -------------------------------------------------------

LINE_KEYS = (
    "line_status", "pricing_method", "fee_schedule_amount", "allowed_amount",
    "deductible_applied", "copay_applied", "coinsurance_applied", "paid_amount",
    "member_liability", "cob_reduction", "sequestration_reduction", "flags", "reason",
    "member_id", "drug_coinsurance_pct",
)


def _plans_path(plans, folder: Path) -> Path:
    return write_plans(folder, plans["plan"])


def assert_engine_agrees(claims, contract, schedules, plans: dict, accumulators, folder: Path):
    """Price with the engine (plans from a file the reference reads too) and compare every
    line, adjustment row and balance row; fail with the first differences, named."""
    path = _plans_path(plans, folder)
    if accumulators is None:
        accumulators = balance_frame()
    ref_lines, ref_adj, ref_end = reference_price(
        claims, contract=contract, schedules=schedules, plans=path, accumulators=accumulators)
    assert balances(claims, ref_lines, ref_adj) == []
    result = pricer.price(claims, contract=contract, schedules=schedules,
                          plans=pricer.Plans.from_toml(path), accumulators=accumulators)
    diffs = line_differences(claims, ref_lines, result.lines.to_dicts(), LINE_KEYS)
    assert diffs[:5] == [], (f"{len(diffs)} line differences (index, column, reference, "
                             "engine, line); first ones above")

    eng_adj = sorted(((a["line_index"], a["group_code"], a["carc"], _norm("", a["amount"]),
                       a["step"]) for a in result.adjustments.to_dicts()), key=str)
    index = {}
    for i, key in enumerate(claims.select("claim_id", "line_number").rows()):
        index.setdefault(key, i)
    ref_rows = sorted(((index[(a["claim_id"], a["line_number"])], a["group_code"], a["carc"],
                        _norm("", a["amount"]), a["step"]) for a in ref_adj), key=str)
    assert eng_adj == ref_rows, "adjustment rows (line index, group, CARC, amount, step)"

    def cents(row):
        return {k: (v.quantize(D("0.01")) if isinstance(v, D) else v) for k, v in row.items()}

    eng_end = [cents(r) for r in result.accumulators.select(list(BALANCE_SCHEMA)).to_dicts()]
    ref_end = [cents(r) for r in ref_end]
    assert eng_end == ref_end, f"balances: engine {eng_end}, reference {ref_end}"
    return result


@pytest.mark.parametrize("fmt", ["csv", "parquet", "frame"])
def test_engine_day_by_day_with_its_own_balances(fmt, contract, schedules, tmp_path):
    """"Accumulator balances": the engine's ending balances (as a CSV file, a Parquet file,
    the frame itself) start day 2; both engine and reference then give the lines of pricing
    both days in one run."""
    claims, c, plans, acc = starting_balances(contract, schedules)
    path = _plans_path(plans, tmp_path)
    engine_plans = pricer.Plans.from_toml(path)
    day1 = claims.filter(pl.col("date_of_service") < dt.date(2025, 3, 5))
    day2 = claims.filter(pl.col("date_of_service") >= dt.date(2025, 3, 5))
    one_run = pricer.price(claims, contract=c, schedules=schedules, plans=engine_plans,
                           accumulators=acc)
    first = pricer.price(day1, contract=c, schedules=schedules, plans=engine_plans,
                         accumulators=acc)
    given = first.accumulators
    if fmt == "csv":
        given = tmp_path / "ytd.csv"
        first.accumulators.write_csv(given)
    elif fmt == "parquet":
        given = tmp_path / "ytd.parquet"
        first.accumulators.write_parquet(given)
    second = assert_engine_agrees(day2, c, schedules, plans, given, tmp_path)
    cols = ["deductible_applied", "copay_applied", "coinsurance_applied", "paid_amount",
            "member_liability"]
    assert (pl.concat([first.lines.select(cols), second.lines.select(cols)]).to_dicts()
            == one_run.lines.select(cols).to_dicts())
    assert second.accumulators.to_dicts() == one_run.accumulators.to_dicts()


@pytest.mark.parametrize("name", sorted(CASES))
def test_engine_agrees_on_hand_cases(name, contract, schedules, tmp_path):
    claims, c, plans, acc = CASES[name](contract, schedules)
    assert_engine_agrees(claims, c, schedules, plans, acc, tmp_path)


# --- property: random plans, members and claims -------------------------------------------------

PLAN_IDS = ["A", "B", "gold"]
CATEGORY_NAMES = ["office_visit", "specialist_office_visit", "emergency_room", "preventive",
                  "mental_health", "therapy", "audiology", "maternity",
                  "radiation_chemotherapy"]
MONEY_TERMS = [D("0.00"), D("50.00"), D("257.00"), D("500.00"), D("1000.00"), D("2500.00"),
               D("33.33")]
PLAN_YEAR_STARTS = ["01-01", "07-01", "04-15", "10-01", "12-31"]
# codes of every copay category and of none (lab, imaging, EKG, drugs, surgery, anesthesia)
PROPERTY_CODES = [
    "99213", "99214", "99211", "99203", "99243", "99284", "99281", "99396", "99385", "G0438",
    "90834", "97110", "92507", "92557", "59425", "96413", "77427", "80053", "71046", "93000",
    "36415", "J0561", "J9035", "J0283", "90658", "27447", "29881", "00840", "99215",
]
PROVIDER_NAMES = [None, None, "physician", "MD", "do", "PA", "physician_assistant", "np",
                  "ARNP", "nurse_practitioner", "specialist", " Specialist ", "lab_technician",
                  "other"]
# dates on both sides of every plan-year start above, in 2025 and 2026 (and 2025 Q1 for the
# ASP file's drugs)
PROPERTY_DATES = [dt.date(2025, 1, 1), dt.date(2025, 2, 14), dt.date(2025, 2, 15),
                  dt.date(2025, 3, 31), dt.date(2025, 4, 14), dt.date(2025, 4, 15),
                  dt.date(2025, 6, 30), dt.date(2025, 7, 1), dt.date(2025, 9, 30),
                  dt.date(2025, 10, 1), dt.date(2025, 12, 30), dt.date(2025, 12, 31),
                  dt.date(2026, 1, 1), dt.date(2026, 4, 15), dt.date(2026, 7, 1)]
BILLED = ["10000.00", "1000.00", "500.00", "250.00", "120.00", "15.00", "0.01", "2999.99"]
OTHER_PAID = [None, None, None, "0.00", "5.00", "50.00", "100.00", "700.00", "5000.00"]
REJECT_ODDS = 30  # about one line in 31 carries a value the new checks reject (0: none)


@st.composite
def plan_terms(draw):
    plan: dict = {}
    if draw(st.booleans()):
        plan["plan_year_start"] = draw(st.sampled_from(PLAN_YEAR_STARTS))
    if draw(st.integers(0, 4)) > 0:
        plan["deductible"] = draw(st.sampled_from(MONEY_TERMS))
    if draw(st.booleans()):
        plan["family_deductible"] = draw(st.sampled_from(
            [D("0.00"), D("100.00"), D("750.00"), D("1500.00"), D("4000.00")]))
    if draw(st.integers(0, 3)) > 0:
        plan["coinsurance"] = draw(st.sampled_from(
            [D("0"), D("0.2"), D("0.15"), D("0.3333"), D("1"), D("0.0001")]))
    if draw(st.booleans()):
        plan["out_of_pocket_max"] = draw(st.sampled_from(
            [D("0.00"), D("100.00"), D("300.00"), D("1000.00"), D("2750.50")]))
    if draw(st.booleans()):
        plan["family_out_of_pocket_max"] = draw(st.sampled_from(
            [D("150.00"), D("600.00"), D("2000.00"), D("5000.00")]))
    if draw(st.booleans()):
        plan["preventive_covered_in_full"] = draw(st.booleans())
    if draw(st.integers(0, 2)) == 0:
        plan["coordination_of_benefits"] = draw(st.sampled_from(
            ["standard", "maintenance_of_benefits"]))
    copays = draw(st.dictionaries(st.sampled_from(CATEGORY_NAMES), st.sampled_from(
        [D("0.00"), D("10.00"), D("20.00"), D("25.50"), D("150.00"), D("1000.00")]),
        max_size=5))
    if copays:
        plan["copays"] = copays
    return plan


@st.composite
def scenario(draw):
    """(plans, contract changes, lines, starting balances): a few members (in random
    families), several claims each, lines over plan-year boundaries."""
    plan_ids = draw(st.lists(st.sampled_from(PLAN_IDS), min_size=1, max_size=3, unique=True))
    plans = {pid: draw(plan_terms()) for pid in plan_ids}
    changes = {}
    for lob in ("medicare", "medicare_cost"):
        seq = draw(st.sampled_from([None, "0.02", "0.02", "0.0125", "1"]))
        if seq is not None:
            changes[lob] = {"sequestration": seq}
    for lob in ("commercial", "medicare", "medicaid", "other"):
        if draw(st.booleans()):
            changes.setdefault(lob, {})["coordination_of_benefits"] = draw(st.sampled_from(
                ["standard", "maintenance_of_benefits"]))
    members = draw(st.lists(st.sampled_from(["1", "22", "333", "4444", "55555"]),
                            min_size=1, max_size=4, unique=True))
    lines, claim_no = [], itertools.count(1)
    member_info = {}
    for member in members:
        subscriber = draw(st.sampled_from([None, "900", "00000900", "901"]))
        lob = draw(st.sampled_from(["commercial", "commercial", "medicare", "medicare_cost",
                                    "medicaid", "other"]))
        plan = draw(st.sampled_from([*plan_ids, *plan_ids, None]))
        qmb = lob in ("medicare", "medicare_cost") and draw(st.integers(0, 3)) == 0
        member_info[member] = (subscriber, plan)
        for _ in range(draw(st.integers(1, 4))):
            claim_id = f"K{next(claim_no):03d}"
            dos = draw(st.sampled_from(PROPERTY_DATES))
            given = draw(st.integers(0, 4)) == 0  # a claim of the benefit system
            for number in range(1, draw(st.integers(1, 4)) + 1):
                code = draw(st.sampled_from(PROPERTY_CODES))
                line = {
                    "claim_id": claim_id, "line_number": number, "member_id": member,
                    "subscriber_id": subscriber, "line_of_business": lob,
                    "date_of_service": dos, "received_date": dos, "hcpcs": code,
                    "units": (draw(st.sampled_from([30, 75])) if code == "00840"
                              else draw(st.sampled_from([1, 1, 1, 2, 24]))),
                    "billed_charge": draw(st.sampled_from(BILLED)),
                    "place_of_service": draw(st.sampled_from(["11", "11", "22", "23"])),
                    "modifier_1": "AA" if code == "00840" else None,
                    "ndc": "00000000000", "plan_id": plan, "qmb": qmb,
                    "rendering_provider_type": draw(st.sampled_from(PROVIDER_NAMES)),
                    "other_payer_paid": draw(st.sampled_from(OTHER_PAID)),
                    "deductible": None, "copay": None, "coinsurance": None,
                }
                if given:
                    for col in ("deductible", "copay", "coinsurance"):
                        line[col] = draw(st.sampled_from([None, "0.00", "20.00", "150.00"]))
                    if all(line[c] is None for c in ("deductible", "copay", "coinsurance")):
                        line["copay"] = "0.00"
                lines.append(line)
    # now and then a line the new checks reject
    for line in lines:
        if REJECT_ODDS and draw(st.integers(0, REJECT_ODDS)) == 0:
            bad = draw(st.sampled_from([("plan_id", "nope"), ("subscriber_id", "12x"),
                                        ("rendering_provider_type", "dentist")]))
            line[bad[0]] = bad[1]
    # random input order (accumulation follows dates, not the input)
    lines = draw(st.permutations(lines))
    starting = []
    for member, (subscriber, plan) in member_info.items():
        if plan is None or draw(st.integers(0, 2)) > 0:
            continue
        for year in draw(st.lists(st.sampled_from([2024, 2025, 2026]), min_size=1,
                                  max_size=2, unique=True)):
            ded = draw(st.sampled_from(["0.00", "100.00", "257.00", "2500.00"]))
            oop = str(D(ded) + D(draw(st.sampled_from(["0.00", "45.67", "1000.00"]))))
            starting.append({"member_id": member, "subscriber_id": subscriber,
                             "plan_id": plan, "plan_year": year, "deductible_met": ded,
                             "out_of_pocket_met": oop})
    return plans, changes, lines, starting


def _frame(lines: list[dict]) -> pl.DataFrame:
    schema = {"claim_id": pl.String, "line_number": pl.Int32, "member_id": pl.String,
              "subscriber_id": pl.String, "line_of_business": pl.String,
              "date_of_service": pl.Date, "received_date": pl.Date, "hcpcs": pl.String,
              "units": pl.Int32, "billed_charge": pl.String, "place_of_service": pl.String,
              "modifier_1": pl.String, "ndc": pl.String, "plan_id": pl.String,
              "qmb": pl.Boolean, "rendering_provider_type": pl.String,
              "other_payer_paid": pl.String, "deductible": pl.String, "copay": pl.String,
              "coinsurance": pl.String}
    return pl.DataFrame(lines, schema=schema).with_columns(locality=pl.lit("02402-02"))


def _scenario_agrees(contract, schedules, folder, drawn):
    plans, changes, lines, starting = drawn
    c = contract
    for lob, kw in changes.items():
        c = c.replace_lob(lob, **kw)
    assert_engine_agrees(_frame(lines), c, schedules, {"plan": plans},
                         balance_frame(*starting), folder)


def _settings(examples: int):
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@_settings(60)
@given(drawn=scenario())
def test_property_cost_share_agrees(contract, schedules, tmp_path, drawn):
    """Random plans, members, families, claims over plan-year boundaries, given cost shares,
    other payers, QMB and sequestration: engine = reference on every line, row and balance."""
    _scenario_agrees(contract, schedules, tmp_path, drawn)


@pytest.mark.slow
@_settings(1500)
@given(drawn=scenario())
def test_property_cost_share_agrees_long(contract, schedules, tmp_path, drawn):
    """The same, many more examples (pytest -m slow)."""
    _scenario_agrees(contract, schedules, tmp_path, drawn)


def test_engine_agrees_on_synthetic_plan_lines(contract, schedules, tmp_path):
    """`pricer synth --plans`: families of up to five, every line of business, copays by the
    rendering provider's type, defective lines among them; limits small enough that
    deductibles, family deductibles and out-of-pocket maximums are met on these few lines."""
    from pricer.synth import synth_claims
    plans = {"plan": {
        "BRONZE": {"deductible": D("300.00"), "family_deductible": D("500.00"),
                   "coinsurance": D("0.3"), "out_of_pocket_max": D("700.00"),
                   "family_out_of_pocket_max": D("1100.00"),
                   "copays": {"emergency_room": D("250.00")}},
        "SILVER": {"deductible": D("150.00"), "coinsurance": D("0.2"),
                   "out_of_pocket_max": D("400.00"), "preventive_covered_in_full": True,
                   "plan_year_start": "07-01",
                   "copays": {"office_visit": D("25.00"), "specialist_office_visit": D("50.00"),
                              "therapy": D("30.00")}},
        "GOLD": {"coinsurance": D("0.1"), "family_out_of_pocket_max": D("300.00"),
                 "copays": {"office_visit": D("15.00"), "emergency_room": D("100.00")}},
    }}
    claims = synth_claims(1_500, seed=61, plans=list(plans["plan"]), invalid_share=0.02,
                          schedules=schedules)
    result = assert_engine_agrees(claims, contract, schedules, plans, None, tmp_path)
    lines = result.lines
    assert (lines["deductible_applied"] > 0).any() and (lines["copay_applied"] > 0).any()
    acc = result.accumulators
    assert (acc["deductible_met"] == D("300.00")).any()  # a BRONZE member met the deductible
    assert result.lines["flags"].list.contains("medicaid_copay_waived").any()
