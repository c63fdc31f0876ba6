"""The contract terms of docs/contract.md ("Carve-outs", "Methods", "Terms by date",
"Conversion factor by locality"): the engine agrees with the Decimal reference to the cent.

Random contracts are the bundled one with some LOBs changed by ``replace_lob``: methods
(``rbrvs``, ``percent_of_charges``, ``percent_of_medicare``), percentages of Medicare, dated
periods inside 2025-2026 (the years of the bundled schedules), conversion factors per locality
(02402-02 Seattle, 02402-99 rest of Washington) and carve-outs of every kind (a code, a list,
a range, a modifier, a code or range with a modifier, with and without dates; fee, percent of
charges, percent of Medicare). Lines come from the strategies of test_reference_parity.py.
Hand-written cases below check the reference itself on the documented examples.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricer.money import round_half_up
from reference_pricer import balances, reference_price
from test_reference_parity import CODES, SESSION_CODES, assert_same, claim_line, session_line
from tests.conftest import claim_lines

D = Decimal
BIG = "19999.99"  # above every fee here, below the $20,000 high-dollar claim review (§11)

# --- strategies -------------------------------------------------------------------------------

NON_MEDICARE = ["commercial", "medicaid", "other", "medicare_cost"]
LOCALITIES = ["02402-02", "02402-99"]
# dates of service on and beside the period starts below
BOUNDARY_DATES = [dt.date(2025, 2, 14), dt.date(2025, 2, 15), dt.date(2025, 3, 31),
                  dt.date(2025, 4, 1), dt.date(2025, 6, 30), dt.date(2025, 7, 1),
                  dt.date(2025, 12, 31), dt.date(2026, 1, 1), dt.date(2026, 6, 30),
                  dt.date(2026, 7, 1)]
# (2025-02-15: inside 2025Q1, the only quarter of the bundled ASP file, for drug lines)
PERIOD_STARTS = [dt.date(2025, 2, 15), dt.date(2025, 4, 1), dt.date(2025, 7, 1),
                 dt.date(2025, 10, 1), dt.date(2026, 1, 1), dt.date(2026, 2, 1),
                 dt.date(2026, 7, 1)]
CARVE_DATES = [None, dt.date(2025, 1, 1), dt.date(2025, 2, 15), dt.date(2025, 7, 1),
               dt.date(2025, 12, 31), dt.date(2026, 3, 2), dt.date(2026, 12, 31)]

CF = ["cms", "58.00", "61.5", "47.1234", "10.005"]
CF_NUMBER = ["61.50", "55.1234", "33.4009", "70.00"]
ANES_CF = ["cms", "62.00", "21.5450"]
ANES_CF_NUMBER = ["64.00", "19.9999", "70.00"]
FRACTION_OF_CHARGES = ["0.50", "0.4725", "0.0001", "1.00", "1.25"]
FRACTION_OF_MEDICARE = ["1.00", "1.20", "0.8725", "1.0001", "2.5"]
DRUG_PCT = ["1.00", "0.95", "1.0650"]

# codes of the lines' strategies (test_reference_parity.CODES, SESSION_CODES) and one no table
# knows (99999); ranges of several shapes: Category III 0001T-0999T must not take in
# anesthesia 00100-01999, which sorts between its ends
CARVE_CODES = ["99213", "99214", "99385", "71046", "00840", "J9035", "A0425", "27447", "45378",
               "97110", "99999", "70450", "0101T", "36591", "93000"]
CARVE_RANGES = ["70010-79999", ["99201", "99499"], "J0000-J9999", "0001T-0999T",
                "00100-01999", "27000-27999", "45300-45399", "97000-97799", "99000-99999",
                "A0000-A0999", "G0000-G0999", "93000-93999"]
CARVE_MODIFIERS = ["26", "TC", "RT", "LT", "50", "GY", "59", "QK", "AA", "80"]


def _by_locality(draw, numbers):
    locs = draw(st.lists(st.sampled_from(LOCALITIES), unique=True, max_size=2))
    return {loc: draw(st.sampled_from(numbers)) for loc in locs}


@st.composite
def rate_keys(draw, medicare: bool, p: float):
    """Some of the rate keys a LOB table or a period may set, each with probability ``p``."""
    # Medicare may price by percent of charges, never by percent of Medicare
    methods = (["rbrvs", "percent_of_charges"] if medicare
               else ["rbrvs", "percent_of_medicare", "percent_of_medicare", "percent_of_charges"])
    choices = {
        "method": lambda: draw(st.sampled_from(methods)),
        "conversion_factor": lambda: draw(st.sampled_from(CF)),
        "conversion_factor_by_locality": lambda: _by_locality(draw, CF_NUMBER),
        "rounding": lambda: draw(st.sampled_from(["rvu_2dp", "cms"])),
        "percent_of_charges": lambda: draw(st.sampled_from(FRACTION_OF_CHARGES)),
        "percent_of_medicare": lambda: draw(st.sampled_from(FRACTION_OF_MEDICARE)),
        "anesthesia_conversion_factor": lambda: draw(st.sampled_from(ANES_CF)),
        "anesthesia_conversion_factor_by_locality": lambda: _by_locality(draw, ANES_CF_NUMBER),
        "drug_percent_of_asp_limit": lambda: draw(st.sampled_from(DRUG_PCT)),
    }
    if medicare:
        del choices["percent_of_medicare"]
    return {key: value() for key, value in choices.items() if draw(st.floats(0, 1)) < p}


@st.composite
def periods(draw, medicare: bool):
    starts = sorted(draw(st.lists(st.sampled_from(PERIOD_STARTS), unique=True, max_size=3)))
    out = []
    for start in starts:
        changes = draw(rate_keys(medicare, p=0.3))
        if not changes:
            changes = {"conversion_factor": draw(st.sampled_from(CF_NUMBER))}
        out.append({"effective_from": draw(st.sampled_from([start, start.isoformat()])),
                    **changes})
    return out


@st.composite
def carve_out(draw, medicare: bool):
    target = draw(st.sampled_from(["code", "codes", "range", "modifier", "code+modifier",
                                   "range+modifier"]))
    item: dict = {}
    if target in ("code", "code+modifier"):
        item["hcpcs"] = draw(st.sampled_from(CARVE_CODES))
    elif target == "codes":
        item["hcpcs"] = draw(st.lists(st.sampled_from(CARVE_CODES), min_size=1, max_size=3,
                                      unique=True))
    elif target.startswith("range"):
        item["hcpcs_range"] = draw(st.sampled_from(CARVE_RANGES))
    if target.endswith("modifier"):
        item["modifier"] = draw(st.sampled_from(CARVE_MODIFIERS))
    start, end = sorted(draw(st.lists(st.sampled_from(CARVE_DATES), min_size=2, max_size=2)),
                        key=lambda d: d or dt.date.min)
    if start and draw(st.booleans()):
        item["effective_from"] = start
    if end and end != start and draw(st.booleans()):
        item["effective_to"] = end.isoformat()
    kind = draw(st.sampled_from(["fee", "percent_of_charges"] if medicare
                                else ["fee", "percent_of_charges", "percent_of_medicare"]))
    item[kind] = draw(st.sampled_from({
        "fee": ["0.00", "150.00", "33.33", "1234.56", "0.01"],
        "percent_of_charges": FRACTION_OF_CHARGES,
        "percent_of_medicare": FRACTION_OF_MEDICARE}[kind]))
    return item


def _covered_lines(item: dict) -> list[tuple]:
    """What the contract compares to refuse an entry that covers the same lines as another."""
    rng = item.get("hcpcs_range")
    if isinstance(rng, str):
        rng = rng.split("-")
    rng = tuple(rng) if rng else None
    start = item.get("effective_from")
    start = dt.date.fromisoformat(start) if isinstance(start, str) else start
    end = item.get("effective_to")
    end = dt.date.fromisoformat(end) if isinstance(end, str) else end
    codes = item.get("hcpcs")
    codes = [codes] if codes is None or isinstance(codes, str) else codes
    return [(code, rng, item.get("modifier"), start, end) for code in codes]


def carve_outs(medicare: bool):
    def distinct(items):
        out, seen = [], set()
        for item in items:
            keys = _covered_lines(item)
            if seen.isdisjoint(keys):
                out.append(item)
                seen.update(keys)
        return out
    return st.lists(carve_out(medicare), max_size=8).map(distinct)


@st.composite
def lob_changes(draw, lob: str):
    """``replace_lob`` keywords for one LOB: rates, periods and carve-outs."""
    medicare = lob == "medicare"
    changes = draw(rate_keys(medicare, p=0.5))
    if not medicare:
        changes["method"] = draw(st.sampled_from(
            ["rbrvs", "percent_of_medicare", "percent_of_medicare", "percent_of_charges"]))
        # the method needs its percentage in force in every period that uses it
        changes["percent_of_medicare"] = draw(st.sampled_from(FRACTION_OF_MEDICARE))
    changes["periods"] = draw(periods(medicare))
    if draw(st.integers(0, 3)) > 0:
        changes["carve_outs"] = draw(carve_outs(medicare))
    if draw(st.booleans()):
        changes["timely_filing_days"] = draw(st.sampled_from([30, 365, 400]))
    # practitioner MUE tables (files written by the ``mue_files`` fixture, named here)
    changes["mue"] = draw(st.sampled_from([None, None, "mue_a.csv", "mue_b.csv"]))
    if medicare and draw(st.booleans()):
        # a Medicare gap fill, and status policies that send codes to it, for the
        # percent-of-Medicare lines to reach (paths are relative to the contract's folder)
        changes["gap_fill"] = "gap_fill_illustrative.csv"
        changes["status_policy"] = draw(st.sampled_from(
            [{}, {"I": "gap_fill", "C": "gap_fill"}, {"N": "rbrvs", "I": "by_report"}]))
    return changes


@st.composite
def contract_changes(draw):
    """{lob: replace_lob keywords} for some LOBs; percent of Medicare is met often."""
    lobs = draw(st.lists(st.sampled_from(NON_MEDICARE), min_size=1, max_size=3, unique=True))
    out = {lob: draw(lob_changes(lob)) for lob in lobs}
    if draw(st.booleans()):
        out["medicare"] = draw(lob_changes("medicare"))
    return out


MUE_TABLES = {
    "mue_a.csv": {"99213": 1, "99214": 2, "71046": 0, "J9035": 5, "27447": 1, "97110": 2,
                  "00840": 1, "S9083": 1},
    "mue_b.csv": {"99213": 3, "99214": 1, "45378": 1, "70450": 0, "97530": 1, "17999": 2},
}


@pytest.fixture(scope="module")
def mue_files(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("mue")
    for name, limits in MUE_TABLES.items():
        (folder / name).write_text(
            "hcpcs,max_units\n" + "".join(f"{c},{n}\n" for c, n in limits.items()))
    return {name: str(folder / name) for name in MUE_TABLES}


def build(contract, changes: dict, mue_files: dict):
    for lob, kw in changes.items():
        if kw.get("mue") is not None:
            kw = {**kw, "mue": mue_files[kw["mue"]]}
        contract = contract.replace_lob(lob, **kw)
    return contract


@st.composite
def dated_line(draw):
    """A line of test_reference_parity's strategy, often moved to a period boundary, billed
    with a carved-out code, or received on its date of service (so that it is priced rather
    than denied for timely filing)."""
    line = draw(claim_line())
    dos = dt.date.fromisoformat(line["date_of_service"])
    lag = dt.date.fromisoformat(line["received_date"]) - dos
    if draw(st.booleans()):
        dos = draw(st.sampled_from(BOUNDARY_DATES))
        line["date_of_service"] = dos.isoformat()
    if draw(st.booleans()):
        lag = dt.timedelta(0)
    line["received_date"] = (dos + lag).isoformat()
    if draw(st.integers(0, 2)) == 0:
        line["hcpcs"] = draw(st.sampled_from(CARVE_CODES))
    return line


ALL_CODES = sorted(set(CODES) | set(SESSION_CODES) | set(CARVE_CODES))


def _date_value(value) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


@st.composite
def lines_for(draw, changes: dict, max_size: int = 30):
    """Lines of ``dated_line``, many of them of a LOB the contract changed and aimed at its
    carve-outs: a code of the entry (or of its range, its ends, or a code near it of another
    shape), often its modifier, often a DOS at or beside the entry's dates."""
    lines = draw(st.lists(dated_line(), min_size=1, max_size=max_size))
    for line in lines:
        lob = draw(st.sampled_from([*changes, line["line_of_business"]]))
        line["line_of_business"] = lob
        items = changes.get(lob, {}).get("carve_outs") or []
        if not items or draw(st.integers(0, 3)) == 0:
            continue
        item = draw(st.sampled_from(items))
        code = item.get("hcpcs")
        if isinstance(code, list):
            code = draw(st.sampled_from(code))
        if "hcpcs_range" in item:
            rng = item["hcpcs_range"]
            low, high = rng.split("-") if isinstance(rng, str) else rng
            near = [c for c in ALL_CODES if low[0] <= c[0] <= high[0]]
            code = draw(st.sampled_from([low, high, *near]))
        if code is not None:
            line["hcpcs"] = code
        if "modifier" in item and draw(st.integers(0, 3)) > 0:
            line[draw(st.sampled_from(["modifier_1", "modifier_2", "modifier_3"]))] = (
                item["modifier"])
        dates = [d + dt.timedelta(days=k)
                 for d in (_date_value(item.get("effective_from")),
                           _date_value(item.get("effective_to"))) if d is not None
                 for k in (-1, 0, 1)]
        if dates and draw(st.booleans()):
            dos = draw(st.sampled_from(dates))
            line["date_of_service"] = line["received_date"] = dos.isoformat()
    return lines


def text_frame(lines: list[dict], **common) -> pl.DataFrame:
    rows = [{**r, **common, "line_number": str(i)} for i, r in enumerate(lines, 1)]
    return pl.DataFrame(rows, schema={k: pl.String for k in rows[0]})


# --- properties: engine == reference ----------------------------------------------------------


def agree(claims: pl.DataFrame, contract, schedules) -> None:
    """Engine and reference agree on every line and adjustment row (assert_same), and the
    rows balance: billed = paid + adjustments on every line (the strategies bill whole cents)."""
    result = assert_same(claims, contract, schedules)
    by_line: dict = {}
    for a in result.adjustments.select("line_index", "amount").rows():
        by_line[a[0]] = by_line.get(a[0], D(0)) + a[1]
    for i, (billed, paid) in enumerate(zip(claims["billed_charge"].to_list(),
                                           result.lines["paid_amount"].to_list())):
        assert D(billed) == paid + by_line.get(i, D(0)), (i, claims.row(i, named=True))


def _settings(examples: int):
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


SESSION_LOBS = st.lists(st.sampled_from(["commercial", "medicare", "medicaid", "other"]),
                        min_size=12, max_size=12)
SESSION_DATES = st.sampled_from([dt.date(2025, 3, 3), dt.date(2025, 7, 1), dt.date(2026, 3, 2)])


def _lines_agree(schedules, contract, mue_files, data, changes):
    lines = data.draw(lines_for(changes), label="lines")
    agree(text_frame(lines), build(contract, changes, mue_files), schedules)


def _sessions_agree(schedules, contract, mue_files, lines, changes, lobs, dos):
    lines = [{**r, "line_of_business": lob} for r, lob in zip(lines, lobs)]
    agree(text_frame(lines, date_of_service=dos.isoformat()),
          build(contract, changes, mue_files), schedules)


@_settings(100)
@given(data=st.data(), changes=contract_changes())
def test_property_contract_terms_agree(schedules, contract, mue_files, data, changes):
    """Random lines of every LOB under random methods, periods, locality CFs, carve-outs."""
    _lines_agree(schedules, contract, mue_files, data, changes)


@_settings(80)
@given(lines=st.lists(session_line(), min_size=2, max_size=12), changes=contract_changes(),
       lobs=SESSION_LOBS, dos=SESSION_DATES)
def test_property_sessions_mixing_medicare_and_percent_of_medicare_agree(
        schedules, contract, mue_files, lines, changes, lobs, dos):
    """One session (claim, DOS, provider) of multiple-procedure codes whose lines are of
    several LOBs: percent-of-Medicare lines rank with their Medicare amounts."""
    _sessions_agree(schedules, contract, mue_files, lines, changes, lobs, dos)


@pytest.mark.slow
@_settings(1500)
@given(data=st.data(), changes=contract_changes())
def test_property_contract_terms_agree_long(schedules, contract, mue_files, data, changes):
    """The same, many more examples (pytest -m slow)."""
    _lines_agree(schedules, contract, mue_files, data, changes)


@pytest.mark.slow
@_settings(1500)
@given(lines=st.lists(session_line(), min_size=2, max_size=12), changes=contract_changes(),
       lobs=SESSION_LOBS, dos=SESSION_DATES)
def test_property_sessions_agree_long(schedules, contract, mue_files, lines, changes, lobs,
                                      dos):
    """The same, many more examples (pytest -m slow)."""
    _sessions_agree(schedules, contract, mue_files, lines, changes, lobs, dos)


# --- hand-written cases -----------------------------------------------------------------------


def ref(claims, contract, schedules) -> list[dict]:
    lines, adjustments = reference_price(claims, contract=contract, schedules=schedules)
    assert balances(claims, lines, adjustments) == []
    return lines


def check(claims, contract, schedules) -> list[dict]:
    """The reference's lines (which balance), after checking that the engine agrees."""
    assert_same(claims, contract, schedules)
    return ref(claims, contract, schedules)


def test_period_switches_the_cf_on_its_first_day(schedules, contract):
    c = contract.replace_lob("commercial", conversion_factor="58.00", periods=[
        {"effective_from": dt.date(2025, 7, 1), "conversion_factor": "60.00"}])
    claims = claim_lines({"hcpcs": "99213", "date_of_service": dt.date(2025, 6, 30)},
                         {"hcpcs": "99213", "date_of_service": dt.date(2025, 7, 1)},
                         billed_charge=BIG)
    june, july = check(claims, c, schedules)
    assert (june["conversion_factor"], july["conversion_factor"]) == (D("58"), D("60"))
    # same RVU25A row and GPCIs on both days: only the CF changed (rvu_2dp: total x CF)
    assert june["total_rvu"] == july["total_rvu"]
    assert june["fee_schedule_amount"] == round_half_up(june["total_rvu"] * 58, 2)
    assert july["fee_schedule_amount"] == round_half_up(july["total_rvu"] * 60, 2)
    # the same as two contracts without periods
    plain = ref(claims, contract.replace_lob("commercial", conversion_factor="60.00"),
                schedules)
    assert july["allowed_amount"] == plain[1]["allowed_amount"]
    assert june["allowed_amount"] == ref(claims, contract, schedules)[0]["allowed_amount"]


def test_period_keeps_the_keys_it_does_not_give(schedules, contract):
    """docs example: the 2026 period switches to 125 % of Medicare; the CF of 1 July stays."""
    c = contract.replace_lob("commercial", conversion_factor="58.00", carve_outs=[], periods=[
        {"effective_from": "2025-07-01", "conversion_factor": "60.00"},
        {"effective_from": "2026-01-01", "method": "percent_of_medicare",
         "percent_of_medicare": "1.25"},
        {"effective_from": "2026-07-01", "method": "rbrvs"}])
    days = [dt.date(2025, 12, 31), dt.date(2026, 1, 1), dt.date(2026, 7, 1)]
    claims = claim_lines(*({"hcpcs": "99214", "date_of_service": d} for d in days),
                         billed_charge=BIG)
    dec, jan, jul = check(claims, c, schedules)
    medicare = ref(claims.with_columns(pl.lit("medicare").alias("line_of_business")), contract,
                   schedules)
    assert dec["pricing_method"] == jul["pricing_method"] == "rbrvs"
    assert dec["conversion_factor"] == jul["conversion_factor"] == D("60")
    assert jan["pricing_method"] == "percent_of_medicare"
    assert jan["fee_schedule_amount"] == round_half_up(
        medicare[1]["fee_schedule_amount"] * D("1.25"), 2)
    assert jan["conversion_factor"] == medicare[1]["conversion_factor"]  # Medicare's, shown


def test_conversion_factor_by_locality(schedules, contract):
    c = contract.replace_lob("commercial", conversion_factor="58.00",
                             conversion_factor_by_locality={"02402-02": "61.50"},
                             anesthesia_conversion_factor="62.00",
                             anesthesia_conversion_factor_by_locality={"02402-99": "70.00"})
    rows = [{"hcpcs": code, "locality": loc, **extra}
            for code, extra in (("99213", {}),
                                ("00840", {"units": 60, "modifier_1": "AA"}))
            for loc in LOCALITIES]
    seattle, rest, anes_seattle, anes_rest = check(claim_lines(*rows, billed_charge=BIG), c,
                                                   schedules)
    assert (seattle["conversion_factor"], rest["conversion_factor"]) == (D("61.5"), D("58"))
    assert seattle["fee_schedule_amount"] == round_half_up(seattle["total_rvu"] * D("61.5"), 2)
    assert rest["fee_schedule_amount"] == round_half_up(rest["total_rvu"] * 58, 2)
    assert (anes_seattle["conversion_factor"], anes_rest["conversion_factor"]) == (
        D("62"), D("70"))
    # 00840: 6 base units + 60 min x 5 / 60 = 5 time units -> 11 units
    assert anes_seattle["fee_schedule_amount"] == D("682.00")
    assert anes_rest["fee_schedule_amount"] == D("770.00")


def test_carve_out_range_covers_only_codes_of_its_shape(schedules, contract):
    """0001T-0999T takes in the Category III codes, not anesthesia 00840 (between its ends in
    text order, another shape), and covers a code no table knows (0999T)."""
    c = contract.replace_lob("commercial", carve_outs=[
        {"hcpcs_range": "0001T-0999T", "fee": "100.00"}])
    claims = claim_lines({"hcpcs": "0101T"}, {"hcpcs": "0999T"},
                         {"hcpcs": "00840", "units": 60, "modifier_1": "AA"},
                         {"hcpcs": "1000T"}, billed_charge=BIG)
    cat3, unknown, anesthesia, outside = check(claims, c, schedules)
    assert "00100" < "00840" < "0999T"
    assert (cat3["pricing_method"], cat3["fee_schedule_amount"]) == ("carve_out", D("100.00"))
    assert (unknown["pricing_method"], unknown["fee_schedule_amount"]) == (
        "carve_out", D("100.00"))
    assert anesthesia["pricing_method"] == "anesthesia"
    assert outside["pricing_method"] != "carve_out"


def test_first_carve_out_that_covers_the_line_wins(schedules, contract):
    code_first = [{"hcpcs": "99213", "fee": "80.00"},
                  {"hcpcs_range": "99201-99499", "fee": "120.00"}]
    claims = claim_lines({"hcpcs": "99213"}, {"hcpcs": "99214"}, billed_charge=BIG)
    a = check(claims, contract.replace_lob("commercial", carve_outs=code_first), schedules)
    assert [r["fee_schedule_amount"] for r in a] == [D("80.00"), D("120.00")]
    b = check(claims, contract.replace_lob("commercial", carve_outs=code_first[::-1]), schedules)
    assert [r["fee_schedule_amount"] for r in b] == [D("120.00"), D("120.00")]


def test_carve_out_dates_hold_both_ends(schedules, contract):
    c = contract.replace_lob("commercial", carve_outs=[
        {"hcpcs": "99213", "fee": "80.00", "effective_from": "2025-04-01",
         "effective_to": dt.date(2025, 6, 30)}])
    days = [dt.date(2025, 3, 31), dt.date(2025, 4, 1), dt.date(2025, 6, 30), dt.date(2025, 7, 1)]
    claims = claim_lines(*({"hcpcs": "99213", "date_of_service": d} for d in days),
                         billed_charge=BIG)
    methods = [r["pricing_method"] for r in check(claims, c, schedules)]
    assert methods == ["rbrvs", "carve_out", "carve_out", "rbrvs"]


def test_modifier_carve_outs(schedules, contract):
    c = contract.replace_lob("commercial", carve_outs=[
        {"hcpcs": "71046", "modifier": "26", "fee": "20.00"},
        {"modifier": "GT", "percent_of_charges": "0.60"}])
    claims = claim_lines(
        {"hcpcs": "71046", "modifier_1": "26"},   # code + modifier
        {"hcpcs": "71046", "modifier_1": "TC"},   # the code without the modifier: RBRVS
        {"hcpcs": "99213", "modifier_3": "GT"},   # any code billed with GT, in any slot
        {"hcpcs": "71046", "modifier_1": "GT", "modifier_2": "26"},  # both cover: the first
        {"hcpcs": "99213"},
        billed_charge="100.00")
    pc, tc, gt, both, plain = check(claims, c, schedules)
    assert (pc["pricing_method"], pc["fee_schedule_amount"]) == ("carve_out", D("20.00"))
    assert tc["pricing_method"] == plain["pricing_method"] == "rbrvs"
    assert (gt["pricing_method"], gt["fee_schedule_amount"]) == ("carve_out", D("60.00"))
    assert both["fee_schedule_amount"] == D("20.00")


def test_percent_of_charges_method_after_carve_outs(schedules, contract):
    c = contract.replace_lob("commercial", method="percent_of_charges",
                             percent_of_charges="0.4725")
    claims = claim_lines({"hcpcs": "99213", "billed_charge": "200.01"},
                         {"hcpcs": "99385", "billed_charge": BIG},  # the $150 carve-out
                         {"hcpcs": "J9035", "billed_charge": "10.00", "ndc": "50242006001"})
    office, carved, drug = check(claims, c, schedules)
    assert (office["pricing_method"], office["fee_schedule_amount"]) == (
        "percent_of_charges", D("94.50"))  # 200.01 x 0.4725 = 94.504725
    assert "prepayment_review" in office["flags"]
    assert (carved["pricing_method"], carved["fee_schedule_amount"]) == ("carve_out", D("150.00"))
    assert drug["pricing_method"] == "percent_of_charges"  # no fee schedule consulted


# Lines that reach the Medicare LOB's methods and claim-level policies: RBRVS (2 units, a
# PC/TC split), MULT PROC 2 ranking, an RT/LT bilateral pair, status T with another RBRVS
# line, the OPPS cap, imaging family (MULT PROC 4), anesthesia (QK), a drug, a status I code
# (Medicare denies it CO-181), an unlisted code (Medicare's percent of charges) and a status N
# code (Medicare denies it CO-96).
MEDICARE_MIX = [
    {"claim_id": "A", "hcpcs": "99214", "units": 2},
    {"claim_id": "A", "hcpcs": "71046", "modifier_1": "26"},
    {"claim_id": "B", "hcpcs": "27447", "place_of_service": "22"},
    {"claim_id": "B", "hcpcs": "47562", "place_of_service": "22"},
    {"claim_id": "B", "hcpcs": "11043", "place_of_service": "22"},
    {"claim_id": "C", "hcpcs": "27447", "modifier_1": "RT", "place_of_service": "22"},
    {"claim_id": "C", "hcpcs": "27447", "modifier_1": "LT", "place_of_service": "22"},
    {"claim_id": "D", "hcpcs": "36591"},
    {"claim_id": "D", "hcpcs": "99213"},
    {"claim_id": "E", "hcpcs": "70496"},
    {"claim_id": "F", "hcpcs": "74177"},
    {"claim_id": "F", "hcpcs": "70450"},
    {"claim_id": "G", "hcpcs": "00840", "units": 117, "modifier_1": "QK"},
    {"claim_id": "G", "hcpcs": "J9035", "units": 10, "ndc": "50242006001",
     "date_of_service": dt.date(2025, 2, 3)},
    {"claim_id": "H", "hcpcs": "S9083"},
    {"claim_id": "H", "hcpcs": "17999", "billed_charge": "333.33"},
    {"claim_id": "H", "hcpcs": "G0029"},
]


def _medicare_mix(lob: str) -> pl.DataFrame:
    return claim_lines(*MEDICARE_MIX, line_of_business=lob, billed_charge=BIG,
                       locality="02402-02", claim_form="professional", ndc=None)


@pytest.mark.parametrize("how", ["method", "carve_out"])
def test_percent_of_medicare_at_100_is_the_medicare_lob(schedules, contract, how):
    if how == "method":
        c = contract.replace_lob("commercial", method="percent_of_medicare",
                                 percent_of_medicare="1.00", carve_outs=[])
    else:
        codes = sorted({r["hcpcs"] for r in MEDICARE_MIX} - {"70496", "74177", "70450"})
        c = contract.replace_lob("commercial", carve_outs=[
            {"hcpcs_range": "70010-79999", "percent_of_medicare": "1.00"},
            {"hcpcs": codes, "percent_of_medicare": "1.00"}])
    ours = check(_medicare_mix("commercial"), c, schedules)
    medicare = check(_medicare_mix("medicare"), contract, schedules)
    assert [r["allowed_amount"] for r in ours] == [r["allowed_amount"] for r in medicare]
    assert [r["line_status"] for r in ours] == [r["line_status"] for r in medicare]
    # the claim-level policies were Medicare's
    assert {r["line_status"] for r in medicare} == {"priced", "denied"}
    expected = "percent_of_medicare" if how == "method" else "carve_out"
    for o, m in zip(ours, medicare):
        if m["line_status"] == "priced":
            assert o["pricing_method"] == expected
            assert (o["total_rvu"], o["conversion_factor"], o["schedule_version"]) == (
                m["total_rvu"], m["conversion_factor"], m["schedule_version"])
        else:
            assert (o["pricing_method"], o["reason"]) == (m["pricing_method"], m["reason"])


def test_percent_of_medicare_at_120_rounds_each_medicare_line_once(schedules, contract):
    c = contract.replace_lob("commercial", method="percent_of_medicare",
                             percent_of_medicare="1.20", carve_outs=[])
    ours = check(_medicare_mix("commercial"), c, schedules)
    medicare = ref(_medicare_mix("medicare"), contract, schedules)
    for o, m in zip(ours, medicare):
        if m["fee_schedule_amount"] is None:
            assert o["fee_schedule_amount"] is None
            continue
        fee = round_half_up(m["fee_schedule_amount"] * D("1.2"), 2)
        assert o["fee_schedule_amount"] == fee
        assert o["allowed_amount"] == min(fee, D(BIG))


def test_percent_of_medicare_line_ranks_with_its_medicare_amount(schedules, contract):
    """A 150 % of Medicare line and a Medicare line in one session (MULT PROC 2): the ranking
    uses the Medicare amounts, the percentage comes after the 50 % reduction."""
    c = contract.replace_lob("commercial", method="percent_of_medicare",
                             percent_of_medicare="1.50", carve_outs=[])
    alone = ref(claim_lines({"hcpcs": "47562", "claim_id": "X"},
                            {"hcpcs": "49505", "claim_id": "Y"},
                            line_of_business="medicare", billed_charge=BIG,
                            place_of_service="22"), contract, schedules)
    high, low = (a["fee_schedule_amount"] for a in alone)
    # 47562 ranks first on Medicare amounts; 150 % of 49505 would outrank it
    assert high > low and low * D("1.5") > high
    claims = claim_lines({"hcpcs": "47562", "line_of_business": "medicare"},
                         {"hcpcs": "49505", "line_of_business": "commercial"},
                         billed_charge=BIG, place_of_service="22")
    medicare_line, pom_line = check(claims, c, schedules)
    assert medicare_line["fee_schedule_amount"] == high
    assert pom_line["fee_schedule_amount"] == round_half_up(
        round_half_up(low / 2, 2) * D("1.5"), 2)
    assert pom_line["pricing_method"] == "percent_of_medicare"


def test_percent_of_medicare_carve_out_from_a_date(schedules, contract):
    """docs example: 70010-79999 at 110 % of Medicare from 2025-07-01."""
    c = contract.replace_lob("commercial", carve_outs=[
        {"hcpcs_range": "70010-79999", "percent_of_medicare": "1.10",
         "effective_from": dt.date(2025, 7, 1)}])
    days = [dt.date(2025, 6, 30), dt.date(2025, 7, 1)]
    claims = claim_lines(*({"hcpcs": "71046", "date_of_service": d} for d in days),
                         billed_charge=BIG)
    before, after = check(claims, c, schedules)
    medicare = ref(claims.with_columns(pl.lit("medicare").alias("line_of_business")), contract,
                   schedules)
    assert before["pricing_method"] == "rbrvs"
    assert after["pricing_method"] == "carve_out"
    assert after["fee_schedule_amount"] == round_half_up(
        medicare[1]["fee_schedule_amount"] * D("1.10"), 2)


def test_percent_of_medicare_cost_share_is_the_lines_own_lob(schedules, contract):
    """Medicaid at 100 % of Medicare: the Medicare amount, but never a copay (Medicaid's rule)."""
    c = contract.replace_lob("medicaid", method="percent_of_medicare", percent_of_medicare="1.00")
    claims = claim_lines({"hcpcs": "99213", "line_of_business": "medicaid"},
                         {"hcpcs": "99213", "line_of_business": "medicare"},
                         billed_charge=BIG, copay="20.00")
    medicaid, medicare = check(claims, c, schedules)
    assert medicaid["allowed_amount"] == medicare["allowed_amount"]
    assert (medicaid["copay_applied"], medicare["copay_applied"]) == (D("0.00"), D("20.00"))
    assert "medicaid_copay_waived" in medicaid["flags"]


def test_fee_carve_outs_reduced_as_multiple_procedures_balance(schedules, contract):
    """Two 45378 lines (MULT PROC 2) carved out by a range at $150: the second is paid 50 %,
    its reduction a CO-59 row and its CO-45 row billed - $150 (the rows add up to billed)."""
    c = contract.replace_lob("commercial", carve_outs=[
        {"hcpcs_range": "45300-45399", "fee": "150.00"}])
    claims = claim_lines({"hcpcs": "45378"}, {"hcpcs": "45378"}, billed_charge="9999.00")
    first, second = check(claims, c, schedules)
    assert (first["fee_schedule_amount"], second["fee_schedule_amount"]) == (
        D("150.00"), D("75.00"))
    _, adjustments = reference_price(claims, contract=c, schedules=schedules)
    assert [(a["carc"], a["amount"], a["step"]) for a in adjustments if a["line_number"] == 2] == [
        (45, D("9849.00"), "fee_schedule"), (59, D("75.00"), "multiple_procedure")]


def test_percent_of_medicare_lines_take_part_in_claim_policies_as_medicare_lines(
        schedules, contract):
    """An RT/LT pair of a 150 % of Medicare line and a Medicare line is one bilateral
    procedure priced on Medicare's amounts (150 % of one side, shared by billed charge), then
    the percentage; a status T line is bundled beside a percent-of-Medicare RBRVS line."""
    c = contract.replace_lob("commercial", method="percent_of_medicare",
                             percent_of_medicare="1.50", carve_outs=[])
    pair = claim_lines({"hcpcs": "27447", "modifier_1": "RT", "line_of_business": "commercial"},
                       {"hcpcs": "27447", "modifier_1": "LT", "line_of_business": "medicare"},
                       place_of_service="22", billed_charge="3000.00")
    right, left = check(pair, c, schedules)
    one_side = ref(pair[:1].with_columns(pl.lit("medicare").alias("line_of_business"),
                                         pl.lit(None, pl.String).alias("modifier_1")),
                   contract, schedules)[0]["fee_schedule_amount"]
    both = round_half_up(one_side * D("1.5"), 2)
    medicare_share = round_half_up(both / 2, 2)  # equal charges: the first line's half
    assert right["fee_schedule_amount"] == round_half_up(medicare_share * D("1.5"), 2)
    assert left["fee_schedule_amount"] == both - medicare_share
    status_t = claim_lines({"hcpcs": "36591", "line_of_business": "medicare"},
                           {"hcpcs": "99213", "line_of_business": "commercial"})
    bundled, pom = check(status_t, c, schedules)
    assert (bundled["pricing_method"], bundled["reason"]) == ("bundled", "status_t_bundled")
    assert pom["pricing_method"] == "percent_of_medicare"


def test_percent_of_medicare_uses_the_medicare_mue_and_anesthesia_edits(
        schedules, contract, tmp_path):
    """OPEN readings (docs "Methods": priced exactly as the Medicare LOB, "its ... MUE
    table"): the Medicare LOB's MUE, not the line's own LOB's; an anesthesia line over 1440
    minutes sent to Medicare by a percent-of-Medicare carve-out is rejected as Medicare would
    (a fee carve-out of the line's own LOB exempts it)."""
    (tmp_path / "own.csv").write_text("hcpcs,max_units\n99213,1\n")
    (tmp_path / "medicare.csv").write_text("hcpcs,max_units\n99213,2\n")
    c = contract.replace_lob("commercial", mue=str(tmp_path / "own.csv"),
                             method="percent_of_medicare", percent_of_medicare="1.00",
                             carve_outs=[{"hcpcs": "00840", "modifier": "QK",
                                          "percent_of_medicare": "1.20"},
                                         {"hcpcs": "00840", "fee": "10.00"}])
    c = c.replace_lob("medicare", mue=str(tmp_path / "medicare.csv"))
    claims = claim_lines({"hcpcs": "99213", "units": 3, "billed_charge": "300.00"},
                         {"hcpcs": "00840", "units": 1500, "modifier_1": "QK"},
                         {"hcpcs": "00840", "units": 1500, "modifier_1": "AA"})
    mue, pom_anesthesia, fee_anesthesia = check(claims, c, schedules)
    medicare = ref(claims[:1].with_columns(pl.lit("medicare").alias("line_of_business")), c,
                   schedules)[0]
    assert mue["allowed_amount"] == medicare["allowed_amount"]  # 2 units of 3
    assert mue["fee_schedule_amount"] == round_half_up(
        ref(claims[:1].with_columns(pl.lit("medicare").alias("line_of_business"),
                                    pl.lit(2).alias("units")), contract, schedules)[0]
        ["fee_schedule_amount"], 2)
    assert (pom_anesthesia["line_status"], pom_anesthesia["reason"]) == (
        "rejected", "anesthesia_minutes_implausible")
    assert (fee_anesthesia["pricing_method"], fee_anesthesia["fee_schedule_amount"]) == (
        "carve_out", D("15000.00"))


def test_period_gives_the_whole_locality_table(schedules, contract):
    """OPEN reading: a period's conversion_factor_by_locality replaces the table in force
    before it (a key like any other): 02402-99 is back on the LOB's CF from 2025-07-01."""
    c = contract.replace_lob(
        "commercial", conversion_factor="58.00",
        conversion_factor_by_locality={"02402-02": "61.50", "02402-99": "59.00"},
        periods=[{"effective_from": "2025-07-01",
                  "conversion_factor_by_locality": {"02402-02": "63.00"}}])
    rows = [{"hcpcs": "99213", "locality": loc, "date_of_service": d}
            for d in (dt.date(2025, 6, 30), dt.date(2025, 7, 1)) for loc in LOCALITIES]
    lines = check(claim_lines(*rows, billed_charge=BIG), c, schedules)
    assert [r["conversion_factor"] for r in lines] == [D("61.5"), D("59"), D("63"), D("58")]
