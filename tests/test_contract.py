"""The contract model: defaults, validation of every key, gap-fill tables, hashing."""
from __future__ import annotations

import dataclasses
import datetime as dt
import pickle
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

import pricer.contract as contract_module
from pricer.contract import (
    GAP_FILL_SCHEMA,
    LOBS,
    CarveOut,
    Contract,
    ContractError,
    default_contract,
    load_gap_fill,
)

# The example of shared/spec/interfaces.md ("Contract file (TOML)"), verbatim.
INTERFACES_EXAMPLE = '''
name = "illustrative WA professional contract"
default_locality = "02402-99"

[lob.commercial]                  # one table per line of business; `other` and `medicaid` likewise
conversion_factor = 58.00         # or "cms"
rounding = "rvu_2dp"              # or "cms"
percent_of_charges = 0.50
anesthesia_conversion_factor = 62.00   # or "cms"
anesthesia_time_units_per_hour = 5
neuraxial_labor_codes = ["01967"]
drug_percent_of_asp_limit = 1.00
require_ndc_for_drugs = true
timely_filing_days = 365
gap_fill = "gap_fill.csv"         # optional, relative to the contract file
by_report_codes = ["J3490"]       # optional: codes always flagged by_report on the gap-fill chain
physical_status_units = { P3 = 1, P4 = 2, P5 = 3 }   # optional, default none
carve_outs = [                    # optional: code-specific reimbursement, before any schedule
  { hcpcs = "99385", fee = 150.00 },               # per unit, lower of charges
  { hcpcs = "A0425", percent_of_charges = 0.80 },
]

[lob.medicare]
conversion_factor = "cms"
rounding = "cms"
anesthesia_conversion_factor = "cms"
anesthesia_time_units_per_hour = 4
percent_of_charges = 0.40
'''

GAP_FILL_CSV = (
    "hcpcs,modifier,effective_from,effective_to,fee,work_rvu,pe_rvu_nonfacility,"
    "pe_rvu_facility,mp_rvu\n"
    "S9083,,2025-01-01,,135.00,,,,\n"
    "0101t,,2025-01-01,2025-12-31,,4.50,3.10,2.05,0.30\n"
    "0521T,26,2025-01-01,,,0.85,0.35,0.35,0.05\n"
)

HEADER = ("hcpcs,modifier,effective_from,effective_to,fee,work_rvu,pe_rvu_nonfacility,"
          "pe_rvu_facility,mp_rvu\n")


def write_contract(tmp_path: Path, text: str, gap_fill: str | None = None) -> Path:
    path = tmp_path / "contract.toml"
    path.write_text(text)
    if gap_fill is not None:
        (tmp_path / "gap_fill.csv").write_text(gap_fill)
    return path


def refused(tmp_path: Path, text: str, gap_fill: str | None = None) -> ContractError:
    path = write_contract(tmp_path, text, gap_fill)
    with pytest.raises(ContractError) as info:
        Contract.from_toml(path)
    assert "contract.toml" in str(info.value)  # the message names the file
    return info.value


# --------------------------------------------------------------------------------------------
# The bundled default contract


def test_default_contract_is_labelled_illustrative():
    c = default_contract()
    assert c.illustrative is True
    assert c.name == "Illustrative WA professional contract"
    assert c.default_locality == "02402-99"
    assert set(c.lobs) == set(LOBS)
    text = (Path(contract_module.__file__).parent / "contracts" / "default.toml").read_text()
    assert "NOT KP's actual contract" in text


def test_default_contract_commercial_terms():
    t = default_contract().terms("commercial")
    assert t.conversion_factor == Decimal("58.00")
    assert t.rounding == "rvu_2dp"
    assert t.percent_of_charges == Decimal("0.50")
    assert t.anesthesia_conversion_factor == Decimal("62.00")
    assert t.anesthesia_time_units_per_hour == 5
    assert t.neuraxial_labor_codes == ("01967",)
    assert t.anesthesia_no_time_units_codes == ()
    assert t.drug_percent_of_asp_limit == Decimal("1")
    assert t.require_ndc_for_drugs is True
    assert t.timely_filing_days == 365
    assert t.by_report_codes == ("J3490",)
    assert dict(t.physical_status_units) == {"P3": 1, "P4": 2, "P5": 3}
    assert t.carve_outs == (
        CarveOut("99385", fee=Decimal("150.00")),
        CarveOut("A0425", percent_of_charges=Decimal("0.80")),
    )
    assert t.carve_out("A0425").percent_of_charges == Decimal("0.8")
    assert t.carve_out("99213") is None
    assert dict(t.status_policy) == {}
    assert t.gap_fill_source == "gap_fill_illustrative.csv"


def test_default_contract_gap_fill_table():
    g = default_contract().terms("commercial").gap_fill
    assert dict(g.schema) == GAP_FILL_SCHEMA
    rows = {(r["hcpcs"], r["modifier"], r["effective_from"]): r for r in g.to_dicts()}
    by_fee = rows[("S9083", "", dt.date(2025, 1, 1))]
    assert by_fee["fee"] == 13500 and by_fee["work_rvu"] is None
    by_rvu = rows[("0101T", "", dt.date(2025, 1, 1))]
    assert by_rvu["fee"] is None
    assert (by_rvu["work_rvu"], by_rvu["pe_rvu_nonfacility"], by_rvu["pe_rvu_facility"],
            by_rvu["mp_rvu"]) == (450, 310, 205, 30)
    assert ("0521T", "26", dt.date(2025, 1, 1)) in rows          # a row with a modifier
    dated = rows[("T1015", "", dt.date(2025, 1, 1))]
    assert dated["effective_to"] == dt.date(2025, 12, 31)
    assert g["source_row"].to_list() == list(range(1, g.height + 1))


def test_default_contract_other_lobs():
    c = default_contract()
    assert c.terms("other") == c.terms("commercial")
    medicaid = c.terms("medicaid")
    assert medicaid.conversion_factor == Decimal("45.00")
    assert medicaid.rounding == "rvu_2dp"
    for lob in ("medicare", "medicare_cost"):
        t = c.terms(lob)
        assert t.conversion_factor == "cms"
        assert t.rounding == "cms"
        assert t.anesthesia_conversion_factor == "cms"
        assert t.anesthesia_time_units_per_hour == 4
        assert t.neuraxial_labor_codes == ()
        assert t.anesthesia_no_time_units_codes == ("01995", "01996")
        assert t.percent_of_charges == Decimal("0.40")
        assert t.gap_fill is None and t.carve_outs == ()


def test_default_contract_ships_inside_the_package():
    # default_contract() reads next to contract.py, which is what a wheel of `pricer` carries.
    folder = Path(contract_module.__file__).parent / "contracts"
    assert (folder / "default.toml").is_file()
    assert (folder / "gap_fill_illustrative.csv").is_file()


# --------------------------------------------------------------------------------------------
# Loading files


def test_interfaces_example_loads(tmp_path):
    path = write_contract(tmp_path, INTERFACES_EXAMPLE, GAP_FILL_CSV)
    c = Contract.from_toml(path)
    assert c.source == path
    assert c.illustrative is False
    t = c.terms("commercial")
    assert t.conversion_factor == Decimal("58.00")
    assert t.gap_fill_source == "gap_fill.csv"
    assert t.gap_fill.height == 3
    assert t.gap_fill["hcpcs"].to_list() == ["S9083", "0101T", "0521T"]  # upper-cased
    m = c.terms("medicare")
    assert m.percent_of_charges == Decimal("0.40")
    assert m.anesthesia_no_time_units_codes == ("01995", "01996")  # omitted: Medicare default
    # Tables left out take every default of their kind.
    assert c.terms("medicare_cost").conversion_factor == "cms"
    assert c.terms("medicaid").conversion_factor == Decimal("58.00")
    assert c.terms("medicaid").gap_fill is None


def test_minimal_contract_takes_all_defaults(tmp_path):
    c = Contract.from_toml(write_contract(tmp_path, 'name = "minimal"\n'))
    assert c.default_locality == "02402-99"
    assert c.illustrative is False
    for lob in ("commercial", "medicaid", "other"):
        t = c.terms(lob)
        assert (t.conversion_factor, t.rounding, t.anesthesia_conversion_factor) == (
            Decimal("58"), "rvu_2dp", Decimal("62"))
        assert t.anesthesia_time_units_per_hour == 5
        assert t.neuraxial_labor_codes == ("01967",)
        assert t.percent_of_charges == Decimal("0.5")
    for lob in ("medicare", "medicare_cost"):
        t = c.terms(lob)
        assert (t.conversion_factor, t.rounding, t.anesthesia_conversion_factor) == (
            "cms", "cms", "cms")
        assert t.percent_of_charges == Decimal("0.4")
    for t in c.lobs.values():
        assert t.drug_percent_of_asp_limit == 1 and t.require_ndc_for_drugs is True
        assert t.timely_filing_days == 365 and t.gap_fill is None
        assert t.carve_outs == () and dict(t.status_policy) == {}
        assert dict(t.physical_status_units) == {}


def test_from_dict_accepts_decimals_and_tuples(tmp_path):
    c = Contract.from_dict({
        "name": "py",
        "lob": {"commercial": {
            "conversion_factor": Decimal("60.25"),
            "neuraxial_labor_codes": ("01967", "01968"),
            "status_policy": {"N": "deny:96", "I": "gap_fill", "C": "By_Report",
                              "E": "bundled:97"},
        }},
    })
    t = c.terms(" Commercial ")
    assert t.conversion_factor == Decimal("60.25")
    assert t.neuraxial_labor_codes == ("01967", "01968")
    assert dict(t.status_policy) == {"N": "deny:96", "I": "gap_fill", "C": "by_report",
                                     "E": "bundled:97"}
    assert c.source is None


def test_codes_are_normalised(tmp_path):
    c = Contract.from_toml(write_contract(tmp_path, '''
name = "x"
[lob.commercial]
by_report_codes = [" j3490 ", "J3490", "e1399"]
carve_outs = [{ hcpcs = "a0425", percent_of_charges = "0.8" }]
'''))
    t = c.terms("commercial")
    assert t.by_report_codes == ("J3490", "E1399")
    assert t.carve_outs[0].hcpcs == "A0425"


def test_missing_contract_file(tmp_path):
    with pytest.raises(ContractError, match="nope.toml.*not found"):
        Contract.from_toml(tmp_path / "nope.toml")


def test_invalid_toml_names_file(tmp_path):
    e = refused(tmp_path, 'name = "x"\n[lob.commercial\n')
    assert "not valid TOML" in str(e)


# --------------------------------------------------------------------------------------------
# Refused values and keys: every message names the key path


BAD_LOB_VALUES = [
    ("conversion_factor = \"abc\"", "lob.commercial.conversion_factor"),
    ("conversion_factor = -1", "lob.commercial.conversion_factor"),
    ("conversion_factor = 58.00001", "lob.commercial.conversion_factor"),
    ("conversion_factor = \"58.00001\"", "lob.commercial.conversion_factor"),
    ("conversion_factor = true", "lob.commercial.conversion_factor"),
    ("conversion_factor = 5800000", "lob.commercial.conversion_factor"),
    ("conversion_factor = \"nan\"", "lob.commercial.conversion_factor"),
    ("conversion_factor = inf", "lob.commercial.conversion_factor"),
    ("conversion_factor = [58]", "lob.commercial.conversion_factor"),
    ("rounding = \"rvu\"", "lob.commercial.rounding"),
    ("rounding = 2", "lob.commercial.rounding"),
    ("percent_of_charges = 0.12345", "lob.commercial.percent_of_charges"),
    ("percent_of_charges = -0.1", "lob.commercial.percent_of_charges"),
    ("percent_of_charges = 11", "lob.commercial.percent_of_charges"),
    ("percent_of_charges = \"cms\"", "lob.commercial.percent_of_charges"),
    ("anesthesia_conversion_factor = \"cmsx\"", "lob.commercial.anesthesia_conversion_factor"),
    ("anesthesia_conversion_factor = 62.123456", "lob.commercial.anesthesia_conversion_factor"),
    ("anesthesia_time_units_per_hour = 0", "lob.commercial.anesthesia_time_units_per_hour"),
    ("anesthesia_time_units_per_hour = 4.5", "lob.commercial.anesthesia_time_units_per_hour"),
    ("anesthesia_time_units_per_hour = true", "lob.commercial.anesthesia_time_units_per_hour"),
    ("anesthesia_time_units_per_hour = \"5\"", "lob.commercial.anesthesia_time_units_per_hour"),
    ("neuraxial_labor_codes = \"01967\"", "lob.commercial.neuraxial_labor_codes"),
    ("neuraxial_labor_codes = [\"1967\"]", "lob.commercial.neuraxial_labor_codes[0]"),
    ("neuraxial_labor_codes = [\"01967\", 1967]", "lob.commercial.neuraxial_labor_codes[1]"),
    ("anesthesia_no_time_units_codes = [\"0199-\"]",
     "lob.commercial.anesthesia_no_time_units_codes[0]"),
    ("drug_percent_of_asp_limit = \"1.00001\"", "lob.commercial.drug_percent_of_asp_limit"),
    ("drug_percent_of_asp_limit = -1", "lob.commercial.drug_percent_of_asp_limit"),
    ("require_ndc_for_drugs = 1", "lob.commercial.require_ndc_for_drugs"),
    ("require_ndc_for_drugs = \"yes\"", "lob.commercial.require_ndc_for_drugs"),
    ("timely_filing_days = true", "lob.commercial.timely_filing_days"),
    ("timely_filing_days = 0", "lob.commercial.timely_filing_days"),
    ("timely_filing_days = 365.0", "lob.commercial.timely_filing_days"),
    ("gap_fill = 5", "lob.commercial.gap_fill"),
    ("gap_fill = \"\"", "lob.commercial.gap_fill"),
    ("gap_fill = \"missing.csv\"", "lob.commercial.gap_fill"),
    ("by_report_codes = [\"J34901\"]", "lob.commercial.by_report_codes[0]"),
    ("by_report_codes = \"J3490\"", "lob.commercial.by_report_codes"),
    ("physical_status_units = { P7 = 1 }", "lob.commercial.physical_status_units.P7"),
    ("physical_status_units = { P3 = true }", "lob.commercial.physical_status_units.P3"),
    ("physical_status_units = { P3 = -1 }", "lob.commercial.physical_status_units.P3"),
    ("physical_status_units = { P3 = 1.5 }", "lob.commercial.physical_status_units.P3"),
    ("physical_status_units = [1, 2]", "lob.commercial.physical_status_units"),
    ("carve_outs = [{ hcpcs = \"99385\" }]", "lob.commercial.carve_outs[0]"),
    ("carve_outs = [{ hcpcs = \"99385\", fee = 1, percent_of_charges = 0.5 }]",
     "lob.commercial.carve_outs[0]"),
    ("carve_outs = [{ hcpcs = \"99385\", fee = 150.001 }]", "lob.commercial.carve_outs[0].fee"),
    ("carve_outs = [{ hcpcs = \"99385\", fee = -150 }]", "lob.commercial.carve_outs[0].fee"),
    ("carve_outs = [{ hcpcs = \"99385\", percent_of_charges = 0.80001 }]",
     "lob.commercial.carve_outs[0].percent_of_charges"),
    ("carve_outs = [{ hcpcs = \"99385\", fee = 150, note = \"x\" }]",
     "lob.commercial.carve_outs[0].note"),
    ("carve_outs = [{ fee = 150 }]", "lob.commercial.carve_outs[0].hcpcs"),
    ("carve_outs = [{ hcpcs = \"9938\", fee = 150 }]", "lob.commercial.carve_outs[0].hcpcs"),
    ("carve_outs = [{ hcpcs = \"99385\", fee = 1 }, { hcpcs = \"99385\", fee = 2 }]",
     "lob.commercial.carve_outs[1].hcpcs"),
    ("carve_outs = [\"99385\"]", "lob.commercial.carve_outs[0]"),
    ("carve_outs = { hcpcs = \"99385\", fee = 1 }", "lob.commercial.carve_outs"),
    ("status_policy = { Z = \"rbrvs\" }", "lob.commercial.status_policy.Z"),
    ("status_policy = { N = \"price\" }", "lob.commercial.status_policy.N"),
    ("status_policy = { N = \"deny:\" }", "lob.commercial.status_policy.N"),
    ("status_policy = { N = \"deny:abcd\" }", "lob.commercial.status_policy.N"),
    ("status_policy = { N = 96 }", "lob.commercial.status_policy.N"),
    ("conversion_factr = 58", "lob.commercial.conversion_factr"),
]


@pytest.mark.parametrize("line, key_path", BAD_LOB_VALUES)
def test_bad_lob_value_refused_naming_key(tmp_path, line, key_path):
    e = refused(tmp_path, f'name = "x"\n[lob.commercial]\n{line}\n')
    assert len(e.problems) == 1, e.problems
    assert e.problems[0].startswith(key_path + ":"), e.problems


BAD_TOP_LEVEL = [
    ('name = "x"\ncolour = "blue"\n', "colour"),
    ('name = "x"\n[commercial]\nconversion_factor = 58\n', "commercial"),
    ('name = "x"\n[lob.tricare]\nconversion_factor = 58\n', "lob.tricare"),
    ('default_locality = "02402-99"\n', "name"),
    ('name = 5\n', "name"),
    ('name = " "\n', "name"),
    ('name = "x"\ndefault_locality = "2402-99"\n', "default_locality"),
    ('name = "x"\ndefault_locality = 240299\n', "default_locality"),
    ('name = "x"\nillustrative = "yes"\n', "illustrative"),
    ('name = "x"\nlob = 5\n', "lob"),
    ('name = "x"\nlob = { commercial = 5 }\n', "lob.commercial"),
]


@pytest.mark.parametrize("text, key_path", BAD_TOP_LEVEL)
def test_bad_top_level_refused_naming_key(tmp_path, text, key_path):
    e = refused(tmp_path, text)
    assert len(e.problems) == 1, e.problems
    assert e.problems[0].startswith(key_path + ":"), e.problems


def test_unknown_keys_get_a_suggestion(tmp_path):
    e = refused(tmp_path, 'name = "x"\n[commercial]\n[lob.commercial]\nrouding = "cms"\n')
    message = str(e)
    assert "did you mean [lob.commercial]?" in message
    assert "did you mean 'rounding'?" in message


def test_all_problems_in_one_message(tmp_path):
    e = refused(tmp_path, '''
default_locality = "Seattle"
[lob.commercial]
conversion_factor = "58.00001"
rounding = "round"
[lob.medicare]
percent_of_charges = -0.4
bogus = 1
''')
    assert len(e.problems) == 6
    message = str(e)
    assert "6 problems" in message
    for path in ("name:", "default_locality:", "lob.commercial.conversion_factor:",
                 "lob.commercial.rounding:", "lob.medicare.percent_of_charges:",
                 "lob.medicare.bogus:"):
        assert path in message


# --------------------------------------------------------------------------------------------
# Exact money


@pytest.mark.parametrize("written", ["58.015", '"58.015"', '" 58.015 "', "5.8015e1"])
def test_conversion_factor_is_exact(tmp_path, written):
    c = Contract.from_toml(write_contract(
        tmp_path, f'name = "x"\n[lob.commercial]\nconversion_factor = {written}\n'))
    assert c.terms("commercial").conversion_factor == Decimal("58.015")


@pytest.mark.parametrize("written", ["1.005", '"1.005"', "1.0050"])
def test_fractions_are_exact(tmp_path, written):
    # 1.005 is the classic float stored below itself: it must stay 1.005 exactly.
    c = Contract.from_toml(write_contract(
        tmp_path, f'name = "x"\n[lob.commercial]\npercent_of_charges = {written}\n'))
    assert c.terms("commercial").percent_of_charges == Decimal("1.005")


@pytest.mark.parametrize("written", ["1.1", '"1.10"', "110e-2"])
def test_carve_out_fee_is_exact(tmp_path, written):
    c = Contract.from_toml(write_contract(tmp_path, f'''
name = "x"
[lob.commercial]
carve_outs = [{{ hcpcs = "99385", fee = {written} }}]
'''))
    assert c.terms("commercial").carve_outs[0].fee == Decimal("1.10")


def test_values_are_stored_at_their_unit_scale(tmp_path):
    c = Contract.from_toml(write_contract(tmp_path, '''
name = "x"
[lob.commercial]
conversion_factor = 58
percent_of_charges = 0.5
carve_outs = [{ hcpcs = "99385", fee = 150 }]
'''))
    t = c.terms("commercial")
    assert str(t.conversion_factor) == "58.0000"
    assert str(t.percent_of_charges) == "0.5000"
    assert str(t.carve_outs[0].fee) == "150.00"


@pytest.mark.parametrize("key", ["conversion_factor", "anesthesia_conversion_factor",
                                 "percent_of_charges", "drug_percent_of_asp_limit"])
@pytest.mark.parametrize("written", ["0.12345", '"0.12345"'])
def test_five_decimals_refused(tmp_path, key, written):
    e = refused(tmp_path, f'name = "x"\n[lob.medicaid]\n{key} = {written}\n')
    assert e.problems[0].startswith(f"lob.medicaid.{key}:")
    assert "more than 4 decimal places" in e.problems[0]


# --------------------------------------------------------------------------------------------
# Gap-fill tables


def test_gap_fill_fee_and_rvu_rows(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text(
        "\ufeffHCPCS, Modifier ,effective_from,effective_to,fee,work_rvu,pe_rvu_nonfacility,"
        "pe_rvu_facility,mp_rvu,description\r\n"
        "s9083,,2025-01-01,,135.5,,,,,urgent care\r\n"
        "\r\n"
        "0521T,tc,2025-01-01,2025-06-30,,0,1.60,0.35,0.01,\r\n"
    )
    g = load_gap_fill(path)
    assert dict(g.schema) == GAP_FILL_SCHEMA
    assert g.to_dicts() == [
        {"hcpcs": "S9083", "modifier": "", "effective_from": dt.date(2025, 1, 1),
         "effective_to": None, "fee": 13550, "work_rvu": None, "pe_rvu_nonfacility": None,
         "pe_rvu_facility": None, "mp_rvu": None, "source_row": 1},
        {"hcpcs": "0521T", "modifier": "TC", "effective_from": dt.date(2025, 1, 1),
         "effective_to": dt.date(2025, 6, 30), "fee": None, "work_rvu": 0,
         "pe_rvu_nonfacility": 160, "pe_rvu_facility": 35, "mp_rvu": 1, "source_row": 2},
    ]


def test_gap_fill_fee_only_file(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("hcpcs,effective_from,fee\nT1015,2025-01-01,95\n")
    g = load_gap_fill(path)
    assert g["fee"].to_list() == [9500]
    assert g["modifier"].to_list() == [""]
    assert g["work_rvu"].to_list() == [None]


def test_gap_fill_parquet(tmp_path):
    # Typed columns: floats read through repr (like TOML floats), dates as dates.
    pl.DataFrame({
        "hcpcs": ["S9083", "0101T"],
        "effective_from": [dt.date(2025, 1, 1), dt.date(2025, 1, 1)],
        "fee": [135.1, None],
        "work_rvu": [None, 4.5],
        "pe_rvu_nonfacility": [None, 3.1],
        "pe_rvu_facility": [None, 2.05],
        "mp_rvu": [None, 0.3],
    }).write_parquet(tmp_path / "g.parquet")
    g = load_gap_fill(tmp_path / "g.parquet")
    assert g["fee"].to_list() == [13510, None]
    assert g["pe_rvu_facility"].to_list() == [None, 205]
    assert g["effective_to"].to_list() == [None, None]


BAD_ROWS = [
    ("S908,,2025-01-01,,135.00,,,,", "hcpcs"),
    ("S9083,2,2025-01-01,,135.00,,,,", "modifier"),
    ("S9083,,03/15/2025,,135.00,,,,", "effective_from"),
    ("S9083,,,,135.00,,,,", "effective_from"),
    ("S9083,,2025-02-30,,135.00,,,,", "effective_from"),
    ("S9083,,2025-01-01,2024-12-31,135.00,,,,", "effective_to"),
    ("S9083,,2025-01-01,someday,135.00,,,,", "effective_to"),
    ("S9083,,2025-01-01,,135.001,,,,", "fee"),
    ("S9083,,2025-01-01,,-135.00,,,,", "fee"),
    ("S9083,,2025-01-01,,$135,,,,", "fee"),
    ("S9083,,2025-01-01,,\"1,350.00\",,,,", "fee"),
    ("S9083,,2025-01-01,,135.00,1.00,1.00,1.00,1.00", "fee"),
    ("S9083,,2025-01-01,,,,,,", "fee"),
    ("S9083,,2025-01-01,,,1.00,1.00,,1.00", "pe_rvu_facility"),
    ("S9083,,2025-01-01,,,1.001,1.00,1.00,1.00", "work_rvu"),
    ("S9083,,2025-01-01,,,1.00,abc,1.00,1.00", "pe_rvu_nonfacility"),
    ("S9083,,2025-01-01,,,1.00,1.00,1.00,-0.01", "mp_rvu"),
    ("S9083,,2025-01-01,,135.00,,,,,extra", "-"),
]


@pytest.mark.parametrize("row, column", BAD_ROWS)
def test_gap_fill_bad_row_refused(tmp_path, row, column):
    text = f'name = "x"\n[lob.commercial]\ngap_fill = "gap_fill.csv"\n'
    csv = HEADER + "T1015,,2025-01-01,,95.00,,,,\n" + row + "\n"
    e = refused(tmp_path, text, csv)
    assert len(e.problems) == 1, e.problems
    p = e.problems[0]
    assert p.startswith("lob.commercial.gap_fill: gap_fill.csv row 2 (line 3), column "
                        f"{column}:"), p


def test_gap_fill_duplicate_rows_refused(tmp_path):
    text = 'name = "x"\n[lob.commercial]\ngap_fill = "gap_fill.csv"\n'
    csv = HEADER + "T1015,,2025-01-01,,95.00,,,,\nt1015,,2025-01-01,2025-06-30,96.00,,,,\n"
    e = refused(tmp_path, text, csv)
    assert "row 2" in str(e) and "already given in row 1" in str(e)


@pytest.mark.parametrize("header, what", [
    ("hcpcs,effective_from,fee,price\n", "column 'price': unknown column"),
    ("hcpcs,fee\n", "column 'effective_from': missing"),
    ("effective_from,fee\n", "column 'hcpcs': missing"),
    ("hcpcs,effective_from\n", "need 'fee' or all of"),
    ("hcpcs,effective_from,work_rvu,mp_rvu\n", "RVU columns need all four"),
    ("hcpcs,effective_from,fee,fee\n", "column 'fee': appears more than once"),
])
def test_gap_fill_bad_header_refused(tmp_path, header, what):
    e = refused(tmp_path, 'name = "x"\n[lob.commercial]\ngap_fill = "gap_fill.csv"\n', header)
    assert what in str(e)
    assert "lob.commercial.gap_fill" in str(e) and "gap_fill.csv" in str(e)


def test_gap_fill_all_bad_rows_reported_once(tmp_path):
    # One file used by two LOBs: its row problems are listed once, the second LOB points back.
    text = ('name = "x"\n[lob.commercial]\ngap_fill = "gap_fill.csv"\n'
            '[lob.other]\ngap_fill = "gap_fill.csv"\n')
    csv = HEADER + "S908,,2025-01-01,,1,,,,\nS9083,,2025-01-01,,1.001,,,,\n"
    e = refused(tmp_path, text, csv)
    assert len(e.problems) == 3
    assert "row 1 (line 2), column hcpcs" in e.problems[0]
    assert "row 2 (line 3), column fee" in e.problems[1]
    assert e.problems[2].startswith("lob.other.gap_fill: gap_fill.csv refused")


def test_gap_fill_many_bad_rows_capped(tmp_path):
    csv = HEADER + "".join(f"B{i},,2025-01-01,,1,,,,\n" for i in range(30))
    e = refused(tmp_path, 'name = "x"\n[lob.commercial]\ngap_fill = "gap_fill.csv"\n', csv)
    assert len(e.problems) == 21
    assert "10 more bad rows" in e.problems[-1]


def test_gap_fill_missing_file_is_clear(tmp_path):
    e = refused(tmp_path, 'name = "x"\n[lob.commercial]\ngap_fill = "tables/gf.csv"\n')
    assert e.problems[0].startswith("lob.commercial.gap_fill: file not found:")
    assert str(tmp_path / "tables" / "gf.csv") in e.problems[0]


def test_gap_fill_relative_to_contract_file(tmp_path, monkeypatch):
    sub = tmp_path / "contracts"
    sub.mkdir()
    write_contract(sub, 'name = "x"\n[lob.medicaid]\ngap_fill = "gap_fill.csv"\n', GAP_FILL_CSV)
    monkeypatch.chdir(tmp_path)  # not the contract's folder
    c = Contract.from_toml("contracts/contract.toml")
    assert c.terms("medicaid").gap_fill.height == 3


# --------------------------------------------------------------------------------------------
# Hash, equality, what-if


def test_sha256_stable_and_independent_of_spelling(tmp_path):
    a = default_contract()
    assert a.sha256() == default_contract().sha256()
    assert len(a.sha256()) == 64
    one = tmp_path / "one"
    two = tmp_path / "two"
    one.mkdir()
    two.mkdir()
    c1 = Contract.from_toml(write_contract(one, '''
name = "first name"
[lob.commercial]
conversion_factor = 58
rounding = "rvu_2dp"
carve_outs = [{ hcpcs = "99385", fee = 150 }]
'''))
    c2 = Contract.from_toml(write_contract(two, '''
name = "another name"
[lob.commercial]
rounding = "RVU_2DP"
carve_outs = [{ hcpcs = "99385", fee = "150.00" }]
conversion_factor = "58.0"
'''))
    assert c1.sha256() == c2.sha256()


def test_sha256_changes_with_any_term(tmp_path):
    base = default_contract()
    changed = [
        base.replace_lob("commercial", conversion_factor="58.01"),
        base.replace_lob("medicare_cost", timely_filing_days=90),
        base.replace_lob("medicaid", status_policy={"N": "deny:96"}),
        base.replace_lob("other", carve_outs=[]),
        dataclasses.replace(base, default_locality="02402-02"),
    ]
    digests = {base.sha256()} | {c.sha256() for c in changed}
    assert len(digests) == len(changed) + 1


def test_sha256_covers_gap_fill_rows(tmp_path):
    text = 'name = "x"\n[lob.commercial]\ngap_fill = "gap_fill.csv"\n'
    first = Contract.from_toml(write_contract(tmp_path, text, GAP_FILL_CSV)).sha256()
    second = Contract.from_toml(
        write_contract(tmp_path, text, GAP_FILL_CSV.replace("135.00", "135.01"))).sha256()
    assert first != second


def test_replace_lob(tmp_path):
    base = default_contract()
    what_if = base.replace_lob("commercial", conversion_factor=60.5, rounding="cms",
                               physical_status_units={"P4": 3})
    t = what_if.terms("commercial")
    assert t.conversion_factor == Decimal("60.5")
    assert t.rounding == "cms"
    assert dict(t.physical_status_units) == {"P4": 3}
    # Untouched terms, the loaded gap fill and the other LOBs stay as they were.
    assert t.gap_fill.equals(base.terms("commercial").gap_fill)
    assert t.gap_fill_source == "gap_fill_illustrative.csv"
    assert t.carve_outs == base.terms("commercial").carve_outs
    assert what_if.terms("other") == base.terms("other")
    assert what_if.name == base.name and what_if.source == base.source
    # The original is not changed.
    assert base.terms("commercial").conversion_factor == Decimal("58")
    assert what_if != base


def test_replace_lob_gap_fill(tmp_path):
    base = default_contract()
    assert base.replace_lob("commercial", gap_fill=None).terms("commercial").gap_fill is None
    path = tmp_path / "gf.csv"
    path.write_text(GAP_FILL_CSV)
    t = base.replace_lob("medicare", gap_fill=str(path)).terms("medicare")
    assert t.gap_fill.height == 3 and t.gap_fill_source == str(path)


@pytest.mark.parametrize("changes, key_path", [
    ({"conversion_factor": "58.00001"}, "lob.medicaid.conversion_factor"),
    ({"rounding": "nearest"}, "lob.medicaid.rounding"),
    ({"timely_filing_days": True}, "lob.medicaid.timely_filing_days"),
    ({"carve_outs": [{"hcpcs": "99385"}]}, "lob.medicaid.carve_outs[0]"),
    ({"cf": 58}, "lob.medicaid.cf"),
    ({"gap_fill": "no_such_file.csv"}, "lob.medicaid.gap_fill"),
])
def test_replace_lob_validates(changes, key_path):
    with pytest.raises(ContractError) as info:
        default_contract().replace_lob("medicaid", **changes)
    assert info.value.problems[0].startswith(key_path + ":")


def test_unknown_lob_refused():
    c = default_contract()
    with pytest.raises(ContractError, match="tricare"):
        c.terms("tricare")
    with pytest.raises(ContractError, match="tricare"):
        c.replace_lob("tricare", conversion_factor=1)


def test_contract_is_immutable_and_picklable():
    c = default_contract()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.name = "other"
    with pytest.raises(TypeError):
        c.terms("commercial").physical_status_units["P6"] = 9
    with pytest.raises(TypeError):
        c.lobs["commercial"] = None
    again = pickle.loads(pickle.dumps(c))
    assert again == c and again.sha256() == c.sha256()
    assert hash(again) == hash(c)


def test_contract_needs_all_lobs():
    terms = default_contract().terms("commercial")
    with pytest.raises(ContractError, match="lob.medicare: missing"):
        Contract(name="x", default_locality="02402-99", lobs={"commercial": terms})


def test_docs_full_example_loads(tmp_path):
    # docs/contract.md's last TOML block is the full example: it must stay a valid contract.
    doc = (Path(__file__).parent.parent / "docs" / "contract.md").read_text()
    example = doc.split("```toml\n")[-1].split("```")[0]
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "gap_fill_2025.csv").write_text(GAP_FILL_CSV)
    c = Contract.from_toml(write_contract(tmp_path, example))
    assert c.terms("commercial").percent_of_charges == Decimal("0.4725")
    assert c.terms("medicaid").conversion_factor == Decimal("45")
    assert c.terms("other") == Contract.from_dict({"name": "d"}).terms("other")
