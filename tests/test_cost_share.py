"""Member cost share from benefit plans (issue 6; docs/cost_share.md).

The worked numbers come from the issue's readjudication example (Plans A and B) and its
sequestration example; the rest are small cases whose amounts follow from the doc's rules,
plus whole-run properties (balance, order independence, balances carried across runs).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import numpy as np
import polars as pl
import pytest

import pricer
from pricer.claims import InputError
from pricer.contract import ContractError
from pricer.plans import PlanError, Plans, copay_category
from pricer.synth import synth_claims
from reference_pricer import balances
from tests.conftest import claim_lines

D = Decimal
LAB = "80053"  # no copay category: deductible and coinsurance


@pytest.fixture(scope="module")
def at_charges():
    """Lab lines allowed at their billed charge, in every LOB: allowed amounts chosen freely."""
    c = pricer.default_contract()
    for lob in ("commercial", "medicare", "medicaid"):
        c = c.replace_lob(lob, carve_outs=[{"hcpcs": LAB, "percent_of_charges": 1}])
    return c


def money(frame: pl.DataFrame, col: str) -> list[Decimal]:
    return frame[col].to_list()


def assert_balanced(result):
    """billed = paid + sum(adjustments) on every line (the reference pricer's check)."""
    lines = result.lines
    assert balances(lines, lines.to_dicts(), result.adjustments.to_dicts()) == []


def charges(*amounts, plan="A", **common):
    rows = [{"claim_id": f"C{k}", "line_number": 1, "hcpcs": LAB, "billed_charge": a,
             "date_of_service": dt.date(2025, 3, k + 1), "plan_id": plan}
            for k, a in enumerate(amounts)]
    return claim_lines(*rows, **common)


# --- the issue's worked examples ----------------------------------------------------------

@pytest.mark.parametrize("plan, paid, member", [
    ({"deductible": 2500, "coinsurance": 0}, ["0", "0", "500", "1000"], ["1000", "500", "1000", "0"]),
    ({"deductible": 3000, "coinsurance": 0.2}, ["0", "0", "0", "800"], ["1000", "500", "1500", "200"]),
])
def test_readjudication_example_plans_a_and_b(at_charges, plan, paid, member):
    plans = Plans.from_dict({"plan": {"A": plan}})
    r = pricer.price(charges("1000.00", "500.00", "1500.00", "1000.00"), contract=at_charges,
                     plans=plans)
    assert money(r.lines, "paid_amount") == [D(x) for x in paid]
    assert money(r.lines, "member_liability") == [D(x) for x in member]
    assert_balanced(r)


def test_sequestration_example(at_charges):
    contract = at_charges.replace_lob("medicare", sequestration="0.02")
    plans = Plans.from_dict({"plan": {"M": {"deductible": 250, "coinsurance": 0.2}}})
    start = pl.DataFrame({"member_id": ["12345"], "plan_id": ["M"], "plan_year": [2025],
                          "deductible_met": ["200.00"], "out_of_pocket_met": ["200.00"]})
    lines = charges("100.00", plan="M", line_of_business="medicare")
    r = pricer.price(lines, contract=contract, plans=plans, accumulators=start)
    row = r.lines.row(0, named=True)
    assert (row["deductible_applied"], row["coinsurance_applied"]) == (D("50.00"), D("10.00"))
    assert row["sequestration_reduction"] == D("0.80")
    assert row["paid_amount"] == D("39.20")
    assert row["member_liability"] == D("60.00")
    adj = r.adjustments.select("group_code", "carc", "amount").rows()
    assert ("CO", 253, D("0.80")) in [(str(g), c, a) for g, c, a in adj]
    assert_balanced(r)
    bal = r.accumulators.row(0, named=True)
    assert (bal["deductible_met"], bal["out_of_pocket_met"]) == (D("250.00"), D("260.00"))


# --- accumulators ------------------------------------------------------------------------

def test_out_of_pocket_maximum_reached_mid_claim(at_charges):
    plans = Plans.from_dict({"plan": {"A": {"coinsurance": 0.2, "out_of_pocket_max": 300}}})
    lines = claim_lines(*[{"hcpcs": LAB, "billed_charge": "1000.00", "plan_id": "A"}] * 3)
    r = pricer.price(lines, contract=at_charges, plans=plans)
    assert money(r.lines, "coinsurance_applied") == [D("200.00"), D("100.00"), D("0.00")]
    assert money(r.lines, "paid_amount") == [D("800.00"), D("900.00"), D("1000.00")]
    assert r.accumulators["out_of_pocket_met"].to_list() == [D("300.00")]


def test_family_deductible_met_by_two_members(at_charges):
    plans = Plans.from_dict({"plan": {"F": {"deductible": 1000, "family_deductible": 1500}}})
    lines = claim_lines(
        {"claim_id": "A1", "member_id": "1", "billed_charge": "1000.00"},
        {"claim_id": "B1", "member_id": "2", "billed_charge": "800.00",
         "date_of_service": dt.date(2025, 3, 2)},
        {"claim_id": "B2", "member_id": "2", "billed_charge": "300.00",
         "date_of_service": dt.date(2025, 3, 3)},
        {"claim_id": "C1", "member_id": "3", "billed_charge": "400.00",
         "date_of_service": dt.date(2025, 3, 4)},
        hcpcs=LAB, plan_id="F", subscriber_id="1")
    r = pricer.price(lines, contract=at_charges, plans=plans)
    assert money(r.lines, "deductible_applied") == [D("1000.00"), D("500.00"), D("0.00"),
                                                     D("0.00")]
    acc = r.accumulators
    assert acc["member_id"].to_list() == ["00000001", "00000002", "00000003"]
    assert set(acc["subscriber_id"]) == {"00000001"}
    assert acc["deductible_met"].to_list() == [D("1000.00"), D("500.00"), D("0.00")]


def test_family_from_parquet_subscriber_ids_padded_and_text(at_charges, tmp_path):
    """The same family read from Parquet (IDs as dictionary columns, as given with blanks
    and without zero-filling): the family is keyed by the ID's number, so " 1" and "0001"
    are one subscriber; the output passes subscriber_id through as given, as text."""
    plans = Plans.from_dict({"plan": {"F": {"deductible": 1000, "family_deductible": 1500}}})
    lines = claim_lines(
        {"claim_id": "A1", "member_id": "1", "billed_charge": "1000.00", "subscriber_id": " 1"},
        {"claim_id": "B1", "member_id": "002", "billed_charge": "800.00",
         "date_of_service": dt.date(2025, 3, 2), "subscriber_id": "0001"},
        {"claim_id": "B2", "member_id": "2 ", "billed_charge": "300.00",
         "date_of_service": dt.date(2025, 3, 3), "subscriber_id": "00000001"},
        hcpcs=LAB, plan_id="F")
    path = tmp_path / "family.parquet"
    lines.write_parquet(path)
    r = pricer.price(path, contract=at_charges, plans=plans)
    assert money(r.lines, "deductible_applied") == [D("1000.00"), D("500.00"), D("0.00")]
    assert r.lines["subscriber_id"].dtype == pl.String
    assert r.lines["subscriber_id"].to_list() == [" 1", "0001", "00000001"]
    assert r.lines["member_id"].to_list() == ["00000001", "00000002", "00000002"]
    assert r.accumulators["member_id"].to_list() == ["00000001", "00000002"]
    assert set(r.accumulators["subscriber_id"]) == {"00000001"}


def test_plan_year_resets_on_its_start_day(at_charges):
    plans = Plans.from_dict({"plan": {"Y": {"deductible": 500, "plan_year_start": "07-01"}}})
    lines = claim_lines(
        {"claim_id": "X1", "date_of_service": dt.date(2025, 6, 30)},
        {"claim_id": "X2", "date_of_service": dt.date(2025, 7, 1)},
        {"claim_id": "X3", "date_of_service": dt.date(2025, 7, 2)},
        hcpcs=LAB, billed_charge="500.00", plan_id="Y")
    r = pricer.price(lines, contract=at_charges, plans=plans)
    assert money(r.lines, "deductible_applied") == [D("500.00"), D("500.00"), D("0.00")]
    assert r.accumulators["plan_year"].to_list() == [2024, 2025]


def test_lines_apply_in_date_claim_line_order_whatever_the_input_order(at_charges):
    plans = Plans.from_dict({"plan": {"A": {"deductible": 700, "coinsurance": 0.1}}})
    lines = claim_lines(
        {"claim_id": "K2", "line_number": 1, "date_of_service": dt.date(2025, 5, 1)},
        {"claim_id": "K1", "line_number": 2, "date_of_service": dt.date(2025, 5, 1)},
        {"claim_id": "K1", "line_number": 1, "date_of_service": dt.date(2025, 5, 1)},
        {"claim_id": "K0", "line_number": 1, "date_of_service": dt.date(2025, 5, 2)},
        hcpcs=LAB, billed_charge="300.00", plan_id="A")
    r = pricer.price(lines, contract=at_charges, plans=plans)
    # order: K1-1, K1-2, K2-1 (5/1), then K0-1 (5/2)
    assert money(r.lines, "deductible_applied") == [D("100.00"), D("300.00"), D("300.00"),
                                                     D("0.00")]


def test_balances_carried_across_two_runs_equal_one_run(at_charges, schedules):
    plans = Plans.from_dict({"plan": {
        "P1": {"deductible": 300, "family_deductible": 600, "coinsurance": 0.2,
               "out_of_pocket_max": 900, "family_out_of_pocket_max": 1500,
               "copays": {"office_visit": 25, "emergency_room": 150}},
        "P2": {"deductible": 1000, "coinsurance": 0.3, "plan_year_start": "03-01",
               "preventive_covered_in_full": True}}})
    frame = synth_claims(6000, seed=7)
    members = frame["member_id"].unique().sort()
    rng = np.random.default_rng(3)
    plan_of = dict(zip(members.to_list(), rng.choice(["P1", "P2", None], len(members))))
    fam_of = dict(zip(members.to_list(), rng.choice(members.to_list(), len(members))))
    frame = frame.with_columns(
        pl.col("member_id").replace_strict(plan_of, return_dtype=pl.String).alias("plan_id"),
        pl.col("member_id").replace_strict(fam_of, return_dtype=pl.String).alias("subscriber_id"),
        *[pl.lit(None, pl.String).alias(c) for c in ("deductible", "copay", "coinsurance")])
    days = frame["date_of_service"].unique().sort()
    cut = days[len(days) // 2]
    one = pricer.price(frame, contract=at_charges, schedules=schedules, plans=plans)
    first = pricer.price(frame.filter(pl.col("date_of_service") < cut), contract=at_charges,
                         schedules=schedules, plans=plans)
    second = pricer.price(frame.filter(pl.col("date_of_service") >= cut), contract=at_charges,
                          schedules=schedules, plans=plans, accumulators=first.accumulators)
    cols = ["claim_id", "line_number", "deductible_applied", "copay_applied",
            "coinsurance_applied", "paid_amount", "member_liability"]
    both = pl.concat([first.lines.select(cols), second.lines.select(cols)])
    key = ["claim_id", "line_number"]
    assert one.lines.select(cols).sort(key).equals(both.sort(key))
    assert one.accumulators.equals(second.accumulators)
    assert one.lines["deductible_applied"].sum() > 0 and one.lines["copay_applied"].sum() > 0
    assert_balanced(one)


# --- rules of the manual -----------------------------------------------------------------

def copay_plan(**extra):
    return Plans.from_dict({"plan": {"C": {
        "deductible": 500, "coinsurance": 0.2, **extra,
        "copays": {"office_visit": 20, "specialist_office_visit": 45, "therapy": 30,
                   "emergency_room": 150}}}})


def test_copay_once_per_visit_and_no_deductible_on_copay_services():
    lines = claim_lines({"hcpcs": "97110", "units": 1}, {"hcpcs": "97140"},
                        {"hcpcs": LAB}, plan_id="C", billed_charge="1000.00")
    r = pricer.price(lines, plans=copay_plan())
    got = r.lines.select("copay_applied", "deductible_applied", "coinsurance_applied").rows()
    assert got[0] == (D("30.00"), D("0.00"), D("0.00"))
    assert got[1] == (D("0.00"), D("0.00"), D("0.00"))
    assert got[2][0] == D("0.00") and got[2][1] > 0  # the lab takes the deductible


@pytest.mark.parametrize("provider, copay", [
    (None, "20.00"), ("PA", "20.00"), ("nurse_practitioner", "20.00"), ("specialist", "45.00"),
])
def test_office_visit_copay_by_provider_type(provider, copay):
    lines = claim_lines({"hcpcs": "99213", "rendering_provider_type": provider}, plan_id="C")
    r = pricer.price(lines, plans=copay_plan())
    assert r.lines["copay_applied"].to_list() == [D(copay)]
    assert r.lines["deductible_applied"].to_list() == [D("0.00")]


def test_no_copay_for_a_lab_technician():
    lines = claim_lines({"hcpcs": "99211", "rendering_provider_type": "lab_technician"},
                        plan_id="C")
    r = pricer.price(lines, plans=copay_plan())
    row = r.lines.row(0, named=True)
    assert row["copay_applied"] == D("0.00")
    assert row["deductible_applied"] == row["allowed_amount"]  # under the 500 deductible


@pytest.mark.parametrize("full, expect_share", [(True, False), (False, True)])
def test_preventive_covered_in_full_when_the_plan_says_so(full, expect_share):
    lines = claim_lines({"hcpcs": "99396"}, plan_id="C")
    r = pricer.price(lines, plans=copay_plan(preventive_covered_in_full=full))
    row = r.lines.row(0, named=True)
    shares = row["deductible_applied"] + row["copay_applied"] + row["coinsurance_applied"]
    assert (shares > 0) is expect_share
    assert row["paid_amount"] + shares == row["allowed_amount"]


def test_medicaid_members_never_pay_copays():
    lines = claim_lines({"hcpcs": "99213"}, plan_id="C", line_of_business="medicaid")
    r = pricer.price(lines, plans=copay_plan())
    row = r.lines.row(0, named=True)
    assert row["copay_applied"] == row["deductible_applied"] == D("0.00")
    assert row["paid_amount"] == row["allowed_amount"]
    assert "medicaid_copay_waived" in row["flags"]


def test_qmb_members_are_not_billed_medicare_cost_sharing(at_charges):
    plans = Plans.from_dict({"plan": {"M": {"deductible": 257, "coinsurance": 0.2}}})
    lines = charges("100.00", plan="M", line_of_business="medicare", qmb=True)
    r = pricer.price(lines, contract=at_charges, plans=plans)
    row = r.lines.row(0, named=True)
    assert row["deductible_applied"] == D("100.00")  # computed and reported (PR) ...
    assert row["member_liability"] == D("0.00")      # ... but not billable
    assert "qmb_cost_share_not_billable" in row["flags"]
    assert_balanced(r)


def test_medicare_part_b_drug_uses_the_asp_coinsurance():
    plans = Plans.from_dict({"plan": {"M": {"coinsurance": 0.05}}})
    lines = claim_lines({"hcpcs": "J9035", "units": 40, "ndc": "00000000000",
                         "line_of_business": "medicare", "billed_charge": "5000.00"},
                        {"hcpcs": "J9035", "units": 40, "ndc": "00000000000",
                         "line_of_business": "commercial", "billed_charge": "5000.00"},
                        plan_id="M")
    r = pricer.price(lines, plans=plans)
    med, com = r.lines.rows(named=True)
    assert med["allowed_amount"] == D("2927.60")           # issue 2's worked vector
    assert med["drug_coinsurance_pct"] == D("20.000")      # the ASP file's co-insurance
    assert med["coinsurance_applied"] == D("585.52")       # 20 % of 2927.60
    assert com["coinsurance_applied"] == (com["allowed_amount"] * D("0.05")).quantize(D("0.01"))


def test_cost_shares_given_on_the_line_take_precedence_and_accumulate(at_charges):
    plans = Plans.from_dict({"plan": {"A": {"deductible": 500, "coinsurance": 0.5}}})
    lines = charges("300.00", "300.00", plan="A").with_columns(
        pl.Series("deductible", ["50.00", None]))
    r = pricer.price(lines, contract=at_charges, plans=plans)
    assert money(r.lines, "deductible_applied") == [D("50.00"), D("300.00")]
    assert money(r.lines, "coinsurance_applied") == [D("0.00"), D("0.00")]
    assert r.accumulators["deductible_met"].to_list() == [D("350.00")]


# --- coordination of benefits -----------------------------------------------------------

@pytest.mark.parametrize("method, paid, cob, liability", [
    ("standard", "30.00", "50.00", "0.00"),
    ("maintenance_of_benefits", "10.00", "70.00", "20.00"),
])
def test_coordination_of_benefits(at_charges, method, paid, cob, liability):
    plans = Plans.from_dict({"plan": {"A": {"deductible": 20, "coordination_of_benefits": method}}})
    lines = charges("100.00", plan="A").with_columns(pl.lit("70.00").alias("other_payer_paid"))
    r = pricer.price(lines, contract=at_charges, plans=plans)
    row = r.lines.row(0, named=True)
    assert row["deductible_applied"] == D("20.00")
    assert (row["paid_amount"], row["cob_reduction"], row["member_liability"]) == \
        (D(paid), D(cob), D(liability))
    assert ("OA", 23, D(cob)) in [(str(g), c, a) for g, c, a in
                                  r.adjustments.select("group_code", "carc", "amount").rows()]
    assert_balanced(r)


def test_contract_cob_option_without_a_plan(at_charges):
    contract = at_charges.replace_lob("commercial",
                                      coordination_of_benefits="maintenance_of_benefits")
    lines = charges("100.00", plan=None).with_columns(
        pl.lit("70.00").alias("other_payer_paid"), pl.lit("20.00").alias("copay"))
    r = pricer.price(lines, contract=contract)
    assert r.lines["paid_amount"].to_list() == [D("10.00")]
    r = pricer.price(lines, contract=at_charges)  # standard
    assert r.lines["paid_amount"].to_list() == [D("30.00")]


# --- refusals -----------------------------------------------------------------------------

def test_bad_benefit_columns_reject_the_line():
    plans = copay_plan()
    lines = claim_lines({"plan_id": "NOPE"}, {"plan_id": "C", "subscriber_id": "12AB"},
                        {"plan_id": "C", "rendering_provider_type": "wizard"},
                        {"plan_id": "C", "rendering_provider_type": " ARNP "}, hcpcs="99213")
    r = pricer.price(lines, plans=plans)
    assert r.lines["reason"].to_list() == ["plan_id_unknown", "subscriber_id_invalid",
                                           "rendering_provider_type_invalid", None]
    assert r.lines["copay_applied"].to_list()[3] == D("20.00")
    r = pricer.price(claim_lines({"plan_id": "C", "hcpcs": "99213"}))  # no plans at all
    assert r.lines["reason"].to_list() == ["plan_id_unknown"]


def test_plans_file_problems_are_named(tmp_path):
    with pytest.raises(PlanError) as e:
        Plans.from_dict({"plan": {"A": {"coinsurance": 1.5, "plan_year_start": "02-30",
                                        "copays": {"office": 20}, "deductible": "1.001"}}})
    text = str(e.value)
    for part in ("plan.A.coinsurance", "plan.A.plan_year_start", "plan.A.copays.office",
                 "plan.A.deductible"):
        assert part in text
    f = tmp_path / "plans.toml"
    f.write_text('[plan.A]\ndeductible = 100\n')
    (tmp_path / "c.toml").write_text('name = "x"\nplans = "plans.toml"\n')
    c = pricer.Contract.from_toml(tmp_path / "c.toml")
    assert c.plans["A"].deductible == D("100.00")
    assert c.sha256() != pricer.Contract.from_dict({"name": "x"}).sha256()
    with pytest.raises(ContractError, match="sequestration"):
        pricer.default_contract().replace_lob("commercial", sequestration="0.02")


def test_starting_balances_are_checked():
    plans = copay_plan()
    bad = pl.DataFrame({"member_id": ["12x"], "plan_id": ["Z"], "plan_year": [2025],
                        "deductible_met": ["1.005"], "out_of_pocket_met": ["-1"]})
    with pytest.raises(InputError) as e:
        pricer.price(claim_lines({"plan_id": "C", "hcpcs": "99213"}), plans=plans,
                     accumulators=bad)
    text = str(e.value)
    for col in ("member_id", "plan_id", "deductible_met", "out_of_pocket_met"):
        assert f"row 1, column {col}" in text


def test_copay_categories_follow_the_manual():
    names = {c: pricer.plans.COPAY_CATEGORIES[copay_category(c)] if copay_category(c) >= 0
             else None for c in ("99213", "99284", "99396", "90834", "97110", "92557", "59425",
                                 "77385", "96413", "80053", "71046", "93000", "90471")}
    assert names == {"99213": "office_visit", "99284": "emergency_room", "99396": "preventive",
                     "90834": "mental_health", "97110": "therapy", "92557": "audiology",
                     "59425": "maternity", "77385": "radiation_chemotherapy",
                     "96413": "radiation_chemotherapy", "80053": None, "71046": None,
                     "93000": None, "90471": None}


# --- command line -------------------------------------------------------------------------

def test_cli_carries_balances_day_to_day(tmp_path, capsys):
    from pricer.cli import main
    (tmp_path / "plans.toml").write_text(
        '[plan.A]\ndeductible = 400\ncoinsurance = 0.25\n\n[plan.A.copays]\noffice_visit = 20\n')
    frame = synth_claims(3000, seed=11).with_columns(
        pl.lit("A").alias("plan_id"),
        *[pl.lit(None, pl.String).alias(c) for c in ("deductible", "copay", "coinsurance")])
    cut = frame["date_of_service"].sort()[1500]
    day1, day2, both = (tmp_path / f"{n}.parquet" for n in ("day1", "day2", "both"))
    frame.filter(pl.col("date_of_service") < cut).write_parquet(day1)
    frame.filter(pl.col("date_of_service") >= cut).write_parquet(day2)
    frame.write_parquet(both)
    plans = str(tmp_path / "plans.toml")
    for args in (
        ["reprice", str(day1), "-o", str(tmp_path / "p1.parquet"), "--plans", plans,
         "--accumulators-out", str(tmp_path / "ytd1.parquet")],
        ["reprice", str(day2), "-o", str(tmp_path / "p2.parquet"), "--plans", plans,
         "--accumulators", str(tmp_path / "ytd1.parquet"),
         "--accumulators-out", str(tmp_path / "ytd2.csv")],
        ["reprice", str(both), "-o", str(tmp_path / "all.parquet"), "--plans", plans,
         "--accumulators-out", str(tmp_path / "ytd_all.parquet")],
    ):
        assert main(args) == 0
    ytd2 = pl.read_csv(tmp_path / "ytd2.csv", infer_schema=False)
    ytd_all = pl.read_parquet(tmp_path / "ytd_all.parquet").cast(pl.String)
    assert ytd2.equals(ytd_all.select(ytd2.columns))
    assert pl.read_parquet(tmp_path / "all.parquet")["copay_applied"].sum() > 0
    # the streamed batch accumulates over the whole input too (tests/test_batch.py)
    assert main(["reprice", str(both), "-o", str(tmp_path / "dataset"), "--plans", plans,
                 "--batch-rows", "1000"]) == 0
    dataset = pl.read_parquet(tmp_path / "dataset" / "accumulators.parquet").cast(pl.String)
    assert dataset.equals(ytd_all)


def test_whatif_compares_benefit_designs(at_charges, tmp_path):
    """Two contracts that differ only in their plans: compare equals separate runs."""
    low = Plans.from_dict({"plan": {"A": {"deductible": 250, "coinsurance": 0.1}}})
    high = Plans.from_dict({"plan": {"A": {"deductible": 2500, "coinsurance": 0.3}}})
    lines = charges("1000.00", "500.00", "1500.00", "1000.00")
    contracts = {name: dataclasses.replace(at_charges, plans=p)
                 for name, p in (("low", low), ("high", high))}
    table = pricer.compare(lines, contracts, by="line_of_business")
    for name, contract in contracts.items():
        paid = pricer.price(lines, contract=contract).lines["paid_amount"].sum()
        assert table[f"paid_{name}"].sum() == paid
    assert table["paid_low"].sum() > table["paid_high"].sum()


@pytest.mark.parametrize("case", ["families", "large_groups", "wide_keys", "storage_order"])
def test_accumulation_order_is_group_date_claim_line_then_input_order(case):
    """The walk's order is a stable sort by (group, date of service, claim rank, line
    number): lines that tie keep their input order. Three ways to it: the four keys and the
    position packed in one integer; when claim ranks are too wide for that but claims and
    lines come in storage order, group, date and position; otherwise np.lexsort."""
    from pricer.benefits import _accumulation_order
    rng = np.random.default_rng(3)
    n = 20_000
    n_groups = 40 if case == "large_groups" else 6_000  # ~500 lines a group
    group = rng.integers(0, n_groups, n)
    group[rng.random(n) < 0.1] = -1  # lines without a plan are not selected
    dos = rng.integers(20_000, 20_030, n).astype(np.int32)
    claim = rng.integers(0, 300, n)
    if case == "wide_keys":
        claim = claim << 50  # group, dos, claim and line no longer fit one int64
    line = rng.integers(1, 4, n)  # many exact ties
    if case == "storage_order":  # claims in rank order, lines in order within them
        by = np.lexsort((line, claim))
        claim, line = claim[by] << 50, line[by]
    sel = np.flatnonzero(group >= 0)
    order = _accumulation_order(sel, group, dos, claim, line)
    want = sel[np.lexsort((line[sel], claim[sel], dos[sel], group[sel]))]  # stable
    assert np.array_equal(order, want)


def test_ending_balances_are_the_sums_of_the_lines_shares_over_many_blocks(contract,
                                                                           schedules):
    """Ending balances are packed per block of 4,096 family groups by the kernel; with more
    groups than one block, every (member, plan, year) row still equals the sum of its lines'
    applied deductible and cost shares (no starting balances; plan years from January)."""
    from pricer.benefits_nb import BLOCK
    from pricer.synth import synth_claims
    plans = pricer.Plans.from_dict({"plan": {
        "A": {"deductible": 200, "coinsurance": 0.2, "out_of_pocket_max": 900,
              "copays": {"office_visit": 20}},
        "B": {"deductible": 50, "family_deductible": 100, "coinsurance": 0.1}}})
    claims = synth_claims(90_000, seed=8, plans=plans.ids, schedules=schedules)
    result = pricer.price(claims, contract, schedules, plans=plans)
    assert claims["subscriber_id"].n_unique() > BLOCK  # several blocks of families
    lines = result.lines.filter((pl.col("line_status") == "priced") &
                                (pl.col("allowed_amount") > 0))
    want = lines.group_by(
        pl.col("member_id"), pl.col("plan_id").cast(pl.String),
        pl.col("date_of_service").dt.year().cast(pl.Int32).alias("plan_year"),
    ).agg(
        pl.col("deductible_applied").sum().alias("deductible_met"),
        (pl.col("deductible_applied") + pl.col("copay_applied") + pl.col("coinsurance_applied"))
        .sum().alias("out_of_pocket_met"),
    ).sort("member_id", "plan_id", "plan_year")
    got = result.accumulators.select(want.columns).sort("member_id", "plan_id", "plan_year")
    assert got.height == want.height
    assert got.with_columns(pl.col("deductible_met", "out_of_pocket_met").cast(pl.String)) \
        .equals(want.with_columns(pl.col("deductible_met", "out_of_pocket_met")
                                  .cast(pl.String)))
    assert (got["deductible_met"] > 0).any()


def test_result_keeps_the_ending_balances_rows_not_the_lines(contract, schedules):
    """A result with plans holds the ending balances' rows (one per member, plan and plan
    year), not every line's walk and encoding, until ``accumulators`` is asked for: on 10 M
    lines a closure over those kept about 1.1 GB alive as long as the result."""
    import numpy as np

    from pricer.synth import synth_claims
    plans = pricer.Plans.from_dict({"plan": {"A": {"deductible": 200, "coinsurance": 0.2}}})
    claims = synth_claims(3_000, seed=4, plans=plans.ids, schedules=schedules)
    result = pricer.price(claims, contract, schedules, plans=plans)
    kept = result._accumulators.args[0]  # not built yet: what the result keeps for it
    arrays = [v for v in vars(kept).values() if isinstance(v, np.ndarray)]
    assert arrays and all(len(a) == len(kept.member) for a in arrays)
    assert len(kept.member) < claims.height // 2
    assert result.accumulators.height == len(kept.member)


@pytest.mark.parametrize("ordered", [True, False])
def test_batch_claim_ranks_in_claim_id_order(ordered):
    """The batch's accumulation ranks claim IDs over the whole input: one pass over the text
    when they come in increasing runs (a claim's lines together), a sort otherwise; both
    give the dense sort ranks."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from pricer.benefits import _claim_id_ranks
    rng = np.random.default_rng(9)
    ids = np.sort(rng.choice(10**6, 3_000, replace=False))
    lines = np.repeat(ids, rng.integers(1, 4, len(ids)))
    if not ordered:
        rng.shuffle(lines)
    text = [f"C{v:09d}" for v in lines]
    col = pa.chunked_array([pa.array(text[:1000]), pa.array(text[1000:])])
    want = pc.rank(col, sort_keys="ascending", tiebreaker="dense").to_numpy() - 1
    assert np.array_equal(_claim_id_ranks(col), want)

