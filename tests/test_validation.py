"""Bad input never vanishes (rule book §4): refused files, rejected lines, balance."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

import pricer
from hypothesis import given, settings
from hypothesis import strategies as st
from conftest import claim_lines
from pricer.claims import InputError


def test_missing_columns_named_together(schedules, contract):
    frame = claim_lines({"hcpcs": "99213"}).drop("units", "billed_charge")
    with pytest.raises(InputError) as err:
        pricer.price(frame, contract, schedules)
    assert "'units'" in str(err.value) and "'billed_charge'" in str(err.value)


def test_wrong_type_refused(schedules, contract):
    frame = claim_lines({"hcpcs": "99213"}).with_columns(pl.lit(True).alias("date_of_service"))
    with pytest.raises(InputError, match="date_of_service"):
        pricer.price(frame, contract, schedules)


CSV = """claim_id,line_number,member_id,line_of_business,date_of_service,hcpcs,units,billed_charge,place_of_service,received_date,locality,modifier_1
A,1,123,commercial,2025-03-01,99213,1,150.00,11,2025-03-10,02402-02,
A,2,123,commercial,2025-03-01,99213,1.5,150.00,11,2025-03-10,02402-02,
A,3,123,commercial,03/15/2025,99213,1,150.00,11,2025-03-10,02402-02,
A,4,123,commercial,2025-03-01,9921,1,150.00,11,2025-03-10,02402-02,
A,5,123,commercial,2025-03-01,99213,0,150.00,11,2025-03-10,02402-02,
A,6,123,commercial,2025-03-01,99213,1,-5.00,11,2025-03-10,02402-02,
A,7,123,commercial,2025-03-20,99213,1,150.00,11,2025-03-10,02402-02,
A,8,123,commercial,2025-03-01,99213,1,150.00,00,2025-03-10,02402-02,
A,9,123,dental,2025-03-01,99213,1,150.00,11,2025-03-10,02402-02,
A,10,ABC123,commercial,2025-03-01,99213,1,150.00,11,2025-03-10,02402-02,
A,11,123,commercial,2025-03-01,99213,1,150.005,11,2025-03-10,02402-02,
A,12,123,commercial,2025-03-01,99213,1,150.00,11,2025-03-10,99999-99,
A,13,123,commercial,2025-03-01,00840,2000,150.00,21,2025-03-10,02402-02,AA
A,14,123,commercial,2025-03-01,,1,150.00,11,2025-03-10,02402-02,
A,15,123,Commercial,2025-03-01, 99213 ,2.0,150.00,2,2025-03-10,02402-02,
A,16,123456789,commercial,2025-03-01,99213,1,150.00,11,2025-03-10,02402-02,
"""

EXPECTED = [None, "units_not_whole", "date_of_service_invalid", "hcpcs_invalid", "units_below_one",
            "billed_charge_negative", "dos_after_received", "place_of_service_invalid",
            "line_of_business_unknown", "member_id_invalid", "billed_charge_fraction_of_cent",
            "locality_invalid", "anesthesia_minutes_implausible", "hcpcs_missing", None,
            "member_id_invalid"]


def test_csv_bad_values_reject_only_their_line(tmp_path, schedules, contract):
    path = tmp_path / "claims.csv"
    path.write_text(CSV)
    result = pricer.price(path, contract, schedules)
    lines = result.lines
    assert lines.height == len(EXPECTED)  # rows out = rows in, in order
    assert lines["line_number"].to_list() == [str(i) for i in range(1, 17)]
    assert lines["reason"].cast(str).to_list() == EXPECTED
    status = lines["line_status"].cast(str).to_list()
    assert [s == "rejected" for s in status] == [e is not None for e in EXPECTED]
    # normalised values price like clean ones: ' 99213 ', units 2.0, POS 2 (telehealth, facility)
    assert lines["pricing_method"][14] == "rbrvs"
    assert lines["member_id"][0] == "00000123"
    # rejected: allowed 0, CO-16 for the billed charge
    rej = result.adjustments.filter(pl.col("step") == "rejection")
    assert set(rej["carc"].to_list()) == {16}
    assert (lines.filter(pl.col("line_status") == "rejected")["allowed_amount"] == 0).all()


def test_every_line_balances(schedules, contract):
    from pricer.synth import synth_claims
    claims = synth_claims(5_000, seed=7, invalid_share=0.05)
    result = pricer.price(claims, contract, schedules)
    lines = result.lines.with_row_index("line_index")
    adj = result.adjustments.group_by("line_index").agg(pl.col("amount").sum().alias("adj"))
    joined = lines.join(adj, on="line_index", how="left").with_columns(pl.col("adj").fill_null(0))
    assert joined.height == claims.height
    valid_billed = joined.filter(pl.col("billed_charge").is_not_null())
    bad = valid_billed.filter(pl.col("billed_charge") != pl.col("paid_amount") + pl.col("adj"))
    assert bad.height == 0
    assert (lines["paid_amount"] >= 0).all()
    assert (lines["member_liability"] <= lines["allowed_amount"]).all()


NUMBER_TEXTS = ["150.00", "150", "150.5", "150.", ".5", "+.5", "+12.34", "-12.34", "-0.5", "0",
                "-0", "0.001", "1.230", "12.345", "1.000000", "1.0000001", " 42.10 ", "\t7\r\n",
                "\x0b\x0c9.99", "\x1c5", "", "   ", None, "1e3", "1,000.00", "$5", "12a",
                "1 2", "1..2", "--1", "+-1", "123456789012345", "1234567890123456",
                "123456789012345.99", "000000000000007.50", "2.5", "3.0", "10", "-3"]


def _text_column(values, large=True):
    import pyarrow as pa
    return pa.chunked_array([pa.array(values[:7], pa.large_string() if large else pa.string()),
                             pa.array(values[7:], pa.large_string() if large else pa.string())])


@given(st.lists(st.one_of(st.none(), st.text(alphabet="0123456789+-. \t\r\x0b\x1cae",
                                              max_size=20),
                          st.from_regex(r"\A[+-]?[0-9]{1,17}(\.[0-9]{0,5})?\Z")), max_size=60))
@settings(max_examples=300, deadline=None)
def test_text_numbers_compiled_pass_matches_polars_rules(values):
    """Money and units written as text (CSV) are read by one compiled pass over ASCII text and
    by polars expressions otherwise: both give the same value and state on any text."""
    import numpy as np

    from pricer.claims import _series, _text_cents_polars, _text_numbers, _text_units_polars
    values = NUMBER_TEXTS + values
    for large in (True, False):
        col = _text_column(values, large)
        for units, slow in ((False, _text_cents_polars), (True, _text_units_polars)):
            fast_values, fast_state = _text_numbers(col, len(values), units)
            want_values, want_state = slow(_series(col))
            assert np.array_equal(fast_state, want_state), (units, values)
            assert np.array_equal(fast_values, want_values), (units, values)


def test_text_numbers_read_as_the_rule_book_says():
    from pricer.claims import money_cents, units_values
    col = _text_column(NUMBER_TEXTS)
    cents, state = money_cents(col, len(NUMBER_TEXTS))
    got = dict(zip(NUMBER_TEXTS, zip(cents.tolist(), state.tolist())))
    assert got["150.5"] == (15050, 0) and got["-0.5"] == (-50, 0) and got["150."] == (15000, 0)
    assert got["0.001"] == (0, 3) and got["1.230"] == (123, 0) and got["12.345"] == (1234, 3)
    assert got[" 42.10 "] == (4210, 0) and got[None] == (0, 1) and got["   "] == (0, 1)
    assert got["1,000.00"] == (0, 2) and got["$5"] == (0, 2) and got[".5"] == (0, 2)
    assert got["1234567890123456"] == (0, 2)  # more than 15 digits: not a number
    units, ustate = units_values(col, len(NUMBER_TEXTS))
    got = dict(zip(NUMBER_TEXTS, zip(units.tolist(), ustate.tolist())))
    assert got["10"] == (10, 0) and got["3.0"] == (3, 0) and got["2.5"] == (0, 5)
    assert got["0"] == (0, 4) and got["-3"] == (0, 4) and got["-0.5"] == (0, 4)
    # a non-ASCII value: the polars path, same rules (NO-BREAK SPACE is a Unicode blank)
    cents, state = money_cents(_text_column(["\u00a012.50", "3"]), 2)
    assert cents.tolist() == [1250, 300] and state.tolist() == [0, 0]


def test_member_ids_compiled_pass_matches_arrow_text_rules():
    """Member IDs of an ASCII dictionary are read by one compiled pass; any other dictionary
    by Arrow's Unicode text functions. Both give the same state, number and normalised text
    (§4: 1-8 digits once trimmed, zero-filled to 8; anything else kept as given)."""
    import pyarrow as pa

    from pricer.claims import _member_values
    ascii_values = ["1", "00000001", "12345678", "123456789", " 42 ", "\t7\x1c\r", "", "   ",
                    None, "12a", "-1", "+1", "1 2", "99999999", "0", "1.0", "0012345", "x"]
    compiled = _member_values(pa.array(ascii_values, pa.string()))
    # a non-ASCII value sends the whole dictionary through Arrow
    arrow = _member_values(pa.array(ascii_values + ["\u00a012"], pa.string()))
    for i, v in enumerate(ascii_values):
        got = [compiled[0][i].as_py(), int(compiled[1][i]), int(compiled[2][i])]
        want = [arrow[0][i].as_py(), int(arrow[1][i]), int(arrow[2][i])]
        if want[1] == 1:  # blank or null: the line reads as missing, its text is not used
            got[0] = want[0] = None
        assert got == want, v
    assert [int(x) for x in compiled[1][:4]] == [0, 0, 0, 2]
    assert compiled[0][4].as_py() == "00000042" and int(compiled[2][4]) == 42
    assert arrow[0][18].as_py() == "00000012"  # NO-BREAK SPACE trimmed as Unicode space
    assert int(compiled[1][-1]) == 1 and int(compiled[2][-1]) == -1  # the null-line entry
